"""Quantization-aware fine-tuning: the forward pass sees integer-rounded weights and activations,
the backward pass a straight-through estimator (Bengio et al. 2013), and the pruning mask holds.

Weights are fake-quantized with the scales the post-training quantizer will use (per channel or
per tensor, recomputed each step); inputs and layer outputs with scales calibrated once before
training, clamped to int8 as the requantizer clamps them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from .data import Dataset
from .models import linear_layers
from .scales import activation_ranges, qmax, scale_of
from .train import train

__all__ = ["fake_quantize", "qat_finetune"]


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """``clamp(round_half_up(x / scale), lo, hi) · scale`` forward; identity gradient backward."""
    q = torch.clamp(torch.floor(x / scale + 0.5), lo, hi) * scale
    return x + (q - x).detach()


class _FakeQuantWeight(nn.Module):
    """Parametrization ``W ↦ fq(W ⊙ M)``: pruned weights stay zero and get no gradient."""

    def __init__(self, mask: torch.Tensor, bits: int, granularity: str):
        super().__init__()
        self.register_buffer("mask", mask)
        self.bits, self.granularity = bits, granularity

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        w = weight * self.mask
        peak = w.detach().abs().amax(dim=1, keepdim=True)
        if self.granularity == "tensor":
            peak = peak.amax().expand_as(peak)
        scale = torch.where(peak > 0, peak / qmax(self.bits), torch.ones_like(peak))
        return fake_quantize(w, scale, -qmax(self.bits), qmax(self.bits))


def _activation_hook(scale: float, lo: int, hi: int):
    s = torch.tensor(scale)
    return lambda _module, _inputs, output: fake_quantize(output, s, lo, hi)


def _input_hook(scale: float, lo: int, hi: int):
    s = torch.tensor(scale)
    return lambda _module, inputs: (fake_quantize(inputs[0], s, lo, hi), *inputs[1:])


def qat_finetune(model: nn.Module, data: Dataset, *, bits: int, granularity: str, epochs: int,
                 lr: float, act_bits: int = 8, calibration: str = "minmax",
                 percentile: float = 99.99, batch_size: int = 64, seed: int = 0) -> float:
    """Fine-tune ``model`` in place with fake quantization; returns the best validation accuracy."""
    layers = linear_layers(model)
    in_range, out_ranges = activation_ranges(model, data.train.x, calibration, percentile)
    lo, hi = -qmax(act_bits) - 1, qmax(act_bits)
    handles = [layers[0].register_forward_pre_hook(_input_hook(scale_of(in_range, act_bits), lo, hi))]
    for layer, r in zip(layers, out_ranges):
        handles.append(layer.register_forward_hook(_activation_hook(scale_of(r, act_bits), lo, hi)))
        mask = (layer.weight.detach() != 0).to(layer.weight.dtype)
        parametrize.register_parametrization(layer, "weight", _FakeQuantWeight(mask, bits, granularity))
    try:
        result = train(model, data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    finally:
        for handle in handles:
            handle.remove()
        for layer in layers:
            mask = layer.parametrizations.weight[0].mask
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
            with torch.no_grad():
                layer.weight.mul_(mask)  # the float weights, pruned entries exactly zero
    return float(np.float64(result.best_val_accuracy))
