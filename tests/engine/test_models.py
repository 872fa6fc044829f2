"""Loading base models for serving."""

import torch
from peft import LoraConfig, get_peft_model
from torch.utils._python_dispatch import TorchDispatchMode

from ftwidgets.engine import models


class _LargestTensor(TorchDispatchMode):
    """Records the element count of the largest tensor any operation makes."""

    largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor):
            self.largest = max(self.largest, out.numel())
        return out


def _largest_tensor_of_a_prompt_pass(model, rows: int) -> int:
    ids = torch.randint(100, 1000, (rows, 24))
    with torch.no_grad(), _LargestTensor() as seen:
        model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=1, do_sample=False, pad_token_id=0
        )
    return seen.largest


def test_an_adapted_model_does_not_copy_the_output_layer_per_prompt(tiny_llama):
    model, _ = models.load(str(tiny_llama), models.Device("cpu", "float32"))
    adapted = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))  # freezes the base
    adapted.eval()
    weight = adapted.get_output_embeddings().weight
    assert not weight.requires_grad
    rows = 8
    # without the contiguous input, matmul expands the frozen weight to rows x 32 x 49,152 and copies it
    assert _largest_tensor_of_a_prompt_pass(adapted, rows) < rows * weight.numel() / 2

    head = adapted.get_output_embeddings()
    head._forward_pre_hooks.clear()  # the failure this guards against, shown once
    assert _largest_tensor_of_a_prompt_pass(adapted, rows) >= rows * weight.numel()
