import pytest

from ftwidgets.hyperparams import BLOCKED, OK, WARNING, check_plan


def levels(plan, field):
    return [g.level for g in plan.guards if g.field == field]


def test_a_good_plan_passes():
    plan = check_plan(1200, n_epochs=3, learning_rate_multiplier=1.0, batch_size=8)
    assert not plan.blocked and [g.level for g in plan.guards] == [OK]


@pytest.mark.parametrize(
    "n,allow,level",
    [(5, True, BLOCKED), (30, False, BLOCKED), (30, True, WARNING), (300, False, WARNING), (800, False, None)],
)
def test_dataset_size(n, allow, level):
    got = levels(check_plan(n, n_epochs=3, allow_small=allow), "examples")
    assert got == ([level] if level else [])


@pytest.mark.parametrize(
    "epochs,override,level",
    [(3, False, None), (5, False, WARNING), (50, False, BLOCKED), (50, True, WARNING), (1, False, WARNING)],
)
def test_epochs(epochs, override, level):
    got = levels(check_plan(1000, n_epochs=epochs, allow_many_epochs=override), "n_epochs")
    assert got == ([level] if level else [])


def test_auto_epochs_preview_and_learning_rate():
    assert check_plan(10, allow_small=True).epochs == 10
    assert check_plan(1000).epochs == 3
    assert levels(check_plan(1000, learning_rate_multiplier=5), "learning_rate_multiplier") == [WARNING]
    assert levels(check_plan(1000, learning_rate_multiplier=0), "learning_rate_multiplier") == [BLOCKED]
    assert "memorise" in check_plan(1000, n_epochs=50).guards[0].message
