"""Quantization scales: symmetric weight scales (per output channel or per tensor) and activation
ranges calibrated on training data (min/max, or a percentile that ignores rare outliers).

A scale is the real value of one integer step: ``q = clamp(round(x / scale), -qmax, qmax)``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .models import linear_layers

__all__ = ["GRANULARITIES", "CALIBRATIONS", "qmax", "weight_scales", "activation_ranges", "scale_of"]

GRANULARITIES = ("channel", "tensor")


def qmax(bits: int) -> int:
    """Largest magnitude of a symmetric ``bits``-bit integer (-qmax is used, -qmax - 1 is not)."""
    return (1 << (bits - 1)) - 1


def weight_scales(weight: np.ndarray, bits: int, granularity: str) -> np.ndarray:
    """Per-row scales of a ``(rows, cols)`` weight: each row's max, or the tensor's, over qmax."""
    w = np.abs(np.asarray(weight, dtype=np.float64))
    if granularity == "channel":
        peak = w.max(axis=1, initial=0.0)
    elif granularity == "tensor":
        peak = np.full(w.shape[0], w.max(initial=0.0))
    else:
        raise ConfigError(f"quant.granularity must be one of {', '.join(GRANULARITIES)}, not {granularity!r}")
    scales = peak / qmax(bits)
    scales[scales == 0] = 1.0  # an all-zero row: any scale represents it exactly
    return scales


def _minmax(values: np.ndarray, percentile: float) -> float:
    return float(np.abs(values).max(initial=0.0))


def _percentile(values: np.ndarray, percentile: float) -> float:
    return float(np.percentile(np.abs(values), percentile)) if values.size else 0.0


#: Activation range estimators: (activations, percentile) -> largest magnitude to represent.
CALIBRATIONS: dict[str, Callable[[np.ndarray, float], float]] = {
    "minmax": _minmax,
    "percentile": _percentile,
}


@torch.no_grad()
def activation_ranges(model: nn.Module, x: np.ndarray, method: str = "minmax",
                      percentile: float = 99.99) -> tuple[float, list[float]]:
    """Range of the input and of each Linear layer's output (after ReLU on hidden layers)."""
    if method not in CALIBRATIONS:
        raise ConfigError(f"quant.calibration must be one of {', '.join(CALIBRATIONS)}, not {method!r}")
    estimate = CALIBRATIONS[method]
    layers = linear_layers(model)
    a = torch.from_numpy(np.asarray(x, dtype=np.float32)).flatten(1)
    in_range = estimate(a.numpy(), percentile)
    ranges = []
    for i, layer in enumerate(layers):
        a = layer(a)
        if i < len(layers) - 1:
            a = torch.relu(a)
        ranges.append(estimate(a.numpy(), percentile))
    return in_range, ranges


def scale_of(maximum: float, bits: int = 8) -> float:
    """Scale that maps ``maximum`` onto the largest ``bits``-bit step (1.0 for a zero range)."""
    return maximum / qmax(bits) if maximum > 0 else 1.0
