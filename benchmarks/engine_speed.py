"""Benchmark the embedded engine against plain baselines, in one session on one machine.

1. Training: an engine job (through the `openai` client: upload, create, poll) against
   `plain_peft.py` on the same model, data, LoRA config, batch size and steps. Both
   are timed end to end as a user waits for them (process start or job creation to
   finished), and tokens/s compared (target ratio >= 0.9: the job layer costs nothing).
2. Serving: 32 held-out prompts as one-at-a-time requests against the same 32 sent
   concurrently, which the engine batches (target >= 3x on a CPU).

    python benchmarks/engine_speed.py [--examples 64] [--repeats 1]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwidgets.data.dataset import load_jsonl  # noqa: E402
from ftwidgets.engine import start  # noqa: E402

MATH = load_jsonl(ROOT / "data" / "samples" / "math_tutor.jsonl")


def engine_job(client, train_path: Path, epochs: int, bs: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    with open(train_path, "rb") as fh:
        f = client.files.create(file=fh, purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="smollm2-135m-instruct",
        training_file=f.id,
        seed=7,
        hyperparameters={"n_epochs": epochs, "batch_size": bs},
        metadata={"allow_small_dataset": "true"},
    )
    while job.status not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.2)
        job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded", job.error
    return time.perf_counter() - t0, job.trained_tokens


def plain(train_path: Path, epochs: int, bs: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "plain_peft.py"),
            str(train_path),
            "--epochs",
            str(epochs),
            "--batch-size",
            str(bs),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return time.perf_counter() - t0, res["tokens"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--prompts", type=int, default=32)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    train = tmp / "train.jsonl"
    train.write_text("".join(json.dumps(e) + "\n" for e in MATH[: args.examples]))
    handle = start(tmp / "engine")
    client = handle.client(max_retries=0)
    plain(train, 1, 4)  # warm-up: converts the model once, outside the timings
    eng, base = [], []
    for _ in range(args.repeats):
        t, n = plain(train, 1, 4)
        base.append(n / t)
        t, n = engine_job(client, train, 1, 4)
        eng.append(n / t)
    b, e = statistics.median(base), statistics.median(eng)
    print(f"training, {args.examples} examples, 1 epoch, batch 4, end to end:")
    print(f"  plain PEFT script: {b:6.1f} tokens/s")
    print(f"  engine job:        {e:6.1f} tokens/s   ratio engine/plain = {e / b:.2f}  (target >= 0.9)")

    prompts = [ex["messages"][:-1] for ex in MATH[1100 : 1100 + args.prompts]]

    def ask(messages):
        return client.chat.completions.create(
            model="smollm2-135m-instruct", messages=messages, temperature=0, max_tokens=64
        )

    ask(prompts[0])  # load the model outside the timing
    t0 = time.perf_counter()
    seq = [ask(p) for p in prompts]
    t_seq = time.perf_counter() - t0
    gen = handle._server.config.app.state.engine.generator
    before = gen.batches
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.prompts) as pool:
        bat = list(pool.map(ask, prompts))
    t_bat = time.perf_counter() - t0
    same = sum(a.choices[0].message.content == b.choices[0].message.content for a, b in zip(seq, bat))
    print(f"serving, {args.prompts} prompts, greedy, max 64 tokens:")
    print(f"  one at a time: {t_seq:6.1f} s")
    print(
        f"  concurrent:    {t_bat:6.1f} s in {gen.batches - before} batched calls   "
        f"speed-up = {t_seq / t_bat:.1f}x  (target >= 3x)"
    )
    print(f"  identical answers: {same}/{args.prompts}")
    handle.stop()


if __name__ == "__main__":
    main()
