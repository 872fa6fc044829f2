"""The loop every fine-tuning job runs, whatever its method: real LoRA training of one job, reporting as OpenAI's
jobs do.

`TrainingRun` trains a LoRA adapter with PEFT, appends message and metrics events, saves a checkpoint at the end of
every epoch (the last three are kept), writes the step-metrics CSV and, last, its `TrainerOutcome`, all through
`contract.JobFolder`. What differs by method lives in its peers: `supervised.SupervisedRun` (loss on assistant
tokens only, ``weight: 0`` honoured) and `preference.PreferenceRun` (DPO). The process that runs one is `trainer`.

A hand-rolled loop rather than TRL's SFTTrainer: it was measured no slower (see docs/performance.md), and it gives
OpenAI-shaped metrics at every step without callbacks.
"""

from __future__ import annotations

import csv
import math
import random
import shutil
import time
from pathlib import Path
from typing import Any

from ..early_stopping import EarlyStopping, stop_message, stopped_early
from . import models
from .chat import IGNORE
from .contract import CheckpointRecord, JobFolder, TrainerOutcome, TrainerSpec, new_id
from .data_parallel import Processes
from .frozen_prefix import FrozenPrefix, run_layers, supports
from .lora import LoraSettings, decoder_layers_name, lora_config, lora_targets

KEEP_CHECKPOINTS = 3
# The fixed validation sample: the same examples at every evaluation, so the curve moves with the model, not
# with the sample. Evaluations are spread over the job (validations_per_job), but never so close together that
# they cost more than a fifth of the training (an evaluation is a forward pass; a step is about three).
VALIDATION_SAMPLE = 16
MAX_VALIDATION_SHARE = 0.2


def _batches(data: list, size: int, rng: random.Random | None, *, bucket: int = 0, length=lambda item: len(item[0])):
    """Batches of `size` in a shuffled order (by `rng`; in file order without one).

    With ``bucket=k``, each run of ``k`` batches is cut from examples sorted by length, so
    a batch pads little, and the batches are shuffled again: every example is still seen
    once per epoch, in a random neighbourhood of similar lengths.
    """
    order = list(range(len(data)))
    if rng is not None:
        rng.shuffle(order)
    if bucket and rng is not None:
        span = size * bucket
        order = [
            i for s in range(0, len(order), span) for i in sorted(order[s : s + span], key=lambda i: length(data[i]))
        ]
        batches = [order[s : s + size] for s in range(0, len(order), size)]
        rng.shuffle(batches)
        order = [i for b in batches for i in b]
    for s in range(0, len(order), size):
        yield [data[i] for i in order[s : s + size]]


def _collate(batch, pad_id: int, device: str, multiple: int = 1):
    import torch

    width = models.round_up(max(len(ids) for ids, _ in batch), multiple)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for k, (i, lab) in enumerate(batch):
        ids[k, : len(i)] = torch.tensor(i)
        labels[k, : len(lab)] = torch.tensor(lab)
        mask[k, : len(i)] = 1
    return ids.to(device), mask.to(device), labels.to(device)


def labelled_logits(model, batch, pad_id: int, device: str, prefix: FrozenPrefix | None = None):
    """The output layer (576 x 49,152 for SmolLM2) run only at the positions that carry a label, in float32: those
    logits, their target tokens, the [batch, position] mask of where they are, and the attention mask. With a
    `prefix`, the frozen lower layers' output is read back instead of recomputed, and only the top layers run."""
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    multiple = models.row_multiple(base.get_input_embeddings().weight.dtype)
    ids, mask, labels = _collate(batch, pad_id, device, multiple)
    sel = labels[:, 1:] != IGNORE
    n = int(sel.sum())
    decoder = base.get_decoder()
    if prefix is not None:
        states = decoder.norm(run_layers(decoder, prefix.hidden(ids, mask), mask, prefix.start, len(decoder.layers)))
    else:
        states = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
    padded = F.pad(states[:, :-1][sel], (0, 0, 0, models.round_up(n, multiple) - n))  # zero rows, cut off again below
    return base.get_output_embeddings()(padded)[:n].float(), labels[:, 1:][sel], sel, mask


def _loss_and_accuracy(
    model, batch, pad_id: int, device: str, labelled_only: bool = True, prefix: FrozenPrefix | None = None
):
    """Mean loss over labelled tokens and the share of them predicted exactly (argmax).

    With `labelled_only` (or a `prefix`), the output layer runs at the labelled positions only (`labelled_logits`):
    the same loss, less work.
    """
    import torch.nn.functional as F

    if labelled_only or prefix is not None:
        logits, target, sel, mask = labelled_logits(model, batch, pad_id, device, prefix)
        n = len(target)
        loss = F.cross_entropy(logits, target) if n else logits.sum() * 0.0
        acc = float((logits.argmax(-1) == target).float().mean()) if n else 0.0
        return loss, acc, n, int(mask.sum())
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    ids, mask, labels = _collate(batch, pad_id, device, models.row_multiple(base.get_input_embeddings().weight.dtype))
    target = labels[:, 1:]
    sel = target != IGNORE
    n = int(sel.sum())
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    pred = out.logits[:, :-1].argmax(-1)
    acc = float((pred[sel] == target[sel]).float().mean()) if n else 0.0
    return out.loss, acc, n, int(mask.sum())


STORE_PART_TOKENS = 2048  # padded tokens per part of the frozen output stored before a job, with no budget


def micro_batches(batch: list, max_tokens: int | None) -> list[list]:
    """Split a batch so each part's padded size (examples x longest) stays within ``max_tokens``.

    Gradients are accumulated over the parts, so the update equals the whole batch's;
    only the memory held by activations at once shrinks. Each part has at least one example.
    """
    if not max_tokens:
        return [batch]
    parts, current, longest = [], [], 0
    for item in batch:
        n = len(item[0])
        if current and max(longest, n) * (len(current) + 1) > max_tokens:
            parts.append(current)
            current, longest = [], 0
        current.append(item)
        longest = max(longest, n)
    if current:
        parts.append(current)
    return parts


def _labelled(batch: list) -> int:
    return sum(sum(1 for lab in labels[1:] if lab != IGNORE) for _, labels in batch)


def train_step(
    model,
    batch,
    pad_id: int,
    device: str,
    max_tokens: int | None = None,
    labelled_only: bool = True,
    prefix: FrozenPrefix | None = None,
    processes: Processes | None = None,
) -> tuple[float, float, int]:
    """Backpropagate one batch (in memory-sized parts); returns its mean loss, accuracy and token count.

    With `processes`, this process takes its share of the batch and weighs it by its part of the whole
    batch's labelled tokens, so the gradients summed over the processes are the whole batch's."""
    total = _labelled(batch)
    mine = processes.share(batch) if processes is not None else batch
    loss_sum = acc_sum = 0.0
    n_tokens = 0
    for part in micro_batches(mine, max_tokens) if mine else []:  # a process's share of a short batch may be empty
        loss, acc, n, nt = _loss_and_accuracy(model, part, pad_id, device, labelled_only, prefix)
        (loss * (n / total)).backward()  # the whole batch's token-mean loss, accumulated part by part
        loss_sum += loss.item() * n
        acc_sum += acc * n
        n_tokens += nt
    if processes is not None:
        loss_sum, acc_sum, n_tokens = processes.sum([loss_sum, acc_sum, n_tokens])
    return loss_sum / total, acc_sum / total, int(n_tokens)


def _evaluate(
    model,
    data: list,
    batch_size: int,
    pad_id: int,
    device: str,
    max_tokens: int | None = None,
    labelled_only: bool = True,
    prefix: FrozenPrefix | None = None,
    processes: Processes | None = None,
) -> tuple[float, float]:
    """Token-weighted loss and accuracy over a whole dataset (in memory-sized parts; shared out among `processes`)."""
    import torch

    total_loss = total_acc = 0.0
    total_n = 0
    mine = processes.share(data) if processes is not None else data
    with torch.no_grad():
        for batch in (part for b in _batches(mine, batch_size, None) for part in micro_batches(b, max_tokens)):
            loss, acc, n, _ = _loss_and_accuracy(model, batch, pad_id, device, labelled_only, prefix)
            if n:
                total_loss += float(loss) * n
                total_acc += acc * n
                total_n += n
    if processes is not None:
        total_loss, total_acc, total_n = processes.sum([total_loss, total_acc, total_n])
    return (total_loss / total_n, total_acc / total_n) if total_n else (float("nan"), float("nan"))


class TrainingRun:
    """One job's model, data, optimiser and records, from the spec to the outcome: the loop every method shares.

    Its peers, one per method, say what an example is, what is computed before the first step, how a batch is
    learned from and what is measured (`_encode`, `_length`, `_prepare`, `_learn_from`, `_measure`), and which
    metrics a checkpoint carries: `supervised.SupervisedRun`, `preference.PreferenceRun`.
    """

    CHECKPOINT_METRICS: tuple[str, ...]  # the step metrics a checkpoint carries
    RESULT_COLUMNS: dict[str, str]  # the result file's columns (step metric: column name)
    UNIT: str  # what the training file holds, in words ("examples")

    def __init__(self, spec: TrainerSpec, folder: JobFolder):
        import torch

        self.spec, self.folder = spec, folder
        self.processes = Processes.join(spec.threads)
        if self.processes.count != spec.processes:
            raise RuntimeError(
                f"the job asks for {spec.processes} training process(es), but {self.processes.count} started"
            )
        self.device = self.processes.device
        random.seed(spec.seed)
        torch.manual_seed(spec.seed)
        self.say(f"Loading base model {spec.base_model} on {self.device.name}")
        if self.device.name == "cpu" and models.cpu_dtype(spec.cpu_bf16) == "bfloat16":
            self.device = models.Device("cpu", "bfloat16")
            self.say(
                "This CPU multiplies bfloat16 in hardware: the frozen base weights are loaded in bfloat16; "
                "LoRA's weights, its optimiser and the loss stay float32"
            )
        model, self.tok = models.load(spec.base_model, self.device)
        self.train_data = self._encode(spec.training_path)
        self.valid_data = self._encode(spec.validation_path)
        if not self.train_data:
            raise ValueError("no training example has an assistant reply to learn (all weights are 0?)")
        self.model, layers = self._policy(model)
        self.prefix = self._frozen_prefix(model, layers)
        self.prepare_seconds = 0.0
        self._prepare()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.processes.same_start(self.params)
        self.opt = torch.optim.AdamW(self.params, lr=spec.learning_rate, weight_decay=0.0)
        self.steps_per_epoch = math.ceil(len(self.train_data) / spec.batch_size)
        self.total_steps = self.steps_per_epoch * spec.n_epochs
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: 1.0 - 0.9 * s / max(1, self.total_steps))
        self.rng = random.Random(spec.seed)
        self.valid_sample = random.Random(spec.seed + 1).sample(
            self.valid_data, min(VALIDATION_SAMPLE, len(self.valid_data))
        )
        affordable = math.ceil(len(self.valid_sample) / (3 * spec.batch_size * MAX_VALIDATION_SHARE))
        self.validate_every = max(1, self.total_steps // max(1, spec.validations_per_job), affordable)
        self.stopper = (
            EarlyStopping(spec.early_stopping_patience) if spec.early_stopping_patience and self.valid_data else None
        )
        self.best_weights: dict[str, Any] | None = None
        self.rows: list[dict[str, Any]] = []
        self.checkpoints: list[CheckpointRecord] = []
        self.trained_tokens = self.step = 0

    def _encode(self, path: str | None) -> list:
        """A data file as this method learns from it."""
        raise NotImplementedError

    @staticmethod
    def _length(item) -> int:
        """How long one of `_encode`'s items is, for batches of similar lengths."""
        raise NotImplementedError

    def _prepare(self) -> None:
        """What to compute from the starting model before the first step (nothing, unless the method says)."""

    def _store_frozen_output(self, sequences: list) -> None:
        """In a single process with a frozen prefix: every sequence's frozen output stored now, then the frozen
        layers dropped, so training holds only the layers it runs. (Several processes each store their own share
        as they meet it.)"""
        if self.prefix is None or self.processes.count > 1:
            return
        started = time.time()
        by_length = [(key,) for key in sorted({tuple(s) for s in sequences}, key=len)]  # similar lengths together
        parts = micro_batches(by_length, self.spec.max_batch_tokens or STORE_PART_TOKENS)
        computed = sum(self.prefix.store([key for (key,) in part]) for part in parts)
        handed = self.prefix.drop_frozen_layers()
        self.prepare_seconds += time.time() - started  # part of the job's training time: its tokens/s counts it
        self.say(
            f"The frozen layers' output was stored for {computed} sequences in {time.time() - started:.0f} s; the "
            f"{self.prefix.start} frozen layers then left memory ({handed / 2**20:.0f} MB of weights)",
            data={"stored": computed, "handed_back_bytes": handed},
        )

    def _policy(self, model) -> tuple[Any, int | None]:
        """The model to train and how many top layers its LoRA covers (None: all): a new adapter on the base model,
        or the starting model's own adapter, trained on from where it is."""
        if self.spec.start_adapter:
            from peft import PeftModel

            peft_model = PeftModel.from_pretrained(model, self.spec.start_adapter, is_trainable=True)
            top = peft_model.peft_config["default"].layers_to_transform
            self.say(f"Training on from the starting model's adapter ({len(top) if top else 'all'} layers)")
            return peft_model, len(top) if top else None
        from peft import get_peft_model

        lora, peft_config = self._lora_on(model)
        return get_peft_model(model, peft_config), lora.layers

    def _lora_on(self, model) -> tuple[LoraSettings, Any]:
        """The spec's LoRA as this model allows it, and PEFT's config for it: the model's own targets, and every
        layer when its layer stack cannot be found (the spec itself stays as the job asked)."""
        lora, n_layers = self.spec.lora, model.config.num_hidden_layers
        targets, why = lora_targets(model, lora.target_modules)
        if targets != lora.target_modules:
            self.say(f"LoRA adapts {targets if isinstance(targets, str) else ', '.join(targets)} in this model ({why})")
        stack = decoder_layers_name(model)
        if lora.layers and lora.layers < n_layers and stack is None:
            self.say(
                f"LoRA covers every layer: this model's {n_layers} layers could not be located to train the top "
                f"{lora.layers} only"
            )
            lora = lora.model_copy(update={"layers": None})
        return lora, lora_config(lora, n_layers, targets, stack or "layers")

    def say(self, message: str, **fields: Any) -> None:
        """An event of the job's, written by the main process only (each process knows the same)."""
        if self.processes.is_main:
            self.folder.event(message, **fields)

    def _frozen_prefix(self, model, layers: int | None) -> FrozenPrefix | None:
        """The store of the frozen layers' output, when LoRA on the top `layers` leaves layers below it and the
        model allows it."""
        n_layers = model.config.num_hidden_layers
        decoder = model.get_decoder()
        if not (
            self.spec.reuse_frozen_layers and layers and layers < n_layers and supports(decoder, n_layers - layers)
        ):
            return None
        self.say(
            f"The lower {n_layers - layers} of {n_layers} layers stay frozen: their output is computed once "
            f"per example and reused; LoRA trains the top {layers}"
        )
        return FrozenPrefix(decoder, n_layers - layers, self.folder.frozen_prefix_file(self.processes.rank))

    def run(self) -> TrainerOutcome:
        try:
            outcome = self._run()
            self.processes.finish_together()  # only after a whole run: a failed peer never reaches it
            return outcome
        finally:
            if self.prefix is not None:
                self.prefix.close()
            self.processes.leave()

    def _run(self) -> TrainerOutcome:
        spec = self.spec
        self.say(
            f"Training {len(self.train_data)} {self.UNIT} for {spec.n_epochs} epoch(s): {self.total_steps} steps "
            f"of batch size {spec.batch_size}, learning rate {spec.learning_rate:.2e}"
        )
        if self.processes.count > 1:
            self.say(
                f"Training on {self.processes.count} processes (data parallel through Hugging Face Accelerate, "
                f"{self.processes.backend}): each takes every {self.processes.count}th example of each batch of "
                f"{spec.batch_size}, and their gradients are summed, so every update is the one a single process makes",
                data={"processes": self.processes.count, "backend": self.processes.backend},
            )
        self.t0 = t0 = time.time()
        for epoch in range(1, spec.n_epochs + 1):
            self.model.train()
            for batch in _batches(
                self.train_data, spec.batch_size, self.rng, bucket=spec.length_buckets, length=self._length
            ):
                self._train_on(batch, epoch)
                if self.stopper is not None and self.stopper.stopped:
                    break
            if self.stopper is not None and stopped_early(self.step, self.total_steps, self.stopper):
                rule = self.stopper
                self.say(
                    stop_message(self.step, self.total_steps, rule),
                    data={"stopped_at": self.step, "total_steps": self.total_steps, "kept_step": rule.best_step},
                )
                break
        if self.stopper is not None:
            self._keep_best()
        elapsed = time.time() - t0 + self.prepare_seconds
        if self.processes.is_main:
            _write_metrics_csv(self.folder.metrics_csv, self.rows, self.RESULT_COLUMNS)
            shutil.rmtree(self.folder.model_dir, ignore_errors=True)
            _save_whole(self.model, self.folder.model_dir)
        return TrainerOutcome(
            status="succeeded",
            fine_tuned_model=spec.fine_tuned_model,
            adapter=str(self.folder.model_dir),
            trained_tokens=self.trained_tokens,
            train_seconds=round(elapsed, 2),
            tokens_per_second=round(self.trained_tokens / elapsed, 1) if elapsed else None,
            checkpoints=self.checkpoints,
        )

    def _train_on(self, batch: list, epoch: int) -> None:
        """One optimiser step, its metrics event, and the epoch's checkpoint when it is the last."""
        import torch

        metrics, n_tokens = self._learn_from(batch)
        self.processes.sum_gradients(self.params)
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        self.step += 1
        self.trained_tokens += n_tokens
        data: dict[str, Any] = {
            "step": self.step,
            "total_steps": self.total_steps,
            **{k: round(v, 6) for k, v in metrics.items()},
        }
        if self.valid_data and (
            self.step == 1 or self.step % self.validate_every == 0 or self.step == self.total_steps
        ):
            data.update(self._measure(self.valid_sample, "valid"))
            if self.stopper is not None and self.stopper.update(self.step, data["valid_loss"]):
                self.best_weights = {k: p.detach().clone() for k, p in self.model.named_parameters() if p.requires_grad}
        last_of_epoch = self.step == epoch * self.steps_per_epoch
        if last_of_epoch and self.valid_data:
            if "valid_loss" in data and len(self.valid_sample) == len(self.valid_data):  # the sample is the whole file
                data.update({"full_" + k: v for k, v in data.items() if k.startswith("valid_")})
            else:
                data.update(self._measure(self.valid_data, "full_valid"))
        self.say(
            f"Step {self.step}/{self.total_steps}: training loss={data['train_loss']:.4f}"
            + (f", validation loss={data['valid_loss']:.4f}" if "valid_loss" in data else ""),
            type="metrics",
            data=data,
        )
        self.rows.append(data)
        if self.processes.is_main:
            self.folder.write_progress(self.step, self.total_steps, self.t0)
        if last_of_epoch:
            self._save_checkpoint(self.step, data)
            self.say(f"Checkpoint saved at step {self.step} (epoch {epoch}/{self.spec.n_epochs})")

    def _learn_from(self, batch: list) -> tuple[dict[str, float], int]:
        """Backpropagate one batch: its step metrics and the tokens it trained on."""
        raise NotImplementedError

    def _measure(self, data: list, name: str) -> dict[str, float]:
        """The metrics of `data` under `name` ("valid" for the fixed sample, "full_valid" for the whole file)."""
        raise NotImplementedError

    def _save_checkpoint(self, step: int, data: dict[str, Any]) -> None:
        """Save the adapter as it is now under `step`'s name; keep the last three, as OpenAI does."""
        if not self.processes.is_main:
            return
        ckpt_dir = self.folder.checkpoint_dir(step)
        _save_whole(self.model, ckpt_dir)
        self.checkpoints.append(
            CheckpointRecord(
                id=new_id("ftckpt"),
                created_at=int(time.time()),
                step_number=step,
                fine_tuned_model_checkpoint=f"{self.spec.fine_tuned_model}:ckpt-step-{step}",
                fine_tuning_job_id=self.spec.job_id,
                adapter=str(ckpt_dir),
                metrics={k: data.get(k) for k in self.CHECKPOINT_METRICS},
            )
        )
        for old in self.checkpoints[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old.adapter, ignore_errors=True)
        self.checkpoints = self.checkpoints[-KEEP_CHECKPOINTS:]
        self.folder.write_checkpoints(self.checkpoints[::-1])

    def _keep_best(self) -> None:
        """Early stopping's choice: the weights of the best evaluation become the model, checked on the whole
        validation file and kept as a checkpoint of their own."""
        import torch

        rule = self.stopper
        if self.best_weights is None or rule.best_step is None:
            return
        with torch.no_grad():
            for name, param in self.model.named_parameters():
                if name in self.best_weights:
                    param.copy_(self.best_weights[name])
        row = next(r for r in self.rows if r["step"] == rule.best_step)
        data = {**row, **self._measure(self.valid_data, "full_valid")}
        full_loss = data["full_valid_loss"]
        if all(c.step_number != rule.best_step for c in self.checkpoints):
            self._save_checkpoint(rule.best_step, data)
        ran = (
            ""
            if stopped_early(self.step, self.total_steps, rule)
            else f"The job ran every planned step ({self.step}). "
        )
        self.say(
            f"{ran}The fine-tuned model is the one from step {rule.best_step}, where the validation loss was lowest "
            f"(whole validation file: {full_loss:.4f}).",
            data={"kept_step": rule.best_step},
        )


def _save_whole(model, folder: Path) -> None:
    """Save an adapter, or nothing: a save cut short (a full disk) leaves no half folder to be served."""
    try:
        model.save_pretrained(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _write_metrics_csv(path: Path, rows: list[dict[str, Any]], columns: dict[str, str]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(columns.values()))
        for r in rows:
            w.writerow([r.get(k, "") for k in columns])
