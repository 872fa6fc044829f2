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

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import disk
from ..job_states import ACTIVE
from . import models
from .contract import JobFolder
from .store import NotFound, Store

FORMATS = ("adapter", "merged", "gguf")
GGUF_PRECISIONS = ("f16", "q8_0", "f32")
# where the default base comes from outside this engine, for the model card, adapter_config.json and Ollama
PUBLIC_NAMES = {models.DEFAULT_BASE_MODEL: ("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2:135m")}
# llama.cpp names the pre-tokenizer (how text is split before BPE) of the tokenizers it knows
PRE_TOKENIZERS = {models.DEFAULT_BASE_MODEL: "smollm"}


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
    from .server import default_data_dir

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if quantize not in GGUF_PRECISIONS:
        raise ExportError(f"unknown GGUF precision {quantize!r}: choose one of {', '.join(GGUF_PRECISIONS)}")
    source = find_model(model, data_dir if data_dir is not None else default_data_dir())
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
        card = model_card(source, fmt, quantize, measured, graders)
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
    write_gguf(
        model,
        tok,
        folder / file,
        quantize=quantize,
        name=source.name,
        pre_tokenizer=PRE_TOKENIZERS.get(source.base, "default"),
    )
    (folder / "Modelfile").write_text(
        "# Ollama: `ollama create my-model -f Modelfile`, then `ollama run my-model`.\n"
        "# llama.cpp: `llama-cli -m " + file + " -cnv` uses the chat template inside the file.\n"
        f"FROM ./{file}\n" + _ollama_chat_lines(source)
    )


# --- GGUF ------------------------------------------------------------------------------------------


def write_gguf(
    model, tok, path: Path, *, quantize: str = "f16", name: str = "model", pre_tokenizer: str = "default"
) -> None:
    """A Llama model and its tokenizer as one GGUF file, as llama.cpp's converter lays it out: its tensor names,
    the query and key rows permuted for its rotary embedding, norms in F32, the tokenizer as GPT-2 BPE."""
    import gguf
    import numpy as np

    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    rope = getattr(cfg, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        raise ExportError(f"GGUF export does not carry {rope['rope_type']!r} rope scaling yet")
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_freq_base(float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(cfg.vocab_size)
    qtype = {
        "f16": gguf.GGMLQuantizationType.F16,
        "q8_0": gguf.GGMLQuantizationType.Q8_0,
        "f32": gguf.GGMLQuantizationType.F32,
    }[quantize]
    writer.add_file_type(
        {
            "f16": gguf.LlamaFileType.MOSTLY_F16,
            "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
            "f32": gguf.LlamaFileType.ALL_F32,
        }[quantize]
    )
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    add_tokenizer(writer, tok, cfg.vocab_size, pre_tokenizer)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reuses token_embd for the output layer
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ExportError(f"GGUF export does not know where {hf_name} goes in a Llama file")
        data = tensor.detach().to("cpu").float().numpy()
        if hf_name.endswith("q_proj.weight"):
            data = _permute_for_rope(data, cfg.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            data = _permute_for_rope(data, cfg.num_key_value_heads)
        if data.ndim == 1 or qtype == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(gguf_name, data.astype(np.float32))
        elif qtype == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(gguf_name, data.astype(np.float16))
        else:
            writer.add_tensor(gguf_name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _permute_for_rope(weights, n_head: int):
    """Hugging Face's Llama rotates the two halves of each head; llama.cpp interleaves them: reorder the rows
    (transformers' GGUF reader undoes exactly this)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def add_tokenizer(writer, tok, vocab_size: int, pre_tokenizer: str = "default") -> None:
    """A byte-level BPE tokenizer (GPT-2's kind, SmolLM2's and Llama 3's) as llama.cpp reads it: every token in id
    order with its type, the merges, the special ids and the chat template."""
    import gguf

    spec = json.loads(tok.backend_tokenizer.to_str())
    if spec["model"]["type"] != "BPE":
        raise ExportError(f"GGUF export writes byte-level BPE tokenizers, and this one is {spec['model']['type']}")
    by_id = {i: t for t, i in spec["model"]["vocab"].items()}
    added = {a["id"]: a for a in spec.get("added_tokens", [])}
    tokens, types = [], []
    for i in range(vocab_size):
        if i in added:
            tokens.append(added[i]["content"])
            types.append(gguf.TokenType.CONTROL if added[i]["special"] else gguf.TokenType.USER_DEFINED)
        elif i in by_id:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"].get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre_tokenizer)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for kind, add in (
        ("bos", writer.add_bos_token_id),
        ("eos", writer.add_eos_token_id),
        ("unk", writer.add_unk_token_id),
        ("pad", writer.add_pad_token_id),
    ):
        token_id = getattr(tok, f"{kind}_token_id", None)
        if token_id is not None:
            add(int(token_id))
    writer.add_add_bos_token(bool(getattr(tok, "add_bos_token", False)))
    writer.add_add_space_prefix(False)
    if tok.chat_template:
        writer.add_chat_template(tok.chat_template)


# --- Ollama and the model card ----------------------------------------------------------------------


def public_base(base: str) -> tuple[str, str]:
    """(Hugging Face id, Ollama name) of a base model; a local folder or other id stands for itself."""
    return PUBLIC_NAMES.get(base, (base, base))


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


def model_card(source: Source, fmt: str, quantize: str, verdict: str | None, graders: Path | None = None) -> str:
    """The README.md of an export: what it is, how it was trained (data with checksums, hyperparameters, the step
    early stopping kept), how it measured, and how to run it."""
    from ..early_stopping import stop_from_events

    job = source.store.get_job(source.job_id)
    folder = JobFolder(source.store.root / "jobs" / source.job_id)
    stop = stop_from_events(folder.events())
    hf_id, ollama = public_base(source.base)
    hp = job.hyperparameters
    lines = [
        "---",
        f"base_model: {hf_id}",
        "library_name: " + ("peft" if fmt == "adapter" else "transformers"),
        "tags: [fine-tuning-workbook, lora]",
        "---",
        "",
        f"# {source.name}",
        "",
        f"A LoRA fine-tune of `{hf_id}` made with the Fine-Tuning Workbook's engine (job `{source.job_id}`), "
        f"exported as **{fmt}**" + (f" ({quantize.upper()})" if fmt == "gguf" else "") + ".",
        "",
        "## Training",
        "",
    ]
    for label, facts in (
        ("Training data", _file_facts(source.store, job.training_file)),
        ("Validation data", _file_facts(source.store, job.validation_file)),
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
    if ":ckpt-step-" in source.name:
        lines.append(f"- This export is the checkpoint at step {source.name.rsplit('-', 1)[-1]}")
    lines += [
        "",
        "## Evaluation",
        "",
        verdict or "Not evaluated by the workbook's step 5 (`05_evaluate`).",
        *(["", graders_note(graders)] if graders is not None else []),
        "",
        "## Run it",
        "",
    ]
    if fmt == "adapter":
        lines += [
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
    elif fmt == "merged":
        lines += [
            "```python",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")',
            'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
            "```",
        ]
    else:
        lines += [
            "Ollama: `ollama create my-model -f Modelfile`, then `ollama run my-model`.",
            "llama.cpp: `llama-cli -m <file>.gguf -cnv`.",
            'transformers: `AutoModelForCausalLM.from_pretrained("path/to/this/folder", gguf_file="<file>.gguf")`.',
        ]
    return "\n".join(lines) + "\n"
