"""The README.md of an export: what the model is, how it was trained (its data with checksums, its hyperparameters,
the step early stopping kept), how it measured in the workbook, and how to run it in each format."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .contract import JobFolder
from .models import DEFAULT_BASE_MODEL
from .store import NotFound, Store

# where the default base comes from outside this engine, for the card, adapter_config.json and Ollama
PUBLIC_NAMES = {DEFAULT_BASE_MODEL: ("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2:135m")}


def public_base(base: str) -> tuple[str, str]:
    """(Hugging Face id, Ollama name) of a base model; a local folder or other id stands for itself."""
    return PUBLIC_NAMES.get(base, (base, base))


def _file_facts(store: Store, file_id: str | None) -> dict[str, Any] | None:
    if not file_id:
        return None
    try:
        obj = store.get_file(file_id)
        data = store.file_path(file_id).read_bytes()
    except (NotFound, OSError):
        return {"id": file_id, "missing": True}
    lines = sum(1 for line in data.splitlines() if line.strip())
    return {
        "id": file_id,
        "filename": obj.filename,
        "examples": lines,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def workbook_verdict(model: str) -> str | None:
    """Step 5's verdict sentence, where the workbook's comparison evaluated this very model."""
    from .. import workbook

    path = workbook.comparison_file()
    if path is None:
        return None
    try:
        comparison = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if model not in (comparison.get("models") or {}).values():
        return None
    said = [comparison.get("verdict") or ""]
    if (worth := comparison.get("worth_it")) and worth.get("verdict"):
        said.append(f"Against prompting the base model with examples: {worth['verdict']}")
    if (broke := comparison.get("forgetting")) and broke.get("sentence"):
        said.append(broke["sentence"])
    return "\n\n".join(said)


def workbook_graders(model: str) -> Path | None:
    """The graders a learner saved in step 2 for their own data, where step 5 measured this very model with them."""
    from .. import workbook

    if workbook_verdict(model) is None or (workbook.manifest("01_prepare") or {}).get("task") != "own_data":
        return None
    path = workbook.graders_file()
    return path if path.exists() else None


def graders_note(path: Path) -> str:
    """The card's words for the graders file beside it."""
    try:
        names = [f"{g['name']} ({g['type']})" for g in json.loads(path.read_text())]
    except (OSError, ValueError, KeyError, TypeError):
        names = []
    return (
        f"Success was defined by the graders in `{path.name}` (OpenAI's grader format, beside this card): "
        + ", ".join(names)
        + ". Each line of the evaluation above is one of them."
    )


def model_card(
    store: Store,
    job_id: str,
    name: str,
    base: str,
    fmt: str,
    quantize: str,
    verdict: str | None,
    graders: Path | None = None,
) -> str:
    """The card of the model `name` (trained on `base` by `job_id`) exported as `fmt`; `verdict` is step 5's words."""
    hf_id, _ = public_base(base)
    lines = [
        "---",
        f"base_model: {hf_id}",
        "library_name: " + ("peft" if fmt == "adapter" else "transformers"),
        "tags: [fine-tuning-workbook, lora]",
        "---",
        "",
        f"# {name}",
        "",
        f"A LoRA fine-tune of `{hf_id}` made with the Fine-Tuning Workbook's engine (job `{job_id}`), "
        f"exported as **{fmt}**" + (f" ({quantize.upper()})" if fmt == "gguf" else "") + ".",
        "",
        "## Training",
        "",
        *training_lines(store, job_id, name),
        "",
        "## Evaluation",
        "",
        verdict or "Not evaluated by the workbook's step 5 (`05_evaluate`).",
        *(["", graders_note(graders)] if graders is not None else []),
        "",
        "## Run it",
        "",
        *run_lines(fmt, base),
    ]
    return "\n".join(lines) + "\n"


def training_lines(store: Store, job_id: str, name: str) -> list[str]:
    """How the model was trained: its data (with checksums), hyperparameters, tokens and where early stopping kept."""
    from ..early_stopping import stop_from_events

    job = store.get_job(job_id)
    stop = stop_from_events(JobFolder(store.root / "jobs" / job_id).events())
    hp = job.hyperparameters
    lines = []
    for label, facts in (
        ("Training data", _file_facts(store, job.training_file)),
        ("Validation data", _file_facts(store, job.validation_file)),
    ):
        if facts and not facts.get("missing"):
            lines.append(
                f"- {label}: `{facts['filename']}`, {facts['examples']} examples, {facts['bytes']:,} bytes, "
                f"sha256 `{facts['sha256']}`"
            )
        elif facts:
            lines.append(f"- {label}: file `{facts['id']}` (no longer in the engine)")
    lines.append(
        f"- Hyperparameters: {hp.n_epochs} epochs, batch size {hp.batch_size}, "
        f"learning-rate multiplier {hp.learning_rate_multiplier}, seed {job.seed}"
    )
    if job.trained_tokens:
        lines.append(f"- Trained tokens: {job.trained_tokens:,}")
    if stop is not None:
        where = (
            f"stopped early at step {stop.stopped_at} of {stop.total_steps} planned"
            if stop.stopped_at
            else "ran every planned step"
        )
        lines.append(f"- Early stopping: {where}; the model kept is the one from step {stop.kept_step}")
    if ":ckpt-step-" in name:
        lines.append(f"- This export is the checkpoint at step {name.rsplit('-', 1)[-1]}")
    return lines


def run_lines(fmt: str, base: str) -> list[str]:
    """How to run the export in each format's own tools."""
    hf_id, ollama = public_base(base)
    if fmt == "adapter":
        return [
            "```python",
            "from peft import PeftModel",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            f'base = AutoModelForCausalLM.from_pretrained("{hf_id}")',
            'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
            f'tokenizer = AutoTokenizer.from_pretrained("{hf_id}")',
            "```",
            "",
            f"Ollama: `ollama create my-model -f Modelfile` (its `FROM {ollama}` pulls the base), then "
            "`ollama run my-model`.",
        ]
    if fmt == "merged":
        return [
            "```python",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")',
            'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
            "```",
        ]
    return [
        "Ollama: `ollama create my-model -f Modelfile`, then `ollama run my-model`.",
        "llama.cpp: `llama-cli -m <file>.gguf -cnv`.",
        'transformers: `AutoModelForCausalLM.from_pretrained("path/to/this/folder", gguf_file="<file>.gguf")`.',
    ]
