"""A Llama model and its tokenizer as one GGUF file, laid out as llama.cpp's own converter lays it out: the
llama.cpp knowledge of the engine's export (tensor names, the query and key rows' order, the tokenizer's form), in
one place and apart from the export's transaction, written with the ``gguf`` package (no llama.cpp build)."""

from __future__ import annotations

import json
from pathlib import Path

from .models import DEFAULT_BASE_MODEL

PRECISIONS = ("f16", "q8_0", "f32")
# llama.cpp names the pre-tokenizer (how text is split before BPE) of the tokenizers it knows
PRE_TOKENIZERS = {DEFAULT_BASE_MODEL: "smollm"}


class UnsupportedModel(ValueError):
    """A model or tokenizer this writer cannot lay out for llama.cpp; the message says which part and why."""


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
        raise UnsupportedModel(f"GGUF export does not carry {rope['rope_type']!r} rope scaling yet")
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
            raise UnsupportedModel(f"GGUF export does not know where {hf_name} goes in a Llama file")
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
        raise UnsupportedModel(f"GGUF export writes byte-level BPE tokenizers, and this one is {spec['model']['type']}")
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
