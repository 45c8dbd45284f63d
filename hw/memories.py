"""The accelerator's memories: which there are (the memory map of a :class:`Capacity`), the word
layout of each, and what each holds for a model, laid out from a :class:`NetworkImage`.

All layers share each memory, one after the other; each layer's bases are in its entry of the
layer table. Contents are lists of raw integers in the bit layouts of :mod:`.layout`, so the
same numbers initialise the RTL (a baked design), stream through the load port (:mod:`.load`)
and feed the tests.

* ``LAYER_TABLE``: one :func:`layer_config` word per layer;
* ``PARAMETERS``: one ``(bias, multiplier)`` :func:`param_word` per output row of every layer;
* ``POINTERS`` (sparse only): CSC: one block pointer word (W + 1 absolute bank starts per PE)
  per block of W columns; N:M: each PE's first word of every group;
* ``CODEBOOKS`` (sparse, codebook words only): one :func:`~.layout.codebook_table` per layer;
* ``PATCHES`` (a capacity with conv layers): one :func:`~.core.address.patch_word` per patch
  column of every conv layer (where its input lies from the position's corner);
* ``BANK + p``: weight bank of PE p: sparse: every layer's words of PE p (CSC or N:M); dense:
  every layer's local rows of PE p, column-major, one int8 value per word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Const, Shape, signed, unsigned
from amaranth.lib import data

from .core.address import geometry_layout, patch_word
from .core.broadcast import block_pointer_word
from .image import NetworkImage
from .layout import (codebook_table, csc_code_word, csc_word, nm_code_word, nm_word,
                     pointer_word)
from .params import ACT_BITS, PARAM_MULTIPLIER_BITS, SHIFT_BITS, check_kind, check_readout

__all__ = ["LAYER_TABLE", "PARAMETERS", "POINTERS", "CODEBOOKS", "PATCHES", "BANK", "MemorySpec",
           "memory_map", "memory_images", "bank_word", "group_pointer_word", "layer_config",
           "layer_entries", "param_word", "sparse_banks", "dense_banks", "block_pointer_image",
           "group_pointer_image", "pointer_image", "param_image", "address_width"]

# Memory (load target) ids: the header of a load transfer names one (:mod:`.load`).
LAYER_TABLE = 0
PARAMETERS = 1
POINTERS = 2
CODEBOOKS = 3
PATCHES = 4
BANK = 0x80  # BANK + p: the weight bank of PE p (P is at most 64)


@dataclass(frozen=True)
class MemorySpec:
    """One memory of the map: ``depth`` words of ``width`` bits; ``name`` for messages."""

    name: str
    width: int
    depth: int


def address_width(depth: int) -> int:
    """Bits of an address that may also point one past the last of ``depth`` words."""
    return Shape.cast(range(depth + 1)).width


def param_word(acc_bits: int) -> data.StructLayout:
    """A row's requantization parameters: ``bias`` (accumulator units) and ``multiplier``."""
    return data.StructLayout({"bias": signed(acc_bits),
                              "multiplier": unsigned(PARAM_MULTIPLIER_BITS)})


def layer_config(capacity) -> data.StructLayout:
    """One entry of the layer table (a layer's constants): the sequencer registers the running
    layer's entry, and the load port writes each entry as one word of this layout.

    ``ptr_base`` is the layer's first word of the sparse engine's pointer memory (CSC blocks or
    N:M groups), ``dense_base`` its first word of the dense twin's banks; ``nonempty`` has bit j
    set iff some PE has a word in column j (N:M: every column), so empty columns are never sent;
    ``last`` marks the network's last layer (the layer count follows from it); ``raw`` on the
    last layer streams its raw accumulators (``acc + bias``) instead of requantized logits: the
    readout is loaded with the model, not built in, and costs the same cycles. ``inputs`` is
    the activations the layer reads (its columns; a conv layer's whole input map). A capacity
    with conv layers adds ``conv``, the layer's geometry (:func:`~.core.address.geometry_layout`,
    ``enabled`` 0 for a Linear); a conv layer's ``rows`` are its output channels and its
    ``cols`` and ``nonempty`` its patch columns.
    """
    conv = {} if not capacity.conv else {"conv": conv_geometry(capacity)}
    return data.StructLayout({
        "rows": range(capacity.max_rows + 1),
        "cols": range(capacity.max_cols + 1),
        "rows_per_pe": range(capacity.rows_per_pe + 1),
        "shift": unsigned(SHIFT_BITS),
        "relu": unsigned(1),
        "last": unsigned(1),
        "raw": unsigned(1),
        "ptr_base": range(capacity.pointer_depth + 1),
        "param_base": range(capacity.param_depth + 1),
        "dense_base": range(capacity.bank_depth + 1),
        "groups": range(capacity.max_cols + 1),
        "nonempty": unsigned(capacity.max_cols),
        "inputs": range(capacity.act_depth + 1),
        **conv,
    })


def conv_geometry(capacity) -> data.StructLayout:
    """The conv geometry fields of a layer table entry of ``capacity`` (one with conv layers)."""
    return geometry_layout(max_side=capacity.max_side, max_channels=capacity.max_channels,
                           max_kernel=capacity.max_kernel, patch_depth=capacity.patch_depth)


def patch_layout(capacity) -> data.StructLayout:
    """A patch table word of ``capacity`` (one with conv layers)."""
    return patch_word(max_map=capacity.max_map, max_kernel=capacity.max_kernel)


def bank_word(capacity, kind: str) -> data.StructLayout:
    """A weight bank's word: sparse: CSC (``zeros`` index) or N:M (``position``), holding a
    ``value`` or, with codebooks, a ``code``; dense: one int8 ``value``."""
    if check_kind(kind) == "dense":
        return data.StructLayout({"value": signed(ACT_BITS)})
    if capacity.format == "nm":
        make = nm_code_word if capacity.codebook else nm_word
        return make(capacity.value_bits, capacity.m)
    make = csc_code_word if capacity.codebook else csc_word
    return make(capacity.value_bits, capacity.index_bits)


def pointer_bits(capacity) -> int:
    """Width of a bank address in a pointer word (it may point one past the last word)."""
    return address_width(capacity.bank_depth)


def group_pointer_word(capacity) -> data.ArrayLayout:
    """An N:M group's pointer word: each PE's bank address of its first word of the group."""
    return data.ArrayLayout(unsigned(pointer_bits(capacity)), capacity.pes)


def _pointer_layout(capacity):
    if capacity.format == "nm":
        return group_pointer_word(capacity)
    return block_pointer_word(capacity.pes, pointer_bits(capacity), capacity.issue_width)


def memory_map(capacity, kind: str) -> dict[int, MemorySpec]:
    """Target id → :class:`MemorySpec` of every memory the ``kind`` design of ``capacity`` has."""
    specs = {
        LAYER_TABLE: MemorySpec("layer table", layer_config(capacity).size, capacity.max_layers),
        PARAMETERS: MemorySpec("parameter memory", param_word(capacity.acc_bits).size,
                               capacity.param_depth),
    }
    if check_kind(kind) == "sparse":
        specs[POINTERS] = MemorySpec("pointer memory", _pointer_layout(capacity).size,
                                     capacity.pointer_depth)
        if capacity.codebook:
            specs[CODEBOOKS] = MemorySpec("codebooks", codebook_table(capacity.value_bits).size,
                                          capacity.max_layers)
    if capacity.conv:
        specs[PATCHES] = MemorySpec("patch table", patch_layout(capacity).size,
                                    capacity.patch_depth)
    width = bank_word(capacity, kind).size
    for p in range(capacity.pes):
        specs[BANK + p] = MemorySpec(f"weight bank of PE {p}", width, capacity.bank_depth)
    return specs


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def layer_entries(image: NetworkImage, capacity, readout: str = "logits") -> list[dict]:
    """The layer table's entries for ``image`` (as :func:`layer_config` field values), its last
    layer read out as ``readout`` ("logits" or raw "accumulators")."""
    check_readout(readout)
    entries, ptr_base, param_base, dense_base, patch_base = [], 0, 0, 0, 0
    for l, layer in enumerate(image.layers):
        rpp = image.rows_per_pe(l)
        nonempty = layer.nonempty()
        conv = {}
        if capacity.conv:
            geo = layer.conv
            conv = {"conv": {"enabled": 0} if geo is None else {
                "enabled": 1, "channels": geo.channels, "height": geo.height,
                "width": geo.width, "kernel_h": geo.kernel_h, "kernel_w": geo.kernel_w,
                "stride": geo.stride, "padding": geo.padding, "out_h": geo.out_h,
                "out_w": geo.out_w, "patch_base": patch_base, "pool_h": geo.pool_h,
                "pool_w": geo.pool_w, "pooled_h": geo.pooled_h, "pooled_w": geo.pooled_w,
                "pool_avg": int(geo.pool == "avg"), "pool_multiplier": geo.pool_multiplier}}
            patch_base += 0 if geo is None else geo.patch
        entries.append({
            "rows": layer.rows, "cols": layer.cols, "rows_per_pe": rpp,
            "shift": layer.shift, "relu": int(layer.relu),
            "last": int(l == len(image.layers) - 1),
            "raw": int(l == len(image.layers) - 1 and readout == "accumulators"),
            "ptr_base": ptr_base,
            "param_base": param_base, "dense_base": dense_base,
            "groups": layer.groups if image.nm else 0,
            "nonempty": sum(1 << int(j) for j in np.flatnonzero(nonempty)),
            "inputs": layer.inputs,
            **conv,
        })
        ptr_base += layer.groups if image.nm else _ceil(layer.cols, capacity.issue_width)
        param_base += layer.rows
        dense_base += rpp * layer.cols
    return entries


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


def block_pointer_image(image, pointer_bits: int, width: int) -> tuple[list[int], list[int]]:
    """``(words, bases)``: the raw :func:`~secateurs.hw.core.broadcast.block_pointer_word` of
    every block of every layer (absolute bank starts), and the address of each layer's first
    block."""
    layout = block_pointer_word(image.pes, pointer_bits, width)
    _, base = sparse_banks(image)
    words, bases = [], []
    for l, layer in enumerate(image.layers):
        bases.append(len(words))
        for first in range(0, layer.cols, width):
            bounds = [min(first + s, layer.cols) for s in range(width + 1)]
            starts = [[int(base[p, l] + layer.col_ptr[p, j]) for p in range(image.pes)]
                      for j in bounds]
            words.append(Const.cast(layout.const(starts)).value)
    return words, bases


def group_pointer_image(image, address_bits: int) -> tuple[list[int], list[int]]:
    """``(words, bases)``: for every group of every layer, each PE's bank address of its first
    word (``ArrayLayout(unsigned(address_bits), P)`` raw words), and each layer's first word."""
    layout = data.ArrayLayout(unsigned(address_bits), image.pes)
    n = image.nm[0]
    _, base = sparse_banks(image)
    words, bases = [], []
    for l, layer in enumerate(image.layers):
        bases.append(len(words))
        local = [len(range(p, layer.rows, image.pes)) for p in range(image.pes)]
        for g in range(layer.groups):
            words.append(Const.cast(layout.const(
                [int(base[p, l]) + g * n * local[p] for p in range(image.pes)])).value)
    return words, bases


def codebook_image(image: NetworkImage, code_bits: int) -> list[int]:
    """One raw :func:`~.layout.codebook_table` per layer."""
    layout = codebook_table(code_bits)
    return [Const.cast(layout.const(list(layer.codebook))).value for layer in image.layers]


def memory_images(image: NetworkImage, capacity, kind: str,
                  readout: str = "logits") -> dict[int, list[int]]:
    """Target id → the words ``image`` puts in that memory from address 0, its last layer read
    out as ``readout`` (``capacity.check`` first: a model that does not fit is refused)."""
    capacity.check(image, kind)
    images = {LAYER_TABLE: [Const.cast(layer_config(capacity).const(e)).value
                            for e in layer_entries(image, capacity, readout)],
              PARAMETERS: param_image(image, capacity.acc_bits)}
    if kind == "sparse":
        banks, _ = sparse_banks(image)
        if capacity.format == "nm":
            images[POINTERS], _ = group_pointer_image(image, pointer_bits(capacity))
        else:
            images[POINTERS], _ = block_pointer_image(image, pointer_bits(capacity),
                                                      capacity.issue_width)
        if capacity.codebook:
            images[CODEBOOKS] = codebook_image(image, capacity.value_bits)
    else:
        banks = dense_banks(image)
    if capacity.conv:
        images[PATCHES] = patch_image(image, capacity)
    for p, bank in enumerate(banks):
        images[BANK + p] = bank
    return images


def patch_image(image: NetworkImage, capacity) -> list[int]:
    """One raw :func:`patch_layout` word per patch column of every conv layer, in order."""
    layout = patch_layout(capacity)
    return [Const.cast(layout.const({"offset": offset, "ky": ky, "kx": kx})).value
            for layer in image.layers if layer.conv is not None
            for offset, ky, kx in layer.conv.patch_table()]


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
