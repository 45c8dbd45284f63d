"""The accelerator's memory images: what each ROM holds, laid out from a :class:`NetworkImage`.

All layers share each memory, one after the other; per-layer base addresses go into the layer
table (:class:`LayerTable`). Images are lists of raw integers in the bit layouts of
:mod:`.layout`, so the same numbers initialise the RTL and feed the tests.

* sparse weight bank of PE p: every layer's CSC words of PE p, layer after layer;
* dense weight bank of PE p: every layer's local rows, column-major, one int8 value per word;
* pointer memory: for layer l, words ``j = 0..cols`` with each PE's absolute bank start;
* parameter memory: one ``(bias, multiplier)`` word per output row of every layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Const, Shape, signed, unsigned
from amaranth.lib import data

from .image import NetworkImage
from .layout import pointer_word
from .params import ACT_BITS, PARAM_MULTIPLIER_BITS

__all__ = ["param_word", "LayerTable", "layer_table", "sparse_banks", "dense_banks",
           "pointer_image", "param_image", "address_width"]


def address_width(depth: int) -> int:
    """Bits of an address that may also point one past the last of ``depth`` words."""
    return Shape.cast(range(depth + 1)).width


def param_word(acc_bits: int) -> data.StructLayout:
    """A row's requantization parameters: ``bias`` (accumulator units) and ``multiplier``."""
    return data.StructLayout({"bias": signed(acc_bits),
                              "multiplier": unsigned(PARAM_MULTIPLIER_BITS)})


@dataclass(frozen=True)
class LayerTable:
    """Per-layer constants the sequencer selects by layer index (all tuples, one per layer)."""

    rows: tuple[int, ...]
    cols: tuple[int, ...]
    rows_per_pe: tuple[int, ...]
    shift: tuple[int, ...]
    relu: tuple[bool, ...]
    ptr_base: tuple[int, ...]  #: address of the layer's first pointer word
    param_base: tuple[int, ...]  #: address of the layer's first parameter word
    #: Per layer, bit j set iff some PE has a word in column j (empty columns are never sent).
    nonempty: tuple[int, ...]


def layer_table(image: NetworkImage) -> LayerTable:
    layers = image.layers
    ptr_base = np.concatenate([[0], np.cumsum([l.cols + 1 for l in layers])[:-1]])
    param_base = np.concatenate([[0], np.cumsum([l.rows for l in layers])[:-1]])
    return LayerTable(
        rows=tuple(l.rows for l in layers), cols=tuple(l.cols for l in layers),
        rows_per_pe=tuple(image.rows_per_pe(i) for i in range(len(layers))),
        shift=tuple(l.shift for l in layers), relu=tuple(l.relu for l in layers),
        ptr_base=tuple(int(b) for b in ptr_base), param_base=tuple(int(b) for b in param_base),
        nonempty=tuple(sum(1 << int(j) for j in np.flatnonzero(l.nonempty())) for l in layers))


def sparse_banks(image: NetworkImage) -> tuple[list[list[int]], np.ndarray]:
    """``(banks, base)``: per PE its words of all layers; ``base[p, l]`` where layer l starts."""
    banks = [[] for _ in range(image.pes)]
    base = np.zeros((image.pes, len(image.layers)), dtype=np.int64)
    for l, layer in enumerate(image.layers):
        for p in range(image.pes):
            base[p, l] = len(banks[p])
            banks[p].extend(int(w) for w in layer.words[p])
    return banks, base


def dense_banks(image: NetworkImage) -> list[list[int]]:
    """Per PE: for each layer, word ``j * rows_per_pe + i`` = weight of row ``i * P + p``, col j.

    Rows past the layer's last (padding) hold 0. Words are raw ``ACT_BITS``-bit two's complement.
    """
    pes = image.pes
    banks = [[] for _ in range(pes)]
    mask = (1 << ACT_BITS) - 1
    for l, layer in enumerate(image.layers):
        rpp = image.rows_per_pe(l)
        padded = np.zeros((rpp * pes, layer.cols), dtype=np.int64)
        padded[:layer.rows] = layer.weight
        local = padded.reshape(rpp, pes, layer.cols)  # local row i of PE p is global i * P + p
        for p in range(pes):
            banks[p].extend(int(v) & mask for v in local[:, p, :].T.reshape(-1))
    return banks


def pointer_image(image: NetworkImage, pointer_bits: int) -> list[int]:
    """Pointer words of every layer: word ``ptr_base[l] + j`` holds each PE's absolute start."""
    layout = pointer_word(image.pes, pointer_bits)
    _, base = sparse_banks(image)
    words = []
    for l, layer in enumerate(image.layers):
        nonempty = np.append(layer.nonempty(), False)
        for j in range(layer.cols + 1):
            starts = [int(base[p, l] + layer.col_ptr[p, j]) for p in range(image.pes)]
            words.append(Const.cast(layout.const({"start": starts,
                                                  "nonempty": int(nonempty[j])})).value)
    return words


def param_image(image: NetworkImage, acc_bits: int) -> list[int]:
    """One raw :func:`param_word` per output row, layer after layer."""
    layout = param_word(acc_bits)
    return [Const.cast(layout.const({"bias": int(b), "multiplier": int(m)})).value
            for layer in image.layers for b, m in zip(layer.bias, layer.multiplier)]
