"""The trainer process: real LoRA fine-tuning of one job, reporting as OpenAI's jobs do.

Run as ``python -m ftwidgets.engine.trainer JOB_DIR``. It reads ``spec.json``, trains
a LoRA adapter with PEFT (loss on assistant tokens only, ``weight: 0`` honoured),
appends message and metrics events to ``events.jsonl``, saves a checkpoint at the
end of every epoch (the last three are kept), writes the step-metrics CSV and, last,
``outcome.json``. It is its own process so the API stays responsive and cancel is a
signal; the server treats a missing ``outcome.json`` as a crash.

A hand-rolled loop rather than TRL's SFTTrainer: it was measured no slower (see the
README), and it gives OpenAI-shaped metrics at every step without callbacks.
"""

from __future__ import annotations

import csv
import json
import math
import random
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ..dataset import write_json_atomic
from .chat import IGNORE, encode_example
from .store import append_event, new_id

KEEP_CHECKPOINTS = 3


def _read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8-sig") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _batches(data: list, size: int, rng: random.Random | None):
    order = list(range(len(data)))
    if rng is not None:
        rng.shuffle(order)
    for s in range(0, len(order), size):
        yield [data[i] for i in order[s : s + size]]


def _collate(batch, pad_id: int, device: str):
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for k, (i, lab) in enumerate(batch):
        ids[k, : len(i)] = torch.tensor(i)
        labels[k, : len(lab)] = torch.tensor(lab)
        mask[k, : len(i)] = 1
    return ids.to(device), mask.to(device), labels.to(device)


def _loss_and_accuracy(model, batch, pad_id: int, device: str):
    """Mean loss over labelled tokens and the share of them predicted exactly (argmax)."""
    ids, mask, labels = _collate(batch, pad_id, device)
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    pred = out.logits[:, :-1].argmax(-1)
    target = labels[:, 1:]
    sel = target != IGNORE
    n = int(sel.sum())
    acc = float((pred[sel] == target[sel]).float().mean()) if n else 0.0
    return out.loss, acc, n, int(mask.sum())


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


def train_step(model, batch, pad_id: int, device: str, max_tokens: int | None = None) -> tuple[float, float, int]:
    """Backpropagate one batch (in memory-sized parts); returns its mean loss, accuracy and token count."""
    total = _labelled(batch)
    loss_sum = acc_sum = 0.0
    n_tokens = 0
    for part in micro_batches(batch, max_tokens):
        loss, acc, n, nt = _loss_and_accuracy(model, part, pad_id, device)
        (loss * (n / total)).backward()  # the whole batch's token-mean loss, accumulated part by part
        loss_sum += loss.item() * n
        acc_sum += acc * n
        n_tokens += nt
    return loss_sum / total, acc_sum / total, n_tokens


def _evaluate(model, data: list, batch_size: int, pad_id: int, device: str,
              max_tokens: int | None = None) -> tuple[float, float]:
    """Token-weighted loss and accuracy over a whole dataset (in memory-sized parts)."""
    import torch

    total_loss = total_acc = 0.0
    total_n = 0
    with torch.no_grad():
        for batch in (part for b in _batches(data, batch_size, None) for part in micro_batches(b, max_tokens)):
            loss, acc, n, _ = _loss_and_accuracy(model, batch, pad_id, device)
            if n:
                total_loss += float(loss) * n
                total_acc += acc * n
                total_n += n
    return (total_loss / total_n, total_acc / total_n) if total_n else (float("nan"), float("nan"))


def train(job_dir: Path) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model

    from . import models

    spec = json.loads((job_dir / "spec.json").read_text())
    say = lambda msg, **kw: append_event(job_dir, msg, **kw)  # noqa: E731
    device = models.pick_device(spec.get("threads"))
    seed = int(spec["seed"])
    random.seed(seed)
    torch.manual_seed(seed)

    say(f"Loading base model {spec['base_model']} on {device.name}")
    model, tok = models.load(spec["base_model"], device)
    max_len = int(spec["max_seq_len"])
    train_data = [encode_example(tok, ex["messages"], max_len) for ex in _read_jsonl(spec["training_path"])]
    train_data = [d for d in train_data if any(lab != IGNORE for lab in d[1])]
    valid_data = []
    if spec.get("validation_path"):
        valid_data = [encode_example(tok, ex["messages"], max_len) for ex in _read_jsonl(spec["validation_path"])]
        valid_data = [d for d in valid_data if any(lab != IGNORE for lab in d[1])]
    if not train_data:
        raise ValueError("no training example has an assistant reply to learn (all weights are 0?)")

    lora = spec["lora"]
    model = get_peft_model(
        model,
        LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                   target_modules=lora["target_modules"], task_type="CAUSAL_LM"),
    )
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec["learning_rate"], weight_decay=0.0)
    bs = int(spec["batch_size"])
    epochs = int(spec["n_epochs"])
    steps_per_epoch = math.ceil(len(train_data) / bs)
    total_steps = steps_per_epoch * epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - 0.9 * s / max(1, total_steps))
    rng = random.Random(seed)
    valid_rng = random.Random(seed + 1)
    eval_every = max(1, int(spec.get("eval_every", 1)))
    say(f"Training {len(train_data)} examples for {epochs} epoch(s): {total_steps} steps of batch size {bs}, "
        f"learning rate {spec['learning_rate']:.2e}")

    rows: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    trained_tokens = 0
    step = 0
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        model.train()
        for batch in _batches(train_data, bs, rng):
            loss, acc, n_tokens = train_step(model, batch, tok.pad_token_id, device.name, spec.get("max_batch_tokens"))
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            trained_tokens += n_tokens
            data: dict[str, Any] = {"step": step, "total_steps": total_steps, "train_loss": round(loss, 6),
                                    "train_mean_token_accuracy": round(acc, 6)}
            if valid_data and (step % eval_every == 0 or step == total_steps):
                model.eval()
                vbatch = valid_rng.sample(valid_data, min(bs, len(valid_data)))
                vloss, vacc = _evaluate(model, vbatch, bs, tok.pad_token_id, device.name, spec.get("max_batch_tokens"))
                model.train()
                data["valid_loss"] = round(float(vloss), 6)
                data["valid_mean_token_accuracy"] = round(vacc, 6)
            last_of_epoch = step == epoch * steps_per_epoch
            if last_of_epoch and valid_data:
                model.eval()
                full_loss, full_acc = _evaluate(model, valid_data, bs, tok.pad_token_id, device.name, spec.get("max_batch_tokens"))
                model.train()
                data["full_valid_loss"] = round(full_loss, 6)
                data["full_valid_mean_token_accuracy"] = round(full_acc, 6)
            say(f"Step {step}/{total_steps}: training loss={data['train_loss']:.4f}"
                + (f", validation loss={data['valid_loss']:.4f}" if "valid_loss" in data else ""),
                type="metrics", data=data)
            rows.append(data)
            if last_of_epoch:
                checkpoints.append(_save_checkpoint(model, job_dir, spec, step, data))
                for old in checkpoints[:-KEEP_CHECKPOINTS]:  # keep the last three, as OpenAI does
                    shutil.rmtree(old["adapter"], ignore_errors=True)
                checkpoints = checkpoints[-KEEP_CHECKPOINTS:]
                write_json_atomic(job_dir / "checkpoints.json", checkpoints[::-1])
                say(f"Checkpoint saved at step {step} (epoch {epoch}/{epochs})")
    elapsed = time.time() - t0
    _write_metrics_csv(job_dir / "metrics.csv", rows)
    final = job_dir / "model"
    shutil.rmtree(final, ignore_errors=True)
    model.save_pretrained(final)
    return {
        "status": "succeeded",
        "trained_tokens": trained_tokens,
        "train_seconds": round(elapsed, 2),
        "tokens_per_second": round(trained_tokens / elapsed, 1) if elapsed else None,
        "adapter": str(final),
        "checkpoints": checkpoints,
    }


def _save_checkpoint(model, job_dir: Path, spec: dict, step: int, data: dict) -> dict:
    ckpt_dir = job_dir / "checkpoints" / f"step-{step}"
    model.save_pretrained(ckpt_dir)
    ckpt = {
        "id": new_id("ftckpt"),
        "object": "fine_tuning.job.checkpoint",
        "created_at": int(time.time()),
        "fine_tuned_model_checkpoint": f"{spec['fine_tuned_model']}:ckpt-step-{step}",
        "fine_tuning_job_id": spec["job_id"],
        "step_number": step,
        "metrics": {k: data.get(k) for k in ("step", "train_loss", "train_mean_token_accuracy", "valid_loss",
                                            "valid_mean_token_accuracy", "full_valid_loss", "full_valid_mean_token_accuracy")},
        "adapter": str(ckpt_dir),
    }
    return ckpt


def _write_metrics_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"])
        for r in rows:
            w.writerow([r["step"], r["train_loss"], r["train_mean_token_accuracy"], r.get("valid_loss", ""),
                        r.get("valid_mean_token_accuracy", "")])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job_dir = Path(args[0])
    try:
        outcome = train(job_dir)
    except Exception as exc:  # a crash fails the job with a message, never leaves it running
        (job_dir / "trainer-traceback.txt").write_text(traceback.format_exc())
        outcome = {"status": "failed", "error": {"code": "training_error", "message": f"{type(exc).__name__}: {exc}", "param": None}}
        append_event(job_dir, f"Training failed: {type(exc).__name__}: {exc}", level="error")
    write_json_atomic(job_dir / "outcome.json", outcome)
    return 0 if outcome["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
