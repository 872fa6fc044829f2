"""Benchmark the evaluation step (notebook 05's cell) on the embedded engine, in one session.

The same held-out test prompts are evaluated by `ftwidgets.evaluate.evaluate` twice,
each into an empty cache: one request at a time (``concurrency=1``, the baseline)
and with the notebook's setting (``concurrency=16``), which the engine turns into
batched ``generate`` calls. Prints the speed-up and checks the answers are identical
(greedy decoding).

    python benchmarks/eval_speed.py [--items 32] [--max-tokens 160]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwidgets.dataset import load_jsonl  # noqa: E402
from ftwidgets.engine import start  # noqa: E402
from ftwidgets.evaluate import evaluate, to_eval_items  # noqa: E402
from ftwidgets.split import split_examples  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    test = split_examples(load_jsonl(ROOT / "data" / "samples" / "math_tutor.jsonl"), seed=42).test
    items = to_eval_items(test[: args.items])
    with tempfile.TemporaryDirectory() as d:
        engine = start(Path(d) / "engine")
        client = engine.client(max_retries=0)
        gen = engine._server.config.app.state.engine.generator
        models = {"base": "smollm2-135m-instruct"}
        client.chat.completions.create(model=models["base"], messages=items[0].messages, max_tokens=1)  # load the model
        runs = {}
        for label, concurrency in (("one at a time", 1), (f"concurrency {args.concurrency}", args.concurrency)):
            before = gen.batches
            t0 = time.perf_counter()
            ev = evaluate(client, items, models, cache_dir=Path(d) / label, concurrency=concurrency, max_tokens=args.max_tokens)
            runs[label] = (time.perf_counter() - t0, gen.batches - before, ev.answers("base"))
            print(f"  {label:>16}: {runs[label][0]:6.1f} s in {runs[label][1]} generate calls", flush=True)
        engine.stop()
    (t_one, _, a_one), (t_many, _, a_many) = runs.values()
    same = sum(x == y for x, y in zip(a_one, a_many))
    print(f"{len(items)} test prompts, {args.max_tokens} tokens max: speed-up {t_one / t_many:.1f}x "
          f"(target: several times); identical answers {same}/{len(items)}")


if __name__ == "__main__":
    main()
