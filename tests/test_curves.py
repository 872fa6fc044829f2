from ftwidgets.curves import overfitting, overfitting_from_events, pick_checkpoint


def test_synthetic_overfitting_history():
    steps = list(range(1, 11))
    train = [2.0, 1.6, 1.3, 1.0, 0.8, 0.6, 0.45, 0.3, 0.2, 0.1]
    valid = [2.0, 1.7, 1.45, 1.3, 1.25, 1.3, 1.4, 1.55, 1.7, 1.9]
    v = overfitting(steps, train, valid)
    assert v.overfitting and v.best_step == 5 and v.rise > 0.5 and "step 5" in v.message


def test_healthy_and_short_histories():
    v = overfitting([1, 2, 3, 4], [2.0, 1.5, 1.2, 1.0], [2.1, 1.7, 1.4, 1.3])
    assert not v.overfitting and v.best_step == 4
    assert not overfitting([1, 2], [2, 1], [2, 1]).overfitting
    noisy = overfitting([1, 2, 3, 4], [2.0, 1.5, 1.2, 1.0], [2.0, 1.5, 1.51, 1.52])  # a 1% wobble is not overfitting
    assert not noisy.overfitting


def test_from_events_and_checkpoint_choice():
    events = [{"type": "message", "data": None}] + [
        {"type": "metrics", "data": {"step": s, "train_loss": t, "valid_loss": v}}
        for s, t, v in [(3, 0.5, 1.2), (1, 2.0, 2.0), (2, 1.0, 1.0), (4, 0.2, 1.5)]
    ]
    v = overfitting_from_events(events)
    assert v.overfitting and v.best_step == 2
    ckpts = [{"step_number": 4, "metrics": {}}, {"step_number": 2, "metrics": {}}, {"step_number": 1, "metrics": {}}]
    assert pick_checkpoint(ckpts, v)["step_number"] == 2
    scored = [
        {"step_number": 4, "metrics": {"full_valid_loss": 1.5}},
        {"step_number": 2, "metrics": {"full_valid_loss": 0.9}},
    ]
    assert pick_checkpoint(scored, v)["step_number"] == 2
    assert pick_checkpoint([], v) is None
