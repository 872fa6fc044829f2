"""Benchmark the evaluation step (notebook 05's cell) on the embedded engine, in one session.

The same held-out math-tutor test prompts are answered by the base model through the official
client (`ftwidgets.evaluation.evaluate.evaluate`, each run into an empty cache), once per serving setup:

- the baseline: float32 weights, a batch gathered for 20 ms after its first request, the
  notebooks' 16 requests at a time (the engine's earlier defaults);
- gathering while requests keep arriving (`max_gather=0.25`);
- bfloat16 weights on a CPU with hardware bfloat16;
- 32 requests at a time (with the two above: today's defaults).

Prints each setup's time, generate calls, its ratio to the baseline and how many answers equal the
baseline's (greedy decoding; bfloat16 rounds differently, so some answers differ). With
``--adapter DIR`` (a fine-tuned adapter folder, e.g. from a workbook run's engine/jobs/*/model)
it also scores that model's answers in float32 and bfloat16 with the task's metrics.

    python benchmarks/eval_speed.py [--items 64] [--max-tokens 160] [--adapter DIR]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwidgets.data.dataset import load_jsonl  # noqa: E402
from ftwidgets.data.split import split_examples  # noqa: E402
from ftwidgets.engine import models, start  # noqa: E402
from ftwidgets.engine.serving_types import GenRequest  # noqa: E402
from ftwidgets.evaluation.evaluate import evaluate, to_eval_items  # noqa: E402
from ftwidgets.runtime.machine import cpu_has_native_bf16  # noqa: E402
from ftwidgets.tasks import get_task  # noqa: E402

BASE = "smollm2-135m-instruct"


def use(generator, dtype: str, gather: float) -> None:
    """Serve from now on in `dtype`, gathering a batch for at most `gather` seconds (the models reload)."""
    generator._bases.clear()
    generator._adapters.clear()
    generator._device = models.Device("cpu", dtype)
    generator.max_gather = gather


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--adapter", help="a fine-tuned adapter folder to score in float32 and bfloat16")
    args = parser.parse_args()
    test = split_examples(load_jsonl(ROOT / "data" / "samples" / "math_tutor.jsonl"), seed=42).test
    items = to_eval_items(test[: args.items])
    bf16 = "bfloat16" if cpu_has_native_bf16() else "float32"
    setups = [
        ("float32, 20 ms gathering, 16 at a time (baseline)", "float32", 0.02, 16),
        ("float32, gathering while requests arrive, 16", "float32", 0.25, 16),
        (f"{bf16}, gathering, 16", bf16, 0.25, 16),
        (f"{bf16}, gathering, 32 at a time", bf16, 0.25, 32),
    ]
    with tempfile.TemporaryDirectory() as d:
        engine = start(Path(d) / "engine", threads=2)
        client = engine.client(max_retries=0)
        gen = engine._server.config.app.state.engine.generator
        runs = []
        for label, dtype, gather, concurrency in setups:
            use(gen, dtype, gather)
            client.chat.completions.create(model=BASE, messages=items[0].messages, max_tokens=1)  # load the model
            before, t0 = gen.batches, time.perf_counter()
            ev = evaluate(
                client,
                items,
                {"base": BASE},
                cache_dir=Path(d) / label,
                concurrency=concurrency,
                max_tokens=args.max_tokens,
            )
            runs.append((label, time.perf_counter() - t0, gen.batches - before, ev.answers("base")))
            print(f"  {label}: {runs[-1][1]:.1f} s in {runs[-1][2]} generate calls", flush=True)
        if args.adapter:
            metrics = get_task("math_tutor").metrics()
            for dtype in ("float32", bf16):
                use(gen, dtype, 0.25)
                futures = [
                    gen.submit(
                        GenRequest(
                            model="ft",
                            base=BASE,
                            adapter=args.adapter,
                            messages=it.messages,
                            max_new_tokens=args.max_tokens,
                            temperature=0.0,
                        )
                    )
                    for it in items
                ]
                answers = [f.result().text for f in futures]
                scores = {
                    m.name: statistics.mean(m.score(a, it.reference, it.example) for a, it in zip(answers, items))
                    for m in metrics
                }
                print(f"  fine-tuned adapter in {dtype}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        engine.stop()
    base_time, base_answers = runs[0][1], runs[0][3]
    print(f"\n{len(items)} test prompts, base model, {args.max_tokens} tokens max\n")
    print("| serving | time | generate calls | speed-up | answers as the baseline's |")
    print("|---|---|---|---|---|")
    for label, t, calls, answers in runs:
        same = sum(a == b for a, b in zip(answers, base_answers))
        print(f"| {label} | {t:.1f} s | {calls} | {base_time / t:.2f}x | {same}/{len(items)} |")


if __name__ == "__main__":
    main()
