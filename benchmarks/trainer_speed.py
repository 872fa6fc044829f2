"""The CPU trainer's speed-ups, each measured on its own against a plain PEFT loop, in one session.

Every run trains the same examples for the same epochs with the same LoRA rank, batch size,
learning rate and assistant-only labels, as its own process (no validation, as the plain
loop has none): first `plain_peft.py` (the baseline), then the engine's trainer with each
option alone and with all of them. It prints tokens/s over the whole job and the ratio to
the baseline, and a quality check per run: format compliance of greedy answers to held-out
prompts. Reusing the frozen layers pays from the second epoch on, so it needs `--epochs 2`
or more to show.

    python benchmarks/trainer_speed.py [--examples 200] [--prompts 16] [--epochs 1] [--runs "all four" ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwidgets.data.dataset import load_jsonl, write_jsonl  # noqa: E402
from ftwidgets.engine.contract import JobFolder, TrainerSpec  # noqa: E402
from ftwidgets.engine.lora import LORA  # noqa: E402
from ftwidgets.engine.recipe import BASE_LEARNING_RATE, MAX_SEQ_LEN  # noqa: E402
from ftwidgets.runtime.memory import PeakMemory  # noqa: E402

FORMAT = r"Step 1:.*Answer: -?[\d,.]+\s*$"
NONE = {"labelled_logits": False, "length_buckets": 0, "layers": None, "reuse_frozen_layers": False, "cpu_bf16": False}
ALL_FOUR = {"labelled_logits": True, "length_buckets": 16, "layers": 10, "reuse_frozen_layers": True}
OPTIONS = {  # name -> the trainer's settings
    "engine, no speed-ups": NONE,
    "+ logits at labelled positions only": {**NONE, "labelled_logits": True},
    "+ LoRA on the top 10 of 30 layers": {**NONE, "layers": 10},
    "+ length-bucketed batches": {**NONE, "length_buckets": 16},
    "+ top 10 layers, the frozen 20 computed once per example": {**NONE, "layers": 10, "reuse_frozen_layers": True},
    "labelled positions + buckets (all layers)": {
        "labelled_logits": True,
        "length_buckets": 16,
        "layers": None,
        "reuse_frozen_layers": False,
        "cpu_bf16": False,
    },
    "all four": {**ALL_FOUR, "cpu_bf16": False},
    "+ frozen weights in bfloat16 (on a CPU with hardware bfloat16)": {**NONE, "cpu_bf16": True},
    "all four + frozen weights in bfloat16 (the engine's default from 2 epochs)": {**ALL_FOUR, "cpu_bf16": True},
    "the engine's 1-epoch default before: every layer, labelled positions, buckets, bfloat16": {
        **ALL_FOUR,
        "layers": None,
        "cpu_bf16": True,
    },
    "the engine's 1-epoch default: LoRA on the top 15 layers, labelled positions, buckets, bfloat16": {
        **ALL_FOUR,
        "layers": 15,
        "cpu_bf16": True,
    },
}
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def measured(command: list[str]) -> tuple[str, float]:
    """Run a training process to the end; its output and its peak memory (PSS, GB)."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(command, env=ENV, stdout=out, stderr=subprocess.DEVNULL, text=True)
        with PeakMemory(lambda: [proc.pid], every=0.2) as memory:
            proc.wait()
        assert proc.returncode == 0, command
        out.seek(0)
        return out.read(), memory.peak / 2**30


def plain(train: Path, out: Path, epochs: int) -> tuple[float, float, Path]:
    printed, peak = measured(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "plain_peft.py"),
            str(train),
            "--epochs",
            str(epochs),
            "--batch-size",
            "4",
            "--adapter",
            str(out),
        ]
    )
    return json.loads(printed.strip().splitlines()[-1])["tokens_per_s"], peak, out


def engine(train: Path, job_dir: Path, epochs: int, layers: int | None, **options) -> tuple[float, float, Path]:
    job_dir.mkdir(parents=True)
    folder = JobFolder(job_dir)
    folder.write_spec(
        TrainerSpec(
            job_id="ftjob-benchmark",
            base_model="smollm2-135m-instruct",
            training_path=str(train),
            n_epochs=epochs,
            batch_size=4,
            learning_rate=BASE_LEARNING_RATE,
            seed=7,
            max_seq_len=MAX_SEQ_LEN,
            lora=LORA.model_copy(update={"layers": layers}),
            fine_tuned_model="ft:benchmark",
            **options,
        )
    )
    _, peak = measured([sys.executable, "-m", "ftwidgets.engine.trainer", str(job_dir)])
    outcome = folder.read_outcome()
    assert outcome is not None and outcome.status == "succeeded", outcome
    return outcome.tokens_per_second, peak, folder.model_dir


def format_compliance(adapter: Path, prompts: list[dict]) -> float:
    """Share of greedy answers (base model + this adapter) in the taught format."""
    import re

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftwidgets.engine import models

    path = models.ensure_converted()
    tok = AutoTokenizer.from_pretrained(path)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(path), str(adapter)).eval()
    hits = 0
    with torch.no_grad():
        for p in prompts:
            ids = tok.apply_chat_template(p["messages"][:-1], add_generation_prompt=True, return_tensors="pt")
            ids = ids["input_ids"] if hasattr(ids, "keys") else ids
            out = model.generate(ids, max_new_tokens=96, do_sample=False, pad_token_id=tok.pad_token_id)
            hits += re.search(FORMAT, tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True), re.S) is not None
    return hits / len(prompts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=200)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--runs", nargs="*", choices=list(OPTIONS), help="the engine's runs to measure (default: all)")
    args = ap.parse_args()
    math = load_jsonl(ROOT / "data" / "samples" / "math_tutor.jsonl")
    work = Path(tempfile.mkdtemp(prefix="ftw-trainer-speed-"))
    train = work / "train.jsonl"
    write_jsonl(train, math[: args.examples])
    prompts = math[-args.prompts :]  # never trained on
    t0 = time.perf_counter()
    runs = {"plain PEFT loop (baseline)": plain(train, work / "plain-adapter", args.epochs)}
    for i, name in enumerate(args.runs or OPTIONS):
        runs[name] = engine(train, work / f"job{i}", args.epochs, **OPTIONS[name])
        print(name, runs[name][:2], flush=True)
    base = runs["plain PEFT loop (baseline)"][0]  # tokens/s
    print(
        f"\n{args.examples} examples, {args.epochs} epoch(s), batch 4, LoRA r{LORA.r}; "
        f"{time.perf_counter() - t0:.0f} s of training runs\n"
    )
    print("| run | tokens/s | ratio to the plain loop | peak memory (PSS) | format compliance on held-out prompts |")
    print("|---|---|---|---|---|")
    for name, (tps, peak, adapter) in runs.items():
        print(
            f"| {name} | {tps:.0f} | {tps / base:.2f} | {peak:.2f} GB | {format_compliance(adapter, prompts):.0%} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
