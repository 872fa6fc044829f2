import pytest

from ftwidgets.widgets import HyperparameterPanel


def test_defaults_launch_with_auto_settings():
    panel = HyperparameterPanel(960, example_tokens=[120] * 960)
    launched = []
    panel.on_launch(launched.append)
    assert not panel.launch.disabled and panel.epochs.value == 3
    assert "auto" in panel.estimate.value and "$" in panel.estimate.value and "min" in panel.estimate.value
    panel.launch.click()
    assert launched[0]["method"]["supervised"]["hyperparameters"]["n_epochs"] == "auto"
    assert launched[0]["model"] == "smollm2-135m-instruct"
    assert launched[0]["metadata"] == {"early_stopping": "true"}  # on by default: the best model is kept
    assert "metadata" not in HyperparameterPanel(960, early_stopping=False).settings


def test_fifty_epochs_refused_without_override():
    panel = HyperparameterPanel(960)
    launched = []
    panel.on_launch(launched.append)
    panel.auto_epochs.value = False
    panel.epochs.value = 6
    assert "WARNING" in panel.guards.value and not panel.launch.disabled
    panel.epochs.value = 50
    assert "BLOCKED" in panel.guards.value and panel.launch.disabled
    panel.launch.click()
    panel._click()  # a click from code on the disabled button: refused, shown, nothing launched
    assert launched == []
    panel.allow_many_epochs.value = True
    assert not panel.launch.disabled
    panel.launch.click()
    assert launched[0]["method"]["supervised"]["hyperparameters"]["n_epochs"] == 50
    assert launched[0]["metadata"]["allow_many_epochs"] == "true"  # the override travels to the backend


def test_blocked_click_says_why_and_launch_now_raises():
    from ftwidgets.hyperparams import PlanBlocked

    panel = HyperparameterPanel(30)
    launched = []
    panel.on_launch(launched.append)
    panel.launch.click()
    assert "BLOCKED" in panel.launch_message.value and "under 100" in panel.launch_message.value
    with pytest.raises(PlanBlocked, match="under 100"):
        panel.launch_now()
    assert launched == []


def test_tiny_dataset_blocks_until_the_explicit_override():
    panel = HyperparameterPanel(30)
    assert panel.launch.disabled and "under 100" in panel.guards.value
    panel.allow_small.value = True
    assert not panel.launch.disabled
    assert panel.settings["metadata"] == {"allow_small_dataset": "true", "early_stopping": "true"}
    panel.lr.value = 5.0
    assert "high" in panel.guards.value
