"""Quantization: a trained (pruned, squashed) model to the integer model the hardware runs.

The model is traced into its layer graph (:mod:`.graph`: BatchNorm folded into the conv or
Linear before it); each Conv2d and Linear becomes one integer layer, a conv layer keeping its
geometry and pool.

Weights become symmetric int8 or int4, per output channel or per tensor; with weight sharing
they become codes into a per-layer codebook whose entries are int8 on one per-layer scale.
Activations are int8 with ranges calibrated on the training split (min/max or a percentile).
The real requantization factor ``w_scale · in_scale / out_scale`` of each output channel becomes
an integer multiplier ``M`` and a per-layer shift ``s`` with ``M / 2^s`` close to it, and the
reference (:mod:`.reference`) applies them exactly as the hardware does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..config import QuantConfig
from ..errors import ConfigError
from .data import Dataset
from .graph import LayerGraph, trace
from .qat import qat_finetune
from .reference import ACC_BITS, QuantLayer, QuantModel
from .scales import CALIBRATIONS, qmax, scale_of, weight_scales
from .share import SharedLayer, finetune_centroids, share_weights
from .train import accuracy

__all__ = ["quantize_model", "quantize", "Quantized", "WEIGHT_QMAX", "MAX_SHIFT"]

WEIGHT_QMAX = qmax(8)  #: symmetric range ±127: -128 is never used, so negation is exact
#: The accumulator's largest value, and the largest |activation| (int8's -128).
ACC_LIMIT = (1 << (ACC_BITS - 1)) - 1
ACT_PEAK = 128
MAX_SHIFT = 40  #: keeps (acc + bias) · M within 48-bit products in the requantizer
CODEBOOK_ENTRY_BITS = 8  #: codebook entries are int8 on one per-layer scale


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


def _fitting_bias(w_scale: np.ndarray, bias: np.ndarray, in_scale: float, row_sum: int) -> np.ndarray:
    """Each row's weight scale, grown where the integer bias would not fit the accumulator beside
    ``row_sum`` (the largest sum of |weight| x |activation| a row of the layer can reach): a row
    of tiny weights and a large bias is then quantized coarser rather than its bias clipped."""
    headroom = ACC_LIMIT - row_sum
    if headroom <= 0:
        return w_scale
    return np.maximum(w_scale, np.abs(bias) / (in_scale * headroom))


def _codebook_weights(shared: SharedLayer, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(int weights, int8 codebook, per-row scale)`` of a shared layer: one scale per layer."""
    peak = float(np.abs(shared.centroids).max())
    scale = scale_of(peak, CODEBOOK_ENTRY_BITS)
    table = np.clip(np.floor(shared.centroids / scale + 0.5), -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)
    return table[shared.codes].astype(np.int8), table, np.full(rows, scale)


def calibration_ranges(graph: LayerGraph, x: np.ndarray, method: str = "minmax",
                       percentile: float = 99.99) -> tuple[float, list[float]]:
    """Range of the input and of each layer's output after its ReLU (before its pool: what the
    requantizer sees), on the calibration images ``x``."""
    if method not in CALIBRATIONS:
        raise ConfigError(f"quant.calibration must be one of {', '.join(CALIBRATIONS)}, not {method!r}")
    estimate = CALIBRATIONS[method]
    a = torch.from_numpy(np.asarray(x, dtype=np.float32))
    return (estimate(a.numpy(), percentile),
            [estimate(y.numpy(), percentile) for y in graph.activations(a)])


def quantize_model(model: nn.Module, calibration_x: np.ndarray, cfg: QuantConfig,
                   shared: list[SharedLayer] | None = None) -> QuantModel:
    """Integer model of a trained model; pruned weights stay exactly zero.

    ``shared`` (from :mod:`.share`, one per Linear layer) gives each layer's codebook and codes;
    without it weights are ``cfg.weight_bits`` integers at ``cfg.granularity``.
    """
    graph = trace(model, tuple(np.shape(calibration_x)[1:]))
    in_range, out_ranges = calibration_ranges(graph, calibration_x, cfg.calibration, cfg.percentile)
    in_scale = input_scale = scale_of(in_range, cfg.act_bits)
    layers = []
    for i, layer in enumerate(graph.layers):
        w = layer.matrix.double().numpy()
        b = layer.bias.double().numpy()
        codebook = None
        if shared is not None:
            wq, codebook, w_scale = _codebook_weights(shared[i], w.shape[0])
            bits = CODEBOOK_ENTRY_BITS
        else:
            bits = cfg.weight_bits
            w_scale = _fitting_bias(weight_scales(w, bits, cfg.granularity), b, in_scale,
                                    qmax(bits) * ACT_PEAK * w.shape[1])
            wq = np.clip(np.floor(w / w_scale[:, None] + 0.5), -qmax(bits), qmax(bits)).astype(np.int8)
        acc_scale = w_scale * in_scale
        # What is left of the accumulator beside the row's largest sum: the bound the hardware
        # checks (|bias| + sum |w| x 128 < 2^(ACC_BITS - 1)) holds for every quantized row.
        bias_limit = ACC_LIMIT - np.abs(wq.astype(np.int64)).sum(axis=1) * ACT_PEAK
        bq = np.clip(np.floor(b / acc_scale + 0.5), -bias_limit, bias_limit).astype(np.int32)
        out_scale = scale_of(out_ranges[i], cfg.act_bits)
        multiplier, shift = _multiplier(acc_scale / out_scale, cfg.multiplier_bits)
        layers.append(QuantLayer(weight=wq, bias=bq, multiplier=multiplier, shift=shift,
                                 relu=layer.relu, weight_scale=w_scale,
                                 in_scale=in_scale, out_scale=out_scale, weight_bits=bits,
                                 codebook=codebook, geometry=layer.geometry))
        in_scale = out_scale
    return QuantModel(input_scale=input_scale, layers=tuple(layers))


@dataclass
class Quantized:
    """The integer model, and the float model's test accuracy after each optional step."""

    model: QuantModel
    #: ``shared_accuracy`` (after k-means, and centroid fine-tuning if any), ``qat_accuracy``.
    steps: dict[str, float] = field(default_factory=dict)


def quantize(model: nn.Module, data: Dataset, cfg: QuantConfig, *, seed: int = 0,
             batch_size: int = 64) -> Quantized:
    """Weight sharing (+ centroid fine-tuning) or QAT as configured, then :func:`quantize_model`.

    ``model`` is changed in place: it ends holding the shared or fine-tuned float weights.
    """
    steps: dict[str, float] = {}
    shared = None
    convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if convs and (cfg.codebook_bits or cfg.qat_epochs):
        raise ConfigError(f"quant.codebook_bits and quant.qat_epochs take Linear-only models; "
                          f"this one has conv layers ({', '.join(convs)})")
    if cfg.codebook_bits:
        shared = share_weights(model, cfg.codebook_bits, seed=seed)
        if cfg.centroid_epochs:
            shared = finetune_centroids(model, shared, data, epochs=cfg.centroid_epochs,
                                        lr=cfg.centroid_lr, batch_size=batch_size, seed=seed)
        steps["shared_accuracy"] = accuracy(model, data.test)
    elif cfg.qat_epochs:
        qat_finetune(model, data, bits=cfg.weight_bits, granularity=cfg.granularity,
                     epochs=cfg.qat_epochs, lr=cfg.qat_lr, act_bits=cfg.act_bits,
                     calibration=cfg.calibration, percentile=cfg.percentile,
                     batch_size=batch_size, seed=seed)
        steps["qat_accuracy"] = accuracy(model, data.test)
    with torch.no_grad():
        return Quantized(quantize_model(model, data.train.x, cfg, shared), steps)
