"""HyperparameterPanel: choose epochs, learning rate, batch size and base model, guarded by the rules.

The guard messages come from `ftwidgets.hyperparams`; Launch stays disabled while the
plan is blocked (a tiny dataset, 50 epochs without the explicit override), and
`launch_now()`, the button's action, refuses a blocked plan through the same
`ensure_launchable` gate that every launch passes. A launch callback may return a
widget (the job's monitor): the panel shows it below the button.

    panel = HyperparameterPanel(n_examples=960, example_tokens=[...])
    panel.on_launch(lambda settings: JobMonitor(client, launch_or_attach(client, train, valid, settings, state)))
    monitor = panel.launch_now()  # what clicking Launch does; raises PlanBlocked for a blocked plan
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from ..base_models import DEFAULT_BASE_MODEL, OPENAI_BASE_MODEL
from ..hyperparams import (
    HYPERPARAMETERS,
    check_plan,
    ensure_launchable,
    plan_for_job,
    supervised_method,
)
from ..job_options import ALLOW_MANY_EPOCHS_METADATA, ALLOW_SMALL_METADATA, EARLY_STOPPING_METADATA
from ..tokens import estimate_cost
from ._html import badge
from .snapshot import Snapshotted


class HyperparameterPanel(Snapshotted, w.VBox):
    def __init__(
        self,
        n_examples: int,
        *,
        example_tokens: Sequence[int] = (),
        base_models: Sequence[str] = (DEFAULT_BASE_MODEL,),
        price_model: str = OPENAI_BASE_MODEL,
        tokens_per_second: float | None = 130.0,
        early_stopping: bool = True,
    ):
        self.n_examples = n_examples
        self.example_tokens = list(example_tokens)
        self.price_model = price_model
        self.tokens_per_second = tokens_per_second
        self._callbacks: list[Callable[[dict[str, Any]], Any]] = []
        label = {"style": {"description_width": "9em"}}  # wide enough for every label: nothing cut off with an ellipsis
        whole = {"indent": False, "layout": w.Layout(width="auto")}
        self.auto_epochs = w.Checkbox(value=True, description='epochs "auto"', **whole)
        lo, hi = HYPERPARAMETERS["n_epochs"].bounds
        self.epochs = w.IntSlider(value=3, min=lo, max=hi, description="Epochs", disabled=True, **label)
        self.lr = w.FloatLogSlider(value=1.0, base=10, min=-2, max=1, step=0.05, description="LR multiplier", **label)
        self.batch_size = w.Dropdown(
            options=["auto", 1, 2, 4, 8, 16, 32], value="auto", description="Batch size", **label
        )
        self.seed = w.IntText(value=42, description="Seed", **label)
        self.suffix = w.Text(value="workbook", description="Suffix", **label)
        self.base_model = w.Dropdown(options=list(base_models), value=base_models[0], description="Base model", **label)
        self.allow_small = w.Checkbox(value=False, description="Override: allow 10-99 examples", **whole)
        self.allow_many_epochs = w.Checkbox(value=False, description="Override: allow more than 25 epochs", **whole)
        self.early_stopping = w.Checkbox(
            value=early_stopping,
            description="Stop when the validation loss stops improving (and keep the best model)",
            **whole,
        )
        self.guards = w.HTML()
        self.estimate = w.HTML()
        self.launch = w.Button(description="Launch", button_style="primary", icon="play")
        self.launch_message = w.HTML()
        self.launched = w.VBox()  # the launch callback's widget: the job's monitor
        for c in (self.auto_epochs, self.epochs, self.lr, self.batch_size, self.allow_small, self.allow_many_epochs):
            c.observe(lambda _: self._update(), names="value")
        self.launch.on_click(lambda _: self._click())
        super().__init__(
            [
                w.HBox([self.auto_epochs, self.epochs]),
                self.lr,
                self.batch_size,
                w.HBox([self.seed, self.suffix]),
                self.base_model,
                self.early_stopping,
                w.HBox([self.allow_small, self.allow_many_epochs]),
                self.guards,
                self.estimate,
                self.launch,
                self.launch_message,
                self.launched,
            ]
        )
        self._update()

    @property
    def plan(self):
        """The plan these settings would run, judged exactly as the launch gate judges it."""
        return plan_for_job(self.n_examples, self.settings)

    @property
    def settings(self) -> dict[str, Any]:
        """Keyword arguments for `client.fine_tuning.jobs.create` (files added by the caller)."""
        hp = {
            "n_epochs": "auto" if self.auto_epochs.value else self.epochs.value,
            "batch_size": self.batch_size.value,
            "learning_rate_multiplier": round(self.lr.value, 4),
        }
        out: dict[str, Any] = {
            "model": self.base_model.value,
            "seed": self.seed.value,
            "suffix": self.suffix.value or None,
            "method": supervised_method(hp),
        }
        metadata = {
            **(ALLOW_SMALL_METADATA if self.allow_small.value else {}),
            **(ALLOW_MANY_EPOCHS_METADATA if self.allow_many_epochs.value else {}),
            **(EARLY_STOPPING_METADATA if self.early_stopping.value else {}),
        }
        if metadata:
            out["metadata"] = metadata
        return out

    def on_launch(self, callback: Callable[[dict[str, Any]], Any]) -> None:
        self._callbacks.append(callback)

    def _update(self) -> None:
        self.epochs.disabled = self.auto_epochs.value
        plan = self.plan
        if self.auto_epochs.value:
            self.epochs.value = min(plan.epochs, self.epochs.max)
        self.guards.value = "".join(badge(g.level, g.message) for g in plan.guards)
        lines = [f'"auto" would pick {check_plan(self.n_examples).epochs} epochs for {self.n_examples:,} examples.']
        if self.example_tokens:
            cost = estimate_cost(self.example_tokens, model=self.price_model, epochs=plan.epochs)
            lines.append(f"On OpenAI: {cost}.")
            if self.tokens_per_second:
                minutes = cost.billable_tokens / self.tokens_per_second / 60
                lines.append(
                    f"On the embedded engine (CPU): about {minutes:,.0f} min at {self.tokens_per_second:.0f} tokens/s."
                )
        self.estimate.value = "<br>".join(lines)
        self.launch.disabled = plan.blocked

    def launch_now(self) -> Any:
        """Launch with the current settings (what the button does); returns the last callback's result.

        A blocked plan raises `PlanBlocked` with the guards' words and calls nothing.
        """
        settings = self.settings
        ensure_launchable(self.n_examples, settings)
        result = None
        for cb in self._callbacks:
            result = cb(settings)
        if isinstance(result, w.DOMWidget):
            self.launched.children = (result,)
        self.launch_message.value = badge("ok", "Launched: the job's monitor is below.") if result is not None else ""
        return result

    def _click(self) -> None:
        """The button: the refusal or the backend's error shown here, never a traceback in a log nobody reads."""
        try:
            self.launch_now()
        except Exception as exc:  # noqa: BLE001 - anything a launch raises is shown to the person who clicked
            self.launch_message.value = badge("blocked", str(exc))
