"""What pruning buys on paper: parameters, storage, compression and the MAC count it removes.

The first functions take the quantized layers the flow packs; the rest take a float model (Linear
and Conv2d layers in a chain, as the sweeps train) and count MACs exactly for stride, padding,
dilation and groups. A unit (row, filter) whose weights are all zero outputs a constant that folds
into the next layer's bias, and a unit nobody reads is never computed: both free MACs in *two*
layers, which the live-weight analysis counts.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .models import weighted_layers

FP32_BITS = 32
#: Width of a row/column pointer in the CSR and relative-index formats.
POINTER_BITS = 32


# --- quantized layers (the flow) --------------------------------------------------------------

def dense_bits(layers) -> int:
    """Bits of the unpruned float32 model (weights and biases)."""
    return FP32_BITS * sum(l.weight.size + l.rows for l in layers)


def compression_ratio(layers, packed_bytes: int) -> float:
    """Dense float32 size over the packed size (values, indices, fillers, pointers, metadata)."""
    return dense_bits(layers) / (8 * packed_bytes)


def layer_macs(layer, *, skip_padding: bool = False) -> np.ndarray:
    """MACs each weight of a quantized layer performs for one sample, weight-shaped: 1 for a
    Linear layer, a conv weight once per output position (stride, padding, dilation and groups
    decide them; with ``skip_padding`` only where its input tap is inside the map)."""
    from .conv import macs_per_weight as conv_macs

    if getattr(layer, "geometry", None) is None:
        return np.ones(layer.weight.shape, dtype=np.int64)
    return conv_macs(layer.geometry, layer.rows, skip_padding=skip_padding)


def macs_of_layers(layers, *, skip_padding: bool = False) -> tuple[int, int]:
    """(dense MACs, MACs of the nonzero weights) for one sample of quantized layers."""
    dense = nonzero = 0
    for layer in layers:
        per_weight = layer_macs(layer, skip_padding=skip_padding)
        dense += int(per_weight.sum())
        nonzero += int(per_weight[np.asarray(layer.weight) != 0].sum())
    return dense, nonzero


def theoretical_speedup(layers, *, skip_padding: bool = False) -> float:
    """Dense MACs over remaining MACs: what a machine that skips every zero weight could gain.

    A conv weight counts once per output position, so a layer's share follows its map size.
    """
    dense, nonzero = macs_of_layers(layers, skip_padding=skip_padding)
    return dense / max(nonzero, 1)


def empty_layers(layers) -> list[int]:
    """Indices of the quantized layers without a single nonzero weight (their outputs are the
    bias alone: worth a warning, never silent)."""
    return [i for i, l in enumerate(layers) if not np.count_nonzero(l.weight)]


def density(layers) -> float:
    return sum(int(np.count_nonzero(l.weight)) for l in layers) / sum(l.weight.size for l in layers)


# --- parameters and storage of a float model --------------------------------------------------

def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameters of the Linear and Conv2d layers (weights and biases), all and nonzero;
    the same for the prunable weights alone. Masked weights count as they compute (W ⊙ M)."""
    layers = weighted_layers(model)
    weights = [l.weight.detach() for l in layers]
    every = weights + [l.bias.detach() for l in layers if l.bias is not None]
    return {
        "params": sum(t.numel() for t in every),
        "params_nonzero": sum(int(torch.count_nonzero(t)) for t in every),
        "weights": sum(w.numel() for w in weights),
        "weights_nonzero": sum(int(torch.count_nonzero(w)) for w in weights),
    }


def _relative_words(column_major_nonzero: np.ndarray, index_bits: int) -> int:
    """Words of a relative-index stream: each nonzero, plus a filler per 2^b zeros skipped."""
    words = 0
    span = 1 << index_bits
    for column in column_major_nonzero:
        positions = np.flatnonzero(column)
        gaps = np.diff(np.concatenate(([-1], positions))) - 1
        words += len(positions) + int((gaps // span).sum())
    return words


def storage_bits(weight: np.ndarray, fmt: str, *, value_bits: int = FP32_BITS, index_bits: int = 4) -> int:
    """Bits to store one 2-D weight matrix ``[rows, cols]`` in format ``fmt`` (see STORAGE_FORMATS)."""
    rows, cols = weight.shape
    nonzero = int(np.count_nonzero(weight))
    if fmt == "dense":
        return rows * cols * value_bits
    if fmt == "bitmap":
        return nonzero * value_bits + rows * cols
    if fmt == "csr":
        return nonzero * (value_bits + max(1, math.ceil(math.log2(cols)))) + (rows + 1) * POINTER_BITS
    if fmt == "relative":
        words = _relative_words(weight.T != 0, index_bits)
        return words * (value_bits + index_bits) + (cols + 1) * POINTER_BITS
    raise ValueError(f"unknown storage format {fmt!r}; valid: {', '.join(STORAGE_FORMATS)}")


STORAGE_FORMATS = {
    "dense": "every weight, zeros included",
    "bitmap": "nonzero values + one presence bit per weight",
    "csr": "nonzero values + absolute column index + row pointers",
    "relative": "column-major values + b-bit relative row index, fillers for long gaps (EIE)",
}


def model_storage_bits(model: nn.Module, fmt: str, *, value_bits: int = FP32_BITS,
                       index_bits: int = 4) -> int:
    """Weights in ``fmt`` (as [out, fan-in] matrices) plus dense biases."""
    total = 0
    for layer in weighted_layers(model):
        w = layer.weight.detach().reshape(layer.weight.shape[0], -1).numpy()
        total += storage_bits(w, fmt, value_bits=value_bits, index_bits=index_bits)
        if layer.bias is not None:
            total += layer.bias.numel() * value_bits
    return total


# --- MACs of a float model --------------------------------------------------------------------

def input_shapes(model: nn.Module, image_shape: tuple[int, ...]) -> dict[nn.Module, tuple[int, ...]]:
    """Shape of one sample's input to each Linear / Conv2d (found by a forward pass on one
    zero sample shaped ``image_shape``, e.g. (C, H, W) or an MLP's (features,))."""
    shapes: dict[nn.Module, tuple[int, ...]] = {}

    def record(module, inputs, _output) -> None:
        shapes[module] = tuple(inputs[0].shape[1:])

    hooks = [l.register_forward_hook(record) for l in weighted_layers(model)]
    try:
        with torch.no_grad():
            model.eval()
            model(torch.zeros(1, *image_shape))
    finally:
        for h in hooks:
            h.remove()
    return shapes


def _valid_taps(size: int, out: int, kernel: int, stride: int, padding: int, dilation: int) -> torch.Tensor:
    """For each kernel tap, the output positions at which it reads a real (not padded) input."""
    o = torch.arange(out)[:, None]
    pos = o * stride - padding + torch.arange(kernel)[None, :] * dilation
    return ((pos >= 0) & (pos < size)).sum(0)


def macs_per_weight(layer: nn.Module, in_shape: tuple[int, ...], *, skip_padding: bool = False) -> torch.Tensor:
    """MACs each weight performs for one sample (weight-shaped).

    Conv2d: output size from stride, padding and dilation; groups shrink the weight itself. With
    ``skip_padding`` a tap that lands on padding is not a MAC (a zero-skipping machine's count).
    """
    if isinstance(layer, nn.Linear):
        repeats = math.prod(in_shape[:-1])
        return torch.full(layer.weight.shape, float(repeats))
    if isinstance(layer, nn.Conv2d):
        if isinstance(layer.padding, str):
            raise ValueError("MAC counting needs numeric Conv2d padding, not 'same'/'valid'")
        per_axis = []
        for axis in (0, 1):
            size, k = in_shape[1 + axis], layer.kernel_size[axis]
            s, p, d = layer.stride[axis], layer.padding[axis], layer.dilation[axis]
            out = (size + 2 * p - d * (k - 1) - 1) // s + 1
            per_axis.append(_valid_taps(size, out, k, s, p, d) if skip_padding
                            else torch.full((k,), out))
        taps = (per_axis[0][:, None] * per_axis[1][None, :]).float()
        return taps.expand(layer.weight.shape).clone()
    raise TypeError(f"cannot count MACs of {type(layer).__name__}")


def _input_index(layer: nn.Module) -> torch.Tensor:
    """Input channel each ``[out, in/groups]`` weight slice reads (Linear: the column)."""
    out, per_group = layer.weight.shape[:2]
    groups = getattr(layer, "groups", 1)
    group = torch.arange(out) // (out // groups)
    return group[:, None] * per_group + torch.arange(per_group)[None, :]


def _inputs_read(layer: nn.Module, live: torch.Tensor, units: int) -> torch.Tensor:
    """Which of the ``units`` producers feeding ``layer`` any live weight reads."""
    read = torch.zeros(layer.weight.shape[1] * getattr(layer, "groups", 1), dtype=torch.bool)
    read[_input_index(layer).flatten()[live.reshape(*live.shape[:2], -1).any(-1).flatten()]] = True
    return read.reshape(units, -1).any(1)


def _only_live_inputs(layer: nn.Module, live: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """``live`` with every weight reading a constant producer unit switched off."""
    per_input = alive.repeat_interleave(layer.weight.shape[1] * getattr(layer, "groups", 1) // len(alive))
    reads_live = per_input[_input_index(layer)]
    return live & reads_live.reshape(*reads_live.shape, *([1] * (live.dim() - 2)))


def live_weights(model: nn.Module) -> dict[nn.Module, torch.Tensor]:
    """Weights that still cost a MAC: nonzero, reading a non-constant unit, and read by someone.

    Consecutive layers are linked when the second's inputs are the first's units (times a
    flattened spatial size), as in a chain with ReLU, pooling and flattening between.
    """
    layers = weighted_layers(model)
    live = {l: l.weight.detach() != 0 for l in layers}
    changed = True
    while changed:
        changed = False
        for a, b in zip(layers, layers[1:]):
            units = a.weight.shape[0]
            fan_in = b.weight.shape[1] * getattr(b, "groups", 1)
            if fan_in % units:
                continue
            alive = live[a].reshape(units, -1).any(1)
            new_b = _only_live_inputs(b, live[b], alive)
            read = _inputs_read(b, new_b, units)
            new_a = live[a] & read.reshape(-1, *([1] * (live[a].dim() - 1)))
            if not (torch.equal(new_a, live[a]) and torch.equal(new_b, live[b])):
                live[a], live[b], changed = new_a, new_b, True
    return live


def macs(model: nn.Module, image_shape: tuple[int, ...], *, skip_padding: bool = False) -> tuple[int, int]:
    """(dense MACs, remaining MACs) for one sample; remaining counts only live weights."""
    shapes = input_shapes(model, image_shape)
    live = live_weights(model)
    dense = remaining = 0
    for layer in weighted_layers(model):
        per_weight = macs_per_weight(layer, shapes[layer], skip_padding=skip_padding)
        dense += int(per_weight.sum())
        remaining += int(per_weight[live[layer]].sum())
    return dense, remaining


def model_speedup(model: nn.Module, image_shape: tuple[int, ...], *, skip_padding: bool = False) -> float:
    """Theoretical speedup = dense MACs / remaining MACs."""
    dense, remaining = macs(model, image_shape, skip_padding=skip_padding)
    return dense / max(remaining, 1)
