"""Post-training quantization: symmetric per-output-channel int8 weights, int8 activations.

Activation scales are calibrated on the training split (max of each layer's float output);
the real requantization multiplier ``w_scale · in_scale / out_scale`` of each output channel
becomes an integer ``M`` and a per-layer shift ``s`` so that ``M / 2^s`` approximates it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..config import QuantConfig
from ..errors import ConfigError
from .models import linear_layers
from .reference import ACC_BITS, INT8_MAX, QuantLayer, QuantModel

WEIGHT_QMAX = INT8_MAX  #: symmetric range ±127: -128 is never used, so negation is exact
MAX_SHIFT = 40  #: keeps (acc + bias) · M within 48-bit products in the requantizer


@torch.no_grad()
def _calibrate(model: nn.Module, x: np.ndarray) -> tuple[float, list[float]]:
    """Largest magnitude of the input and of each Linear layer's (post-ReLU) output."""
    layers = linear_layers(model)
    maxima: list[float] = [0.0] * len(layers)
    a = torch.from_numpy(x).flatten(1)
    in_max = float(a.abs().max())
    for i, layer in enumerate(layers):
        a = layer(a)
        if i < len(layers) - 1:
            a = torch.relu(a)
        maxima[i] = float(a.abs().max())
    return in_max, maxima


def _scale(maximum: float) -> float:
    return maximum / INT8_MAX if maximum > 0 else 1.0


def _multiplier(real: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """Integer M and shift s with M / 2^s ≈ real and every M < 2^bits."""
    peak = float(real.max())
    if peak <= 0:
        return np.zeros_like(real, dtype=np.int64), 0
    shift = int(np.floor(np.log2(((1 << bits) - 1) / peak)))
    if shift < 0:
        raise ConfigError(f"requantization multiplier {peak:.3g} needs more than {bits} bits")
    shift = min(shift, MAX_SHIFT)
    return np.floor(real * (1 << shift) + 0.5).astype(np.int64), shift


def quantize_model(model: nn.Module, calibration_x: np.ndarray, cfg: QuantConfig) -> QuantModel:
    """Integer model of a trained (pruned, squashed) MLP; pruned weights stay exactly zero."""
    in_max, out_max = _calibrate(model, calibration_x)
    in_scale = _scale(in_max)
    layers = []
    linears = linear_layers(model)
    for i, linear in enumerate(linears):
        w = linear.weight.detach().double().numpy()
        b = linear.bias.detach().double().numpy()
        w_scale = np.abs(w).max(axis=1) / WEIGHT_QMAX
        w_scale[w_scale == 0] = 1.0
        wq = np.clip(np.floor(w / w_scale[:, None] + 0.5), -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)
        acc_scale = w_scale * in_scale
        bias_limit = (1 << (ACC_BITS - 1)) - 1
        bq = np.clip(np.floor(b / acc_scale + 0.5), -bias_limit, bias_limit).astype(np.int32)
        out_scale = _scale(out_max[i])
        multiplier, shift = _multiplier(acc_scale / out_scale, cfg.multiplier_bits)
        layers.append(QuantLayer(weight=wq, bias=bq, multiplier=multiplier, shift=shift,
                                 relu=i < len(linears) - 1, weight_scale=w_scale,
                                 in_scale=in_scale, out_scale=out_scale))
        in_scale = out_scale
    return QuantModel(input_scale=_scale(in_max), layers=tuple(layers))
