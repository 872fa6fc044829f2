"""Take a fine-tuned model out of the engine: its LoRA adapter, a merged Hugging Face folder, or one GGUF file.

- ``adapter``: the PEFT folder (``adapter_config.json``, ``adapter_model.safetensors``) that
  ``PeftModel.from_pretrained`` loads onto the base, an Ollama ``Modelfile`` (``FROM`` the base,
  ``ADAPTER .``) and a model card.
- ``merged``: the base with the adapter merged in, saved as a self-contained Hugging Face folder (config,
  tokenizer with its chat template, safetensors): ``AutoModelForCausalLM.from_pretrained(DIR)`` loads it offline.
- ``gguf``: the merged weights in one GGUF file (F16, or Q8_0 or F32 on request) with the base's architecture,
  tokenizer and chat-template metadata, written with the ``gguf`` package (no llama.cpp build), and a
  ``Modelfile`` (``FROM ./<file>.gguf``, the template and the stop token) for Ollama and llama.cpp.

Every export is written into a folder beside the target and renamed into place at the end, so a failed or
interrupted export never leaves a folder that looks complete; a full disk is said to be a full disk.
The engine's folder is read directly (the store), never through a running server, so an export works while
the engine is stopped; a model whose job is still running is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..runtime import disk
from ..runtime.job_states import ACTIVE
from . import models
from .gguf_file import PRE_TOKENIZERS, PRECISIONS, UnsupportedModel, write_gguf
from .model_card import model_card, public_base, workbook_graders, workbook_verdict
from .store import NotFound, Store

FORMATS = ("adapter", "merged", "gguf")


class ExportError(Exception):
    """An export that cannot be made; the message is one line saying why and what to do."""


@dataclass(frozen=True)
class Source:
    """What an export is made from: the model's name, its base, its adapter folder and the job that trained it."""

    name: str
    base: str
    adapter: Path
    job_id: str
    store: Store


def find_model(name: str, data_dir: str | os.PathLike) -> Source:
    """The fine-tuned model or checkpoint `name` (or the model of the job `name`) in the engine's folder."""
    folder = Path(data_dir).expanduser()
    if not (folder / "jobs").is_dir():
        raise ExportError(
            f"{folder} is not an engine's data folder (no jobs/ in it): pass --data-dir or set FTW_ENGINE_DIR"
        )
    store = Store(folder)
    if name.startswith("ftjob-"):
        try:
            job = store.get_job(name)
        except NotFound:
            raise ExportError(f"no job {name} in {folder}") from None
        if job.status in ACTIVE:
            raise ExportError(f"job {name} is still {job.status}: export its model once it has succeeded")
        if not job.fine_tuned_model:
            raise ExportError(f"job {name} ended {job.status} and made no model")
        name = job.fine_tuned_model
    registered = store.models()
    if name in registered:
        entry = registered[name]
        job = store.get_job(entry.job)
        if job.status in ACTIVE:
            raise ExportError(
                f"{name} belongs to job {entry.job}, which is still {job.status}: export it once the job has succeeded"
            )
        adapter = Path(entry.adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise ExportError(f"the adapter of {name} is missing from {adapter}")
        return Source(name, entry.base, adapter, entry.job, store)
    if name == models.DEFAULT_BASE_MODEL or Path(name).expanduser().is_dir():
        raise ExportError(
            f"{name} is a base model: there is nothing of yours in it to export. Export a fine-tuned "
            "model (ft:...) or one of its checkpoints"
        )
    known = sorted(n for n in registered if ":ckpt-" not in n)
    hint = f"; its models: {', '.join(known[:5])}{' ...' if len(known) > 5 else ''}" if known else "; it has none yet"
    raise ExportError(f"no fine-tuned model or checkpoint named {name!r} in {folder}{hint}")


def export(
    model: str,
    fmt: str = "adapter",
    out: str | os.PathLike | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    quantize: str = "f16",
    force: bool = False,
    verdict: str | None = None,
) -> Path:
    """Export `model` (``ft:...``, ``ft:...:ckpt-step-N`` or a job id) as `fmt` into the folder `out`; returns it.

    `out` must not exist or be empty, unless `force`. `quantize` is the GGUF's precision. `verdict` is step 5's
    sentence for the model card (by default the workbook's comparison, where it evaluated this model)."""
    from .server import data_folder

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if quantize not in PRECISIONS:
        raise ExportError(f"unknown GGUF precision {quantize!r}: choose one of {', '.join(PRECISIONS)}")
    source = find_model(model, data_folder(data_dir))
    target = Path(out if out is not None else f"{safe_name(source.name)}-{fmt}").expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} exists and is a file: choose a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ExportError(f"{target} exists and is not empty: choose a new folder, or pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        graders = workbook_graders(source.name) if verdict is None else None
        measured = verdict if verdict is not None else workbook_verdict(source.name)
        card = model_card(source.store, source.job_id, source.name, source.base, fmt, quantize, measured, graders)
        {"adapter": _write_adapter, "merged": _write_merged, "gguf": _write_gguf}[fmt](source, partial, quantize)
        if graders is not None:  # success as the learner defined it travels with the model
            shutil.copyfile(graders, partial / graders.name)
        (partial / "README.md").write_text(card)
        if target.exists():
            shutil.rmtree(target)
        os.replace(partial, target)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if disk.is_full(exc):
            raise ExportError(disk.full_message(target.parent, "the export")) from None
        raise
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-")


# --- the three formats -------------------------------------------------------------------------


def _write_adapter(source: Source, folder: Path, _quantize: str) -> None:
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        shutil.copyfile(source.adapter / name, folder / name)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = public_base(source.base)[0]  # not this machine's cache folder
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    ollama_base = public_base(source.base)[1]
    (folder / "Modelfile").write_text(
        "# Ollama: `ollama create my-model -f Modelfile`, then `ollama run my-model`.\n"
        + ("" if ollama_base != source.base else "# FROM must name this adapter's base model as Ollama knows it.\n")
        + f"FROM {ollama_base}\nADAPTER .\n"
        + _ollama_chat_lines(source)
    )


def merged_model(source: Source):
    """(model, tokenizer): the base in float32 with the adapter merged into its weights."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_src = models.resolve(source.base)
    tok = AutoTokenizer.from_pretrained(base_src)
    base = AutoModelForCausalLM.from_pretrained(base_src, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(source.adapter)).merge_and_unload()
    merged.eval()
    return merged, tok


def _write_merged(source: Source, folder: Path, _quantize: str) -> None:
    model, tok = merged_model(source)
    model.config.name_or_path = source.name
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)


def _write_gguf(source: Source, folder: Path, quantize: str) -> None:
    from transformers import AutoConfig

    kind = getattr(AutoConfig.from_pretrained(models.resolve(source.base)), "model_type", None)
    if kind != "llama":  # said from the config, before the weights are loaded and merged
        raise ExportError(
            f"GGUF export knows Llama-architecture models, and {source.base} is "
            f"{kind!r}: export the merged folder and convert it with llama.cpp"
        )
    model, tok = merged_model(source)
    file = f"{safe_name(source.name)}.{quantize}.gguf"
    try:
        write_gguf(
            model,
            tok,
            folder / file,
            quantize=quantize,
            name=source.name,
            pre_tokenizer=PRE_TOKENIZERS.get(source.base, "default"),
        )
    except UnsupportedModel as exc:
        raise ExportError(str(exc)) from None
    (folder / "Modelfile").write_text(
        "# Ollama: `ollama create my-model -f Modelfile`, then `ollama run my-model`.\n"
        "# llama.cpp: `llama-cli -m " + file + " -cnv` uses the chat template inside the file.\n"
        f"FROM ./{file}\n" + _ollama_chat_lines(source)
    )


# --- Ollama and the model card ----------------------------------------------------------------------


def chat_template(base: str) -> str | None:
    """The base model's chat template, read from its folder (no tokenizer loaded, so no torch in a notebook)."""
    folder = models.local_folder(base) or Path(models.resolve(base))
    if (folder / "chat_template.jinja").is_file():
        return (folder / "chat_template.jinja").read_text()
    try:
        return json.loads((folder / "tokenizer_config.json").read_text()).get("chat_template")
    except (OSError, ValueError):
        return None


def _ollama_chat_lines(source: Source) -> str:
    """The ChatML template and stop token, and the default system prompt the base's template adds (so Ollama
    prompts the model exactly as it was trained); nothing for a template that is not ChatML."""
    template = chat_template(source.base) or ""
    if "<|im_start|>" not in template:
        return "# The chat template inside the base model is used as it is.\n"
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def refuse(message):
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    rendered = env.from_string(template).render(
        messages=[{"role": "user", "content": "X"}], raise_exception=refuse, add_generation_prompt=False
    )
    default_system = ""
    if rendered.startswith("<|im_start|>system\n"):
        default_system = rendered[len("<|im_start|>system\n") :].split("<|im_end|>", 1)[0]
    lines = [
        'TEMPLATE """{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
        '<|im_start|>assistant\n"""',
        'PARAMETER stop "<|im_end|>"',
    ]
    if default_system:
        lines.append(f'SYSTEM """{default_system}"""')
    return "\n".join(lines) + "\n"
