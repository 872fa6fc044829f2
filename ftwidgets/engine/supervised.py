"""A supervised job: examples of conversations, cross-entropy on the assistant's tokens only (``weight: 0``
honoured), token accuracy measured; the frozen layers' output stored once before the first step."""

from __future__ import annotations

from ..data.dataset import load_jsonl
from .chat import IGNORE, encode_example
from .training_run import TrainingRun, _evaluate, train_step


def _encoded(tok, path: str | None, max_len: int) -> list:
    """The examples of a JSONL file as (ids, labels), keeping only those with an assistant token to learn."""
    if not path:
        return []
    data = [encode_example(tok, ex["messages"], max_len) for ex in load_jsonl(path)]
    return [d for d in data if any(lab != IGNORE for lab in d[1])]


class SupervisedRun(TrainingRun):
    """A supervised (SFT) job: OpenAI's default method."""

    # the step metrics a checkpoint carries, and the result file's columns (step metric: column name)
    CHECKPOINT_METRICS = (
        "step",
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    )
    RESULT_COLUMNS = {
        "step": "step",
        "train_loss": "train_loss",
        "train_mean_token_accuracy": "train_accuracy",
        "valid_loss": "valid_loss",
        "valid_mean_token_accuracy": "valid_mean_token_accuracy",
    }

    UNIT = "examples"

    def _encode(self, path: str | None) -> list:
        """A data file as the trainer learns from it: (ids, labels) per example."""
        return _encoded(self.tok, path, self.spec.max_seq_len)

    @staticmethod
    def _length(item) -> int:
        """How long an example is, for batches of similar lengths."""
        return len(item[0])

    def _prepare(self) -> None:
        """What to compute from the starting model before the first step: for supervised jobs, the frozen
        layers' output for every example (`_store_frozen_output`)."""
        self._store_frozen_output([item[0] for item in self.train_data + self.valid_data])

    def _learn_from(self, batch: list) -> tuple[dict[str, float], int]:
        """Backpropagate one batch: its step metrics and the tokens it trained on."""
        loss, acc, n_tokens = train_step(
            self.model,
            batch,
            self.tok.pad_token_id,
            self.device.name,
            self.spec.max_batch_tokens,
            self.spec.labelled_logits,
            self.prefix,
            self.processes,
        )
        return {"train_loss": loss, "train_mean_token_accuracy": acc}, n_tokens

    def _measure(self, data: list, name: str) -> dict[str, float]:
        """The metrics of `data` under `name` ("valid" for the fixed sample, "full_valid" for the whole file)."""
        self.model.eval()
        loss, acc = _evaluate(
            self.model,
            data,
            self.spec.batch_size,
            self.tok.pad_token_id,
            self.device.name,
            self.spec.max_batch_tokens,
            self.spec.labelled_logits,
            self.prefix,
            self.processes,
        )
        self.model.train()
        return {f"{name}_loss": round(float(loss), 6), f"{name}_mean_token_accuracy": round(acc, 6)}
