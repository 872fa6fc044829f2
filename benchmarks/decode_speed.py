"""Benchmark the models' decoding loop on step 5's prompts, in one process: static batches against continuous batching.

The held-out math-tutor test prompts, zero-shot and few-shot (`worth_it.few_shot_system`, 3 worked examples), are
answered greedily by the base model (bfloat16 where the CPU multiplies it in hardware), 160 tokens at most:

- the baseline: static batches of 16 prompts, each batch running until its longest answer ends, every prompt read
  in full (the engine's decoding before continuous batching, with its cache written in place);
- continuous batching (`decoding.ContinuousBatch`, the engine's defaults: 32 rows, 8,192 cache positions): an
  ended row's place taken by a waiting prompt, and a prefix shared by a group of prompts read once.

Prints each setup's seconds, answer tokens per second, decoding steps, the ratio to the baseline, and how many
answers equal the baseline's (bfloat16 rounds differently with other batch shapes, so a few differ).

    python benchmarks/decode_speed.py [--items 48]
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwidgets.data.dataset import load_jsonl  # noqa: E402
from ftwidgets.data.split import split_examples  # noqa: E402
from ftwidgets.engine import decoding, models  # noqa: E402
from ftwidgets.engine.chat import end_token_ids, prompt_ids  # noqa: E402
from ftwidgets.engine.chat_models import ChatModels  # noqa: E402
from ftwidgets.engine.serving_types import MAX_BATCH_TOKENS  # noqa: E402
from ftwidgets.evaluation.evaluate import System, to_eval_items  # noqa: E402
from ftwidgets.evaluation.worth_it import few_shot_system  # noqa: E402
from ftwidgets.runtime.machine import cpu_has_native_bf16  # noqa: E402


def answer(model, tok, prompts, *, rows: int, budget: int, static: bool) -> tuple[list[list[int]], int]:
    import torch

    steps = [0]
    model_forward = model.forward

    def counted(*args, **kwargs):
        steps[0] += 1
        return model_forward(*args, **kwargs)

    model.forward = counted
    settings = dict(pad=tok.pad_token_id, eos=set(end_token_ids(tok)), row_multiple=models.row_multiple(model.dtype))
    out: list[list[int]] = []
    with torch.no_grad():
        if static:
            shared = decoding.SHARED_PREFIX_MIN
            decoding.SHARED_PREFIX_MIN = 10**9  # every prompt read in full
            try:
                for start in range(0, len(prompts), rows):
                    part = prompts[start : start + rows]
                    batch = decoding.ContinuousBatch(model, max_rows=len(part), max_tokens=10**9, **settings)
                    out += batch.run(part, [160] * len(part))
            finally:
                decoding.SHARED_PREFIX_MIN = shared
        else:
            batch = decoding.ContinuousBatch(model, max_rows=rows, max_tokens=budget, **settings)
            out = batch.run(prompts, [160] * len(prompts))
    model.forward = model_forward
    return out, steps[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=48)
    args = parser.parse_args()
    split = split_examples(load_jsonl(ROOT / "data" / "samples" / "math_tutor.jsonl"))
    items = to_eval_items(split.test)[: args.items]
    chat = ChatModels(cpu_bf16=cpu_has_native_bf16())
    model, tok, _ = chat._with_adapter(models.DEFAULT_BASE_MODEL, None)
    print(
        f"# decoding, {len(items)} math-tutor test prompts, {model.dtype}, hardware bfloat16: {cpu_has_native_bf16()}"
    )
    few = few_shot_system("base", split.train, items, max_tokens=160)
    for name, system in (("zero-shot", System("base")), (f"few-shot ({len(few.shots)} examples)", few)):
        prompts = [prompt_ids(tok, system.messages(item)) for item in items]
        answer(model, tok, prompts[:2], rows=2, budget=MAX_BATCH_TOKENS, static=False)  # warm up
        results = {}
        for setup, static, rows in (("static batches of 16", True, 16), ("continuous batching", False, 32)):
            started = time.perf_counter()
            out, steps = answer(model, tok, prompts, rows=rows, budget=MAX_BATCH_TOKENS, static=static)
            results[setup] = (time.perf_counter() - started, out, steps)
        base_time, base_out, _ = results["static batches of 16"]
        print(f"\n{name}, {sum(map(len, prompts)) // len(prompts)} prompt tokens on average")
        print("| setup | seconds | answer tokens/s | forward passes | vs baseline | answers equal to the baseline's |")
        print("|---|---|---|---|---|---|")
        for setup, (seconds, out, steps) in results.items():
            same = sum(a == b for a, b in zip(out, base_out))
            tokens = sum(map(len, out))
            print(
                f"| {setup} | {seconds:.1f} | {tokens / seconds:.0f} | {steps} | {base_time / seconds:.2f}x "
                f"| {same}/{len(out)} |"
            )


if __name__ == "__main__":
    main()
