"""The early-stopping rule: where a made-up curve stops, which step it keeps, and how a job asks for it."""

from collections.abc import Sequence

import pytest

from ftwidgets.early_stopping import DEFAULT_PATIENCE, EarlyStopping, stop_message
from ftwidgets.job_options import JobOptionError, job_options


def replay(steps: Sequence[int], losses: Sequence[float | None], patience: int = DEFAULT_PATIENCE) -> EarlyStopping:
    """The rule run over a finished curve (as the trainer runs it step by step): where it would have stopped, and the
    best step it would keep."""
    rule = EarlyStopping(patience)
    for step, loss in zip(steps, losses):
        if loss is not None and not rule.stopped:
            rule.update(step, loss)
    return rule


def test_a_made_up_curve_stops_after_patience_evaluations_without_improvement():
    steps = list(range(10, 310, 10))
    losses = [2.0, 1.2, 0.8, 0.6, 0.5, 0.45, 0.44, 0.445, 0.45, 0.46, 0.47, 0.48] + [0.5] * 18
    rule = EarlyStopping(patience=5)
    stopped_at = next(step for step, loss in zip(steps, losses) if (rule.update(step, loss), rule.stopped)[1])
    assert rule.best_step == 70 and rule.best_loss == 0.44
    assert stopped_at == 120  # five evaluations (80..120) without a 1% improvement
    assert "step 120 of 300" in stop_message(stopped_at, 300, rule) and "from step 70" in stop_message(
        stopped_at, 300, rule
    )


def test_noise_below_the_threshold_does_not_reset_the_wait_but_the_lowest_loss_is_kept():
    """Gains under 1% of perplexity never keep a job going, yet the model kept is the lowest loss seen: the kept
    model and the table that lists the losses never contradict each other."""
    rule = replay([1, 2, 3, 4, 5], [1.0, 0.999, 0.998, 0.997, 0.996], patience=3)
    assert rule.stopped and rule.waited == 3 and rule.best_step == 4 and rule.best_loss == 0.997


def test_a_loss_near_zero_stops_when_its_perplexity_stops_moving():
    """A task learned perfectly: the loss keeps halving, but the model no longer changes what it says."""
    steps = list(range(12, 200, 12))
    rule = replay(steps, [0.29, 0.21, 0.13, 0.05, 0.008, 0.004, 0.002, 0.001, 0.0005, 0.0003], patience=5)
    # 0.05 -> 0.008 (step 60) was the last 1% change in perplexity: five evaluations later it stops, at step 120,
    # keeping the lowest loss it saw, there
    assert rule.stopped and rule.best_step == 120
    assert replay([1, 2], [0.0016, 0.0009], patience=1).best_step == 2


def test_a_curve_lowest_at_its_last_step_keeps_that_step_and_did_not_stop_early():
    from ftwidgets.early_stopping import stopped_early

    rule = replay([20, 40, 60, 80, 96], [0.9, 0.5, 0.0074, 0.0060, 0.0042], patience=2)
    assert rule.best_step == 96 and rule.stopped  # out of patience exactly at the end of the plan ...
    assert not stopped_early(96, 96, rule)  # ... which stops nothing: the job ran to its end
    assert stopped_early(80, 96, replay([20, 40, 60, 80], [0.9, 0.5, 0.0074, 0.0070], patience=1))


def test_a_steadily_improving_curve_never_stops():
    rule = replay(list(range(20)), [1.0 * 0.95**i for i in range(20)], patience=2)
    assert not rule.stopped and rule.best_step == 19


def test_missing_points_are_skipped():
    assert replay([1, 2, 3], [None, 0.5, None]).best_step == 2


@pytest.mark.parametrize(
    "metadata, patience",
    [
        (None, None),
        ({}, None),
        ({"early_stopping": "false"}, None),
        ({"early_stopping": "true"}, DEFAULT_PATIENCE),
        ({"early_stopping": "True", "early_stopping_patience": "3"}, 3),
    ],
)
def test_how_a_job_asks_for_it(metadata, patience):
    assert job_options(metadata)["early_stopping_patience"] == patience


@pytest.mark.parametrize("bad", ["0", "-1", "three", "2.5", "100000"])
def test_a_bad_patience_is_refused_in_words(bad):
    with pytest.raises(JobOptionError, match="early_stopping_patience must be a whole number") as refused:
        job_options({"early_stopping": "true", "early_stopping_patience": bad})
    assert refused.value.key == "early_stopping_patience"


def test_the_record_read_back_from_events():
    from ftwidgets.early_stopping import StopRecord, stop_from_events

    events = [
        {"type": "message", "data": {"kept_step": 70}},
        {"type": "message", "data": {"stopped_at": 120, "total_steps": 300, "kept_step": 70}},
        {"type": "metrics", "data": {"step": 120, "train_loss": 0.3}},
    ]
    assert stop_from_events(events) == StopRecord(kept_step=70, stopped_at=120, total_steps=300)
    assert stop_from_events(events[2:]) is None
