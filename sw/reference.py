"""The integer model of ``model.bin``: exactly what the hardware computes, in numpy only.

Per layer: ``acc = W x`` (int8 × int8 summed in int32), ``y = ((acc + bias) · M + 2^(s-1)) >> s``
(round half up, arithmetic shift), clamped to int8, then ReLU on hidden layers. A conv layer
(:mod:`.conv`) computes ``acc`` at every output position of its map, requantizes each as a row,
then pools the int8 map; a Linear layer after it reads the map flattened in (c, y, x) order
(torch's ``flatten``). The last layer's int8 outputs, flattened, are the logits; the class is
the first index of their maximum.

Every packed format means the same ``W``: :func:`accumulate_packed` computes ``W x`` by walking a
packed layer's words the way its hardware bank is walked, as a second oracle beside the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conv import ConvGeometry, conv_accumulate, pool

INT8_MIN, INT8_MAX = -128, 127
ACC_BITS = 32  #: accumulators and biases are int32 in the hardware


@dataclass(frozen=True, eq=False)
class QuantLayer:
    """One Linear or conv layer in integers, with the float scales it came from (for reporting)."""

    weight: np.ndarray  #: int8 (rows, cols), pruned entries are 0
    bias: np.ndarray  #: int32 (rows,), in accumulator units
    multiplier: np.ndarray  #: int64 (rows,), unsigned requantization multiplier M
    shift: int  #: requantization right shift s
    relu: bool
    weight_scale: np.ndarray | None  #: float (rows,) one weight step, per output channel (not stored in model.bin)
    in_scale: float  #: real value of one input step
    out_scale: float  #: real value of one output step
    weight_bits: int = 8  #: width of a stored weight (8 or 4); the MAC is int8 either way
    #: int8 (2**b,) shared values of a weight-shared layer (entry 0 is 0); weights are entries.
    codebook: np.ndarray | None = None
    #: A conv layer's input map, kernel and pool; None for a Linear layer. The weight is then
    #: (out_channels, in_channels/groups · kh · kw), columns in (c, ky, kx) order.
    geometry: ConvGeometry | None = None

    @property
    def rows(self) -> int:
        return self.weight.shape[0]

    @property
    def cols(self) -> int:
        return self.weight.shape[1]

    @property
    def in_features(self) -> int:
        """int8 values one sample feeds the layer (a conv layer's whole input map)."""
        g = self.geometry
        return self.cols if g is None else g.in_channels * g.in_height * g.in_width

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of one sample's output: (rows,), or a conv layer's (channels, height, width)."""
        return (self.rows,) if self.geometry is None else self.geometry.out_shape(self.rows)

    @property
    def out_features(self) -> int:
        return int(np.prod(self.out_shape))


@dataclass(frozen=True, eq=False)
class QuantModel:
    input_scale: float  #: x_int8 = round(x / input_scale)
    layers: tuple[QuantLayer, ...]


def quantize_input(x: np.ndarray, scale: float) -> np.ndarray:
    """Float features to int8 activations (round half up, clamped)."""
    q = np.floor(np.asarray(x, dtype=np.float64) / scale + 0.5)
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def accumulate(weight: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x @ W.T`` in exact integers (int64), one row per sample."""
    return np.asarray(x, dtype=np.int64) @ np.asarray(weight, dtype=np.int64).T


def accumulate_packed(layer, x: np.ndarray) -> np.ndarray:
    """``x @ W.T`` (int64) from a packed layer, walking each PE's words as its bank holds them.

    CSC and N:M layers are walked word by word (codebook codes looked up, fillers and padding
    skipped); formats the hardware does not read are unpacked to ``W`` first.
    """
    from .formats import format_of

    x = np.asarray(x, dtype=np.int64)
    if not hasattr(layer, "entries"):
        return accumulate(format_of(layer).unpack(layer), x)
    acc = np.zeros((x.shape[0], layer.rows), dtype=np.int64)
    for pe in range(layer.pes):
        row, col, value = layer.entries(pe)
        np.add.at(acc, (slice(None), row), x[:, col] * value)
    return acc


def requantize(acc: np.ndarray, bias: np.ndarray, multiplier: np.ndarray, shift: int,
               relu: bool) -> np.ndarray:
    """Accumulators to the next layer's int8 activations, as the hardware's requantizer does."""
    y = (np.asarray(acc, dtype=np.int64) + bias) * multiplier
    if shift > 0:
        y = (y + (1 << (shift - 1))) >> shift
    return np.clip(y, 0 if relu else INT8_MIN, INT8_MAX).astype(np.int8)


def layer_accumulate(layer: QuantLayer, x: np.ndarray) -> np.ndarray:
    """The layer's exact accumulators: (N, rows), or (N, channels, OH, OW) before the pool."""
    x = np.asarray(x)
    if layer.geometry is None:
        return accumulate(layer.weight, x.reshape(len(x), -1))
    return conv_accumulate(layer.weight, x, layer.geometry)


def layer_forward(layer: QuantLayer, x: np.ndarray) -> np.ndarray:
    """int8 outputs of one layer: (N, rows), or a conv layer's pooled (N, C, H, W) maps.

    ``x`` may be flat (N, features) or shaped; only its C-order contents matter.
    """
    acc = layer_accumulate(layer, x)
    if layer.geometry is None:
        return requantize(acc, layer.bias, layer.multiplier, layer.shift, layer.relu)
    per_channel = (slice(None), None, None)
    y = requantize(acc, layer.bias[per_channel], layer.multiplier[per_channel], layer.shift,
                   layer.relu)
    return y if layer.geometry.pool is None else pool(y, layer.geometry.pool)


def forward(model: QuantModel, x: np.ndarray) -> list[np.ndarray]:
    """int8 activations after every layer, for inputs already quantized to int8 (flat or shaped)."""
    outputs = []
    for layer in model.layers:
        x = layer_forward(layer, x)
        outputs.append(x)
    return outputs


def classify(logits: np.ndarray) -> np.ndarray:
    """First index of the maximum logit, as the hardware's argmax breaks ties."""
    return np.argmax(np.asarray(logits).reshape(len(logits), -1), axis=1)


def predict(model: QuantModel, x_float: np.ndarray) -> np.ndarray:
    return classify(forward(model, quantize_input(x_float, model.input_scale))[-1])
