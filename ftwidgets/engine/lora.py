"""LoRA's rules, in one place: the adapter's settings, which layers and modules it covers, and PEFT's config.

Every job puts LoRA on the top layers only, so autograd stops below them and the frozen layers below can be computed
once per example (`frozen_prefix`): the top third in a job of two epochs or more, the top half in a one-epoch job.
The modules are the attention projections where a model has them, else PEFT's choice for its architecture. Nothing
here imports torch or PEFT until a model is built.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LoraSettings(BaseModel):
    """One adapter's shape, as the trainer receives it in its `TrainerSpec`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    r: int
    alpha: int
    dropout: float
    target_modules: list[str]
    layers: int | None = None  # LoRA on the top N decoder layers only (None: all of them)


# attention projections only: measured to learn the math-tutor format in one epoch of 64 examples
# as well as all seven projections, and about 8% faster.
LORA = LoraSettings(r=8, alpha=16, dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])

# A job of two epochs or more trains the top 10 decoder layers only (a third of SmolLM2's 30), whose frozen
# lower layers the trainer then computes once per example: 3 epochs of 200 examples at 2.55x a plain PEFT
# loop's tokens/s with the format learned as well (100% against 81% on held-out prompts). In one epoch the top
# third alone learned the format worse (44% with the other speed-ups); the top half learned it as well as every
# layer or better (100% and 94% on two sets of 200 examples, against 94% and 94%), at 1.5-1.65x every layer's
# speed and 0.4 GB less memory (benchmarks/trainer_speed.py, docs/performance.md). A model with fewer layers than
# that gets LoRA on all of them.
TOP_LAYERS, TOP_LAYERS_FROM_EPOCHS = 10, 2
ONE_EPOCH_TOP_LAYERS = 15


def lora_for(n_epochs: int) -> LoraSettings:
    """The adapter a job of `n_epochs` trains: LoRA on the top third of the layers from two epochs, the top half
    in one."""
    top = TOP_LAYERS if n_epochs >= TOP_LAYERS_FROM_EPOCHS else ONE_EPOCH_TOP_LAYERS
    return LORA.model_copy(update={"layers": top})


def lora_targets(model, preferred: list[str]) -> tuple[list[str] | str, str]:
    """The modules LoRA adapts in `model`, and why: the `preferred` ones (the attention projections, measured on
    SmolLM2) where the model has them all; else PEFT's choice for its architecture; else every linear layer."""
    import torch
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as BY_ARCHITECTURE

    linear = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    if set(preferred) <= linear:
        return list(preferred), "the attention projections"
    kind = getattr(model.config, "model_type", None)
    if kind in BY_ARCHITECTURE:
        return list(BY_ARCHITECTURE[kind]), f"PEFT's choice for {kind} models, which have no {'/'.join(preferred)}"
    return "all-linear", f"every linear layer: PEFT knows no targets for {kind} models"


def decoder_layers_name(model) -> str | None:
    """The attribute name of the model's stack of decoder layers ("layers" in Llama, "h" in GPT-2), which PEFT needs
    to put LoRA on some layers only; None when no stack has one entry per layer."""
    import torch

    n_layers = getattr(model.config, "num_hidden_layers", None)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers:
            return name.rsplit(".", 1)[-1]
    return None


def lora_config(
    lora: LoraSettings, n_layers: int, targets: list[str] | str | None = None, layers_pattern: str = "layers"
):
    """PEFT's config for `lora` (on `targets` when given): on its top ``lora.layers`` layers only when set, so
    backpropagation stops there (autograd has nothing to do below the lowest trainable layer)."""
    from peft import LoraConfig

    top = list(range(n_layers - lora.layers, n_layers)) if lora.layers and lora.layers < n_layers else None
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets if targets is not None else lora.target_modules,
        task_type="CAUSAL_LM",
        layers_to_transform=top,
        layers_pattern=layers_pattern if top else None,
    )
