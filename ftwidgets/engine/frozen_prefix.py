"""The frozen lower layers' output per example, computed once per job and read back at every later pass.

With LoRA on the top K decoder layers only, the layers below them never change during a job,
and nothing in them is random (no LoRA there, no dropout), so an example's hidden states where
the trainable part begins are the same at every epoch and every evaluation. The first pass
computes them without gradients and appends them to a file in the job's folder; later passes
read them and run only the top K layers. They depend on the token ids alone: batches are padded
on the right and attention is causal, so neither the padding nor the other examples in a batch
change them.

The file, not memory, holds them (about 0.3 GB for 960 examples of SmolLM2): a training
process on Binder has no 0.3 GB to spare, and reading a few hundred kilobytes per batch costs
nothing next to the layers it saves.

A single training process stores every example's states before its first step (`store`, part
by part) and then drops the frozen layers (`drop_frozen_layers`): their weights, mapped from the model
file, go back to the system (0.14 GB of SmolLM2's in bfloat16 with LoRA on the top 10 layers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..runtime import machine
from . import models


def supports(decoder: Any, start: int) -> bool:
    """Whether `decoder` (a Hugging Face decoder of the Llama family) can be run from layer `start`:
    the pieces the split forward uses exist, and the frozen layers are deterministic."""
    config = getattr(decoder, "config", None)
    parts = all(hasattr(decoder, name) for name in ("embed_tokens", "layers", "norm", "rotary_emb"))
    return (
        parts
        and config is not None
        and 0 < start < len(decoder.layers)
        and not getattr(config, "attention_dropout", 0.0)
        and not getattr(config, "hidden_dropout", 0.0)
    )


def run_layers(decoder: Any, hidden, attention_mask, start: int, end: int):
    """Hidden states after layers ``[start, end)`` of `decoder`, from the states entering layer `start`
    (as the decoder's own forward computes them: causal mask, rotary positions 0..width-1)."""
    import torch
    from transformers.masking_utils import create_causal_mask

    positions = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
    mask = create_causal_mask(
        config=decoder.config, inputs_embeds=hidden, attention_mask=attention_mask, cache=None, position_ids=positions
    )
    rotary = decoder.rotary_emb(hidden, position_ids=positions)
    for layer in decoder.layers[start:end]:
        hidden = layer(hidden, attention_mask=mask, position_embeddings=rotary, position_ids=positions)
    return hidden


class FrozenPrefix:
    """Per example (keyed by its token ids), the hidden states entering the first trainable layer."""

    def __init__(self, decoder: Any, start: int, path: Path):
        self.decoder, self.start, self.path = decoder, start, Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"")
        self._where: dict[tuple[int, ...], tuple[int, int]] = {}  # ids -> (byte offset, tokens)
        self._size = 0
        self.computed = self.reused = 0  # examples, for the tests and the benchmark

    def hidden(self, ids, attention_mask):
        """The states entering layer `start` for a right-padded batch, shaped like the batch (padding zeroed)."""
        import torch

        keys = [tuple(row[: int(n)].tolist()) for row, n in zip(ids, attention_mask.sum(1))]
        stored = self.store(keys)
        dtype = self.decoder.embed_tokens.weight.dtype
        out = torch.zeros(ids.shape[0], ids.shape[1], self.decoder.config.hidden_size, dtype=dtype)
        with open(self.path, "rb") as fh:
            for row, key in enumerate(keys):
                offset, n = self._where[key]
                fh.seek(offset)
                out[row, :n] = torch.frombuffer(
                    bytearray(fh.read(n * out.shape[2] * out.element_size())), dtype=dtype
                ).view(n, -1)
        self.reused += len(keys) - stored
        return out.to(ids.device)

    def store(self, sequences) -> int:
        """Compute and store, as one padded part, the states of those of `sequences` (token ids) not stored yet;
        returns how many that was."""
        missing = [k for k in dict.fromkeys(tuple(s) for s in sequences) if k not in self._where]
        if missing:
            self._compute(missing)
        self.computed += len(missing)
        return len(missing)

    def _compute(self, keys: list[tuple[int, ...]]) -> None:
        import torch

        width = models.round_up(max(len(k) for k in keys), models.row_multiple(self.decoder.embed_tokens.weight.dtype))
        device = self.decoder.embed_tokens.weight.device
        ids = torch.zeros((len(keys), width), dtype=torch.long)  # the padding's value is masked out
        mask = torch.zeros((len(keys), width), dtype=torch.long)
        for row, key in enumerate(keys):
            ids[row, : len(key)] = torch.tensor(key)
            mask[row, : len(key)] = 1
        ids, mask = ids.to(device), mask.to(device)
        with torch.no_grad():
            states = run_layers(self.decoder, self.decoder.embed_tokens(ids), mask, 0, self.start)
        states = states.to("cpu", self.decoder.embed_tokens.weight.dtype)  # stored as `hidden` reads them back
        with open(self.path, "ab") as fh:
            for row, key in enumerate(keys):
                data = states[row, : len(key)].contiguous().view(torch.uint8).numpy().tobytes()
                fh.write(data)
                self._where[key] = (self._size, len(key))
                self._size += len(data)

    def drop_frozen_layers(self) -> int:
        """Replace the frozen layers with stubs that refuse to run, and hand their weights back to the system
        (`machine.hand_back_file_pages`, then the allocator's); returns the bytes handed back from the file. Only
        once every sequence the job will show has been stored: a new one would need those layers."""
        import gc

        layers = self.decoder.layers
        handed = machine.hand_back_file_pages([t for layer in layers[: self.start] for t in layer.parameters()])
        for index in range(self.start):
            layers[index] = _dropped_layer(index)
        gc.collect()
        machine.return_freed_memory()
        return handed

    def close(self) -> None:
        """Delete the file (the job's folder keeps adapters and records, not activations)."""
        self.path.unlink(missing_ok=True)


def _dropped_layer(index: int):
    """A frozen layer's stand-in once its output is stored: running it is a bug, said as one."""
    import torch

    class DroppedLayer(torch.nn.Module):
        def forward(self, *_args, **_kwargs):
            raise RuntimeError(f"frozen layer {index} was dropped once every example's output was stored")

    return DroppedLayer()
