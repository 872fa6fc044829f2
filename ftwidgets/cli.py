"""The ``ftw`` command: validate, stats, split and convert data; propose and run graders; serve the embedded engine.

Exit codes: 0 success (a valid file), 1 the data is invalid, 2 a usage error (bad
arguments, missing file). Bad input never shows a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ._version import __version__
from .base_models import OPENAI_BASE_MODEL
from .data.dataset import DataError
from .data.importers import SCHEMAS
from .data.readers import READERS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one clear line
        self.print_usage(sys.stderr)
        self.exit(2, f"ftw: error: {message}\n")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    if not rows:
        return ""
    widths = {c: min(60, max(len(c), *(len(str(r.get(c, ""))) for r in rows))) for c in cols}

    def fmt(row: dict[str, Any]) -> str:
        return "  ".join(
            str(row.get(c, "") if row.get(c) is not None else "")[: widths[c]].ljust(widths[c]) for c in cols
        )

    return "\n".join([fmt({c: c for c in cols}), "  ".join("-" * widths[c] for c in cols), *map(fmt, rows)])


def _rules(args: argparse.Namespace):
    from .data.validate import Rules

    kw = {"allow_small": args.allow_small}
    if args.model:
        kw["model"] = args.model
    if args.token_limit:
        kw["token_limit"] = args.token_limit
    return Rules(**kw)


def cmd_validate(args: argparse.Namespace) -> int:
    from .data.validate import validate_file

    report = validate_file(args.file, rules=_rules(args), workers=args.workers, max_per_code=args.max_findings)
    if args.json:
        _print_json(report.to_dict())
        return 0 if report.valid else 1
    verdict = "VALID" if report.valid else "INVALID"
    print(
        f"{args.file}: {verdict} - {report.examples:,} examples, {report.error_count:,} errors, "
        f"{report.warning_count:,} warnings"
    )
    summary = report.summary()
    if summary:
        print("\nWhat was found (counted, then explained):")
        print(_table(summary, ["severity", "code", "count", "title", "hint"]))
        rows = [f.to_dict() for f in report.sorted_findings()[: args.limit]]
        print(f"\nWhere (first {min(args.limit, len(report.findings))} of {sum(report.counts.values()):,}):")
        print(_table(rows, ["line", "message_index", "severity", "code", "message"]))
    _print_tokens(report.tokens)
    fv = report.quality.get("fact_verdict")
    if fv:
        print(f"\n{fv['sentence']}")
    return 0 if report.valid else 1


def _print_tokens(t: dict[str, Any]) -> None:
    if not t:
        return
    pe = t.get("per_example", {})
    print(
        f"\nTokens ({t['encoding']}): {t['total']:,} in all; per example mean {pe.get('mean', 0)}, "
        f"p95 {pe.get('p95', 0)}, max {pe.get('max', 0)}; {t['over_limit']} over the {t['limit']:,} limit."
    )
    cost = f"${t['estimated_cost_usd']:,.2f}" if t.get("estimated_cost_usd") is not None else "unknown"
    print(
        f'"auto" epochs would pick {t["auto_epochs"]}: {t["billable_tokens"]:,} billable tokens, about {cost} '
        f"(prices as of {t['prices_as_of']})."
    )


def cmd_stats(args: argparse.Namespace) -> int:
    from .data.validate import validate_file

    report = validate_file(args.file, rules=_rules(args), workers=args.workers)
    stats = {
        "examples": report.examples,
        "tokens": report.tokens,
        "quality": report.quality,
        "counts": dict(report.counts),
    }
    if args.json:
        _print_json(stats)
        return 0
    print(f"{args.file}: {report.examples:,} examples")
    _print_tokens(report.tokens)
    q = report.quality
    print(f"\nTurns per example: {q.get('turns')}")
    print(
        f"Distinct system prompts: {q.get('distinct_system_prompts')}; "
        f"distinct user bigrams: {q.get('user_distinct_2')}"
    )
    print(f"Exact duplicates: {q.get('exact_duplicates')}; near duplicates: {q.get('near_duplicates')}")
    if q.get("fact_verdict"):
        print(q["fact_verdict"]["sentence"])
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from .data.split import split_file

    manifest = split_file(
        args.file, args.out, seed=args.seed, group_key=args.group_by, stratify=args.stratify, overwrite=args.force
    )
    if args.json:
        _print_json(manifest)
        return 0
    counts = manifest["counts"]
    print(
        f"Split {sum(counts.values()):,} examples into {args.out}: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
    )
    print(f"{manifest['groups']:,} groups; {len(manifest['leaks'])} leaks across splits; manifest.json written.")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .data.dataset import write_jsonl
    from .data.importers import convert_file

    mapping: dict[str, Any] = {}
    if args.user or args.assistant:
        mapping.update(user=args.user, assistant=args.assistant)
    if args.system:
        mapping["system"] = args.system
    conversion = convert_file(args.file, args.schema, default_system=args.default_system, **mapping)
    print(conversion.summary())
    if not conversion.examples:
        print("Nothing converted, nothing written.", file=sys.stderr)
        return 1
    n = write_jsonl(args.out, conversion.examples, overwrite=args.force, protect=[args.file])
    print(f"Wrote {n:,} examples to {args.out}. Next: ftw validate {args.out}")
    return 1 if conversion.rejected else 0


def cmd_labels(args: argparse.Namespace) -> int:
    from .data.labels import LabelReport, example_labels, openai_label_report, read_examples

    if args.backend == "openai":
        report = openai_label_report(args.file, show=args.show)
    else:
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        from .engine import models
        from .engine.chat import label_pieces
        from .engine.recipe import MAX_SEQ_LEN

        hf_logging.set_verbosity_error()
        base = args.base_model or models.DEFAULT_BASE_MODEL
        try:
            tok = AutoTokenizer.from_pretrained(models.resolve(base))
        except (OSError, models.ModelUnavailable) as exc:
            raise DataError(f"could not load the tokenizer of {base}: {exc}") from None
        report = LabelReport(f"the embedded engine ({base}'s chat template; assistant replies, weight honoured)")
        for line, messages, why in read_examples(args.file):
            if messages is None:
                report.unreadable[line] = why
                continue
            pieces, trained, total = label_pieces(tok, messages, MAX_SEQ_LEN)
            shown = pieces if len(report.examples) < args.show else []
            report.examples.append(example_labels(line, messages, trained, total, shown))
    if args.json:
        _print_json(report.to_json())
    else:
        print(report.summary())
        for example in report.examples[: args.show]:
            print(
                f"\nline {example.line}: {example.trained_tokens} of {example.total_tokens} tokens train "
                "(trained text between [[ and ]]):"
            )
            print("".join(f"[[{text}]]" if trained else text for text, trained in example.pieces))
    return 0 if report.ok else 1


def cmd_export(args: argparse.Namespace) -> int:
    from .engine.export import ExportError, export

    try:
        out = export(
            args.model, args.format, args.out, data_dir=args.data_dir, quantize=args.quantize, force=args.force
        )
    except ExportError as exc:
        print(f"ftw: error: {exc}", file=sys.stderr)
        return 1
    print(f"Exported {args.model} as {args.format} to {out}: " + ", ".join(sorted(p.name for p in out.iterdir())))
    print(f"How to run it: {out / 'README.md'}")
    return 0


def cmd_engine_serve(args: argparse.Namespace) -> int:
    from .engine.server import serve

    return serve(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        api_key=args.api_key,
        threads=args.threads,
        base_models=args.base_model,
        exit_when_unused=args.exit_when_unused,
        train_processes=args.train_processes,
        allow_python_graders=args.allow_python_graders,
    )


def _report_flaws(read) -> None:
    for line, why in read.flaws:
        print(f"{read.path}: line {line}: {why}", file=sys.stderr)


def cmd_graders_propose(args: argparse.Namespace) -> int:
    from .graders import propose_graders, read_examples

    read = read_examples(args.file)
    _report_flaws(read)
    if not read.examples:
        print(f"ftw: error: {args.file}: no example with an assistant reply to propose graders from", file=sys.stderr)
        return 1
    _print_json(propose_graders(read.examples))
    return 0


def _model_grader_chat(graders: list) -> Any:
    """A chat function for model graders (the configured backend), only when a grader needs one."""
    from .graders import client_chat
    from .graders.definitions import sub_graders

    def models(g) -> bool:
        return g["type"] in ("score_model", "label_model") or any(models(s) for s in sub_graders(g).values())

    if not any(models(g) for g in graders):
        return None
    from .backends import client

    return client_chat(client(os.environ.get("FTW_BACKEND", "engine")))


def cmd_grade(args: argparse.Namespace) -> int:
    from .data.dataset import load_jsonl
    from .graders import Grading, load_graders, preview, read_examples

    graders = load_graders(args.graders)
    read = read_examples(args.data)
    _report_flaws(read)
    answers = None
    if args.answers:
        answers = [a.get("output_text") if isinstance(a, dict) else None for a in load_jsonl(args.answers)]
        if len(answers) != len(read.examples):
            raise DataError(
                f"{args.answers} has {len(answers)} answers and {args.data} {len(read.examples)} gradable examples: "
                "give one answer line per example, in the data's order"
            )
        if (bad := next((n for n, a in enumerate(answers, 1) if not isinstance(a, str)), None)) is not None:
            raise DataError(f'{args.answers}: line {bad}: an answer line is {{"output_text": "..."}}')
    with Grading(_model_grader_chat(graders)) as grading:
        results = preview(graders, read.examples, grading, read.lines, answers)
    _print_json({"graders": {r.name: {"mean": r.mean, "n": r.n} for r in results}})
    return 0


def cmd_engine_stop(args: argparse.Namespace) -> int:
    from .engine.server import data_folder, stop_process

    data = data_folder(args.data_dir)
    print(f"stopped the engine of {data}" if stop_process(args.data_dir) else f"no engine runs on {data}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ftw", description="Fine-Tuning Workbook: check, split and fine-tune chat data.")
    p.add_argument("--version", action="version", version=f"ftw {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    _add_data_commands(sub)
    _add_engine_commands(sub)
    _add_grading_commands(sub)
    _add_labels_command(sub)
    _add_export_command(sub)
    return p


def _add_data_commands(sub) -> None:
    """``ftw validate``, ``stats``, ``split`` and ``convert``: a data file checked, measured, split, brought in."""

    def data_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("file", help="chat fine-tuning JSONL file")
        sp.add_argument("--model", help="target model (token limit and encoding); default " + OPENAI_BASE_MODEL)
        sp.add_argument("--token-limit", type=int, help="override the per-example token limit")
        sp.add_argument("--allow-small", action="store_true", help="accept 10-99 examples (refused by default)")
        sp.add_argument(
            "--workers", type=int, default=None, help="worker processes (default: one per core for big files)"
        )
        sp.add_argument("--json", action="store_true", help="print one JSON object for machines")

    v = sub.add_parser("validate", help="check a JSONL file against every rule")
    data_opts(v)
    v.add_argument("--limit", type=int, default=50, help="findings to list (default 50)")
    v.add_argument("--max-findings", type=int, default=10_000, help="findings kept per code (counts stay exact)")
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser("stats", help="token, cost, length and diversity statistics")
    data_opts(s)
    s.set_defaults(func=cmd_stats)

    sp = sub.add_parser("split", help="seeded, grouped 80/10/10 train/validation/test split")
    sp.add_argument("file")
    sp.add_argument("--out", required=True, help="output folder")
    sp.add_argument("--seed", type=int, default=42)
    sp.add_argument(
        "--group-by",
        choices=["first_user"],
        default=None,
        help="keep examples with the same first user message together",
    )
    sp.add_argument("--stratify", choices=["system"], default=None, help="keep each system prompt's proportions")
    sp.add_argument("--force", action="store_true", help="replace existing split files")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_split)

    c = sub.add_parser(
        "convert",
        help=f"a {', '.join(sorted(READERS))} file of ShareGPT, Alpaca, prompt/completion or chat records, or a "
        "table's named columns, to chat JSONL (every record converted or reported; exit code 1 when any was "
        "reported)",
    )
    c.add_argument("file")
    c.add_argument(
        "--from",
        dest="schema",
        choices=SCHEMAS,
        help="the records' schema (default: guessed from the first record's keys or a table's columns)",
    )
    c.add_argument("--out", required=True)
    c.add_argument("--user", help="column holding the user message")
    c.add_argument("--assistant", help="column holding the assistant answer")
    c.add_argument("--system", help="column holding the system prompt")
    c.add_argument("--default-system", help="system prompt for rows without one")
    c.add_argument("--force", action="store_true", help="replace the output file if it exists")
    c.set_defaults(func=cmd_convert)


def _add_engine_commands(sub) -> None:
    """``ftw engine serve`` and ``ftw engine stop``."""
    e = sub.add_parser("engine", help="the embedded OpenAI-compatible fine-tuning engine")
    esub = e.add_subparsers(dest="engine_command", parser_class=_Parser)
    es = esub.add_parser("serve", help="serve the engine's HTTP API")
    es.add_argument("--host", default="127.0.0.1")
    es.add_argument("--port", type=int, default=8765)
    es.add_argument(
        "--data-dir", default=None, help="where files, jobs and models live (default ~/.cache/ftwidgets/engine)"
    )
    es.add_argument("--api-key", default=None, help="bearer key clients must send (default: generated and printed)")
    es.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    es.add_argument(
        "--train-processes",
        type=int,
        default=None,
        help="train each job on N data-parallel processes through `accelerate launch` (default: "
        "FTW_TRAIN_PROCESSES, else 1); one per GPU on a GPU machine",
    )
    es.add_argument(
        "--base-model", action="append", help="also offer this local folder or Hugging Face id (repeatable)"
    )
    es.add_argument(
        "--exit-when-unused",
        action="store_true",
        help="exit once no notebook that attached lives and no job runs (how notebooks start it)",
    )
    es.add_argument(
        "--allow-python-graders",
        action="store_true",
        help="run python graders sent by clients even when listening beyond loopback (they run in a sandboxed "
        "process with time and memory limits; on loopback they always run)",
    )
    es.set_defaults(func=cmd_engine_serve)
    est = esub.add_parser("stop", help="stop the engine that serves a data folder")
    est.add_argument("--data-dir", default=None, help="its data folder (default ~/.cache/ftwidgets/engine)")
    est.set_defaults(func=cmd_engine_stop)


def _add_labels_command(sub) -> None:
    """``ftw labels``: what a model learns from, example by example."""
    lb = sub.add_parser(
        "labels",
        help="what a model learns from: the trained tokens of each example (exit code 1 "
        "when an example trains on nothing)",
    )
    lb.add_argument("file", help="chat fine-tuning JSONL file")
    lb.add_argument("--show", type=int, default=2, help="examples to show with their trained text marked (default 2)")
    lb.add_argument("--json", action="store_true", help="print one JSON object for machines")
    lb.add_argument(
        "--backend",
        choices=["engine", "openai"],
        default="engine",
        help="engine: the embedded engine's chat template, token by token (default); openai: OpenAI's "
        "documented rule, message by message",
    )
    lb.add_argument(
        "--base-model",
        default=None,
        help="the engine's base model whose template to use (default the embedded SmolLM2)",
    )
    lb.set_defaults(func=cmd_labels)


def _add_export_command(sub) -> None:
    """``ftw export``: a fine-tuned model taken out of the engine."""
    ex = sub.add_parser("export", help="take a fine-tuned model with you: its adapter, a merged model or a GGUF file")
    ex.add_argument(
        "model", help="a fine-tuned model or checkpoint the engine serves (ft:..., ft:...:ckpt-step-N) or a job id"
    )
    ex.add_argument(
        "--format",
        choices=["adapter", "merged", "gguf"],
        default="adapter",
        help="adapter: the LoRA adapter with an Ollama Modelfile (a few MB); merged: a Hugging Face folder "
        "with the adapter merged in; gguf: one GGUF file for llama.cpp and Ollama (default adapter)",
    )
    ex.add_argument(
        "--out",
        default=None,
        help="the folder to write (must not exist or be empty; default: named after the model, here)",
    )
    ex.add_argument(
        "--quantize", choices=["f16", "q8_0", "f32"], default="f16", help="the GGUF's precision (default f16)"
    )
    ex.add_argument(
        "--data-dir",
        default=None,
        help="the engine's data folder (default FTW_ENGINE_DIR, else ~/.cache/ftwidgets/engine)",
    )
    ex.add_argument("--force", action="store_true", help="replace a folder that is not empty")
    ex.set_defaults(func=cmd_export)


def _add_grading_commands(sub) -> None:
    """``ftw graders propose`` and ``ftw grade``: success as OpenAI graders, for scripts and CI."""
    g = sub.add_parser("graders", help="graders (OpenAI's format) that say what a right answer is")
    gsub = g.add_subparsers(dest="graders_command", parser_class=_Parser)
    gp = gsub.add_parser("propose", help="print graders proposed from a chat JSONL file's reference answers")
    gp.add_argument("file")
    gp.set_defaults(func=cmd_graders_propose)
    gr = sub.add_parser("grade", help="each grader's mean over a data file's answers (or its own references)")
    gr.add_argument("--graders", required=True, help="a JSON list of OpenAI grader objects")
    gr.add_argument("--data", required=True, help="the chat JSONL file (each line's last reply is its reference)")
    gr.add_argument(
        "--answers", default=None, help='JSONL of {"output_text": ...}, one per example in the data\'s order'
    )
    gr.set_defaults(func=cmd_grade)


def _quiet_closed_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's own flush at exit finds no closed pipe to complain about."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except BrokenPipeError:  # `ftw ... | head` closed the pipe: not an error (before OSError, its parent)
        _quiet_closed_stdout()
        return 0
    except (DataError, OSError) as exc:
        print(f"ftw: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ftw: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
