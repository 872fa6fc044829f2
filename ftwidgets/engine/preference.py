"""Preference tuning (DPO): the loss, a preference pair as the trainer sees it, and the run of a DPO job.

The policy is a LoRA adapter: a new one on a base model, or a fine-tuned starting model's own adapter, trained on.
The reference is the starting model. The policy starts equal to it (a new LoRA adds zero, and dropout is 0), so
each pair's reference log-probabilities are one pass without gradients before the first step, kept with the pair:
no second model is held in memory, and the job fits the same plan and budget as a supervised one. With LoRA on the
top layers only (a starting model trained for two epochs or more), each answer's frozen lower layers run once, in
that reference pass, and are read back at every step and validation (`frozen_prefix`), as in a supervised job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..data import dataset
from .chat import IGNORE, encode_example
from .frozen_prefix import FrozenPrefix
from .training_run import TrainingRun, labelled_logits, micro_batches


@dataclass(frozen=True)
class Pair:
    """One preference record encoded: (ids, labels) of the prompt with each answer; labels on the answer only."""

    chosen: tuple[list[int], list[int]]
    rejected: tuple[list[int], list[int]]
    reference: tuple[float, float] | None = None  # the starting model's log-probabilities of each answer

    @property
    def width(self) -> int:
        return max(len(self.chosen[0]), len(self.rejected[0]))

    @property
    def tokens(self) -> int:
        return len(self.chosen[0]) + len(self.rejected[0])


def encode_pair(tok, record: dict[str, Any], max_len: int) -> Pair | None:
    """The pair of a preference record, or None when either answer has no token left to score (cut by max_len).
    Earlier assistant turns of the input are context (weight 0): only the two outputs are scored."""
    context = [{**m, "weight": 0} if m.get("role") == "assistant" else m for m in record["input"]["messages"]]
    chosen = encode_example(tok, [*context, record["preferred_output"][0]], max_len)
    rejected = encode_example(tok, [*context, record["non_preferred_output"][0]], max_len)
    if any(label != IGNORE for label in chosen[1]) and any(label != IGNORE for label in rejected[1]):
        return Pair(chosen, rejected)
    return None


def sequence_logps(
    model, sequences: list[tuple[list[int], list[int]]], pad_id: int, device: str, prefix: FrozenPrefix | None = None
):
    """Each sequence's summed log-probability of its labelled tokens, the output layer run at those positions only
    (with a `prefix`, the frozen lower layers' output read back, not recomputed)."""
    import torch
    import torch.nn.functional as F

    logits, target, sel, _ = labelled_logits(model, sequences, pad_id, device, prefix)
    token_logps = -F.cross_entropy(logits, target, reduction="none")  # as the supervised loss: no second [n, V] copy
    rows = sel.nonzero()[:, 0]
    return torch.zeros(len(sequences), dtype=token_logps.dtype, device=token_logps.device).index_add(
        0, rows, token_logps
    )


def dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta: float):
    """DPO's sigmoid loss per pair, and each answer's implicit reward, beta x (policy - reference) log-probability:
    -log sigmoid(reward_chosen - reward_rejected) (Rafailov et al., 2023)."""
    import torch.nn.functional as F

    chosen_reward = beta * (policy_chosen - reference_chosen)
    rejected_reward = beta * (policy_rejected - reference_rejected)
    return -F.logsigmoid(chosen_reward - rejected_reward), chosen_reward, rejected_reward


def pair_parts(pairs: list[Pair], max_tokens: int | None) -> list[list[Pair]]:
    """A batch of pairs in parts whose two answers each, padded, stay within ``max_tokens`` (a pair is never split)."""
    rows = [(range(2 * p.width), p) for p in pairs]
    return [[p for _, p in part] for part in micro_batches(rows, max_tokens)]


class PreferenceRun(TrainingRun):
    """A DPO job: pairs instead of examples, the DPO loss instead of cross-entropy, and its reward metrics."""

    UNIT = "preference pairs"
    CHECKPOINT_METRICS = (
        "step",
        "train_loss",
        "train_reward_margin",
        "train_preference_accuracy",
        "valid_loss",
        "valid_reward_margin",
        "valid_preference_accuracy",
        "full_valid_loss",
        "full_valid_reward_margin",
        "full_valid_preference_accuracy",
    )
    RESULT_COLUMNS = {k: k for k in CHECKPOINT_METRICS[:7]}
    reference_passes = 0  # how many times the starting model's log-probabilities were computed (once per file)

    def _encode(self, path: str | None) -> list[Pair]:
        if not path:
            return []
        pairs = [encode_pair(self.tok, record, self.spec.max_seq_len) for record in dataset.read_preferences(path)]
        return [p for p in pairs if p is not None]

    @staticmethod
    def _length(item: Pair) -> int:
        return item.width

    def _prepare(self) -> None:
        self.train_data = self._with_reference(self.train_data)
        self.valid_data = self._with_reference(self.valid_data)
        # the reference pass stored every answer's frozen output: nothing more to compute before the layers go
        self._store_frozen_output([a[0] for p in self.train_data + self.valid_data for a in (p.chosen, p.rejected)])
        self.say(
            f"Reference log-probabilities of the starting model computed once for {len(self.train_data)} training "
            f"and {len(self.valid_data)} validation pairs; beta = {self.spec.beta:g}"
        )

    def _with_reference(self, pairs: list[Pair]) -> list[Pair]:
        """The pairs with the starting model's log-probabilities (the policy before its first step is that model)."""
        import torch

        if not pairs:
            return pairs
        self.reference_passes += 1
        out: list[Pair] = []
        self.model.eval()
        with torch.no_grad():
            for part in pair_parts(pairs, self.spec.max_batch_tokens):
                logps = self._logps(part).tolist()
                out += [replace(p, reference=(logps[i], logps[len(part) + i])) for i, p in enumerate(part)]
        self.model.train()
        return out

    def _logps(self, part: list[Pair]):
        """The policy's log-probabilities of a part's chosen answers, then of its rejected ones."""
        sequences = [p.chosen for p in part] + [p.rejected for p in part]
        return sequence_logps(self.model, sequences, self.tok.pad_token_id, self.device.name, self.prefix)

    def _losses(self, part: list[Pair]):
        import torch

        logps = self._logps(part)
        reference = torch.tensor([p.reference for p in part], dtype=logps.dtype, device=logps.device)
        return dpo_loss(logps[: len(part)], logps[len(part) :], reference[:, 0], reference[:, 1], self.spec.beta)

    @staticmethod
    def _tally(losses, chosen, rejected) -> list[float]:
        """A part's summed DPO loss, summed reward margin, and pairs whose preferred answer is rewarded more."""
        return [float(losses.sum()), float((chosen - rejected).sum()), float((chosen > rejected).sum())]

    def _learn_from(self, batch: list[Pair]) -> tuple[dict[str, float], int]:
        """Backpropagate the batch's mean DPO loss, part by part; this process takes its share of the pairs."""
        totals, tokens = [0.0, 0.0, 0.0], 0
        for part in pair_parts(self.processes.share(batch), self.spec.max_batch_tokens):
            losses, chosen, rejected = self._losses(part)
            (losses.sum() / len(batch)).backward()
            totals = [a + b for a, b in zip(totals, self._tally(losses.detach(), chosen.detach(), rejected.detach()))]
            tokens += sum(p.tokens for p in part)
        loss, margin, right, tokens = self.processes.sum([*totals, tokens])
        n = len(batch)
        metrics = {"train_loss": loss / n, "train_reward_margin": margin / n, "train_preference_accuracy": right / n}
        return metrics, int(tokens)

    def _measure(self, data: list[Pair], name: str) -> dict[str, float]:
        """The mean DPO loss, reward margin and share of pairs whose preferred answer the policy rewards more."""
        import torch

        self.model.eval()
        totals = [0.0, 0.0, 0.0]
        with torch.no_grad():
            for part in pair_parts(self.processes.share(data), self.spec.max_batch_tokens):
                totals = [a + b for a, b in zip(totals, self._tally(*self._losses(part)))]
        loss, margin, right = self.processes.sum(totals)
        self.model.train()
        n = max(1, len(data))
        return {
            f"{name}_loss": round(loss / n, 6),
            f"{name}_reward_margin": round(margin / n, 6),
            f"{name}_preference_accuracy": round(right / n, 6),
        }
