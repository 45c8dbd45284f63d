"""N:M structured sparsity: at most N weights in every group of M consecutive inputs of a row.

The inputs (columns) are cut into ``G = ceil(cols / M)`` groups; the last one may be narrower.
Each output row keeps ``N`` slots per group, a slot being a word ``(value, position)`` with the
position of the weight inside the group (``hw.layout.nm_word``; ``nm_code_word`` for a codebook
payload). Rows are interleaved over P PEs as in CSC (row ``r`` in PE ``r % P``, local row
``r // P``). PE ``p``'s bank is group-major: the word of group ``g``, local row ``i``, slot ``k``
is at address ``(g · L_p + i) · N + k``, ``L_p`` being the PE's row count. A row with fewer than N
weights in a group fills its last slots with padding words (value 0 / ``FILLER_CODE``,
position 0); kept weights come first, in increasing position. No pointers are needed: every PE
walks ``N · L_p`` words per group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import FormatError, InputError
from ...hw.layout import field_slices, nm_code_word, nm_word, position_bits
from .base import (BankedLayer, Blob, Format, Options, SizeBits, check_matrix, describe_layer,
                   expect_blobs)
from .payload import INT8, Payload

__all__ = ["NMLayer", "pack_nm", "unpack_nm", "word_layout", "FORMAT"]


def word_layout(payload: Payload, m: int):
    """The hardware word of an N:M layer with this payload: ``nm_word`` or ``nm_code_word``."""
    if payload.codebook is None:
        return nm_word(payload.bits, m)
    return nm_code_word(payload.bits, m)


def _slices(payload: Payload, m: int) -> tuple[tuple[int, int], tuple[int, int]]:
    layout = field_slices(word_layout(payload, m))
    return layout["value" if payload.codebook is None else "code"], layout["position"]


@dataclass(frozen=True, eq=False)
class NMLayer(BankedLayer):
    """One layer's weights in N:M form, interleaved over the PEs' banks."""

    rows: int
    cols: int
    pes: int
    n: int
    m: int
    #: Width of a word's value field (the code width when ``codebook`` is set).
    value_bits: int
    #: Per PE, the raw words of its bank (``word_layout`` bits), group-major.
    words: tuple[np.ndarray, ...]
    #: The layer's ``2**value_bits`` int8 codebook entries when words hold codes, else None.
    codebook: tuple[int, ...] | None = None

    @property
    def word_layout(self):
        return word_layout(self.payload, self.m)

    @property
    def position_bits(self) -> int:
        return position_bits(self.m)

    @property
    def word_bits(self) -> int:
        return self.value_bits + self.position_bits

    @property
    def groups(self) -> int:
        return -(-self.cols // self.m)

    def group_width(self, group: int) -> int:
        """Inputs of group ``group``: M, or fewer for the last one."""
        return min(self.m, self.cols - group * self.m)

    def counts(self) -> np.ndarray:
        """``(pes, groups)`` words each PE walks in each group: ``N · L_p``, kept or padding."""
        per_pe = np.array([self.n * self.local_rows(p) for p in range(self.pes)], dtype=np.int64)
        return np.repeat(per_pe[:, None], self.groups, axis=1)

    def n_words(self) -> int:
        return self.groups * self.rows * self.n

    def active_groups(self, inputs: np.ndarray) -> np.ndarray:
        """``(batch, groups)``: which groups hold a nonzero activation (a group of zeros can be skipped)."""
        x = np.asarray(inputs) != 0
        padded = np.zeros((x.shape[0], self.groups * self.m), dtype=bool)
        padded[:, :self.cols] = x
        return padded.reshape(x.shape[0], self.groups, self.m).any(axis=2)

    def fields(self, pe: int, words: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """``(raw value fields, positions)`` of PE ``pe``'s words (those in ``words``): uint8
        fields and int16 positions (signed, so their differences are)."""
        (v_off, v_w), (p_off, p_w) = _slices(self.payload, self.m)
        raw = np.asarray(self.words[pe][words], dtype=np.uint32)
        return ((raw >> v_off) & ((1 << v_w) - 1)).astype(np.uint8), \
            ((raw >> p_off) & ((1 << p_w) - 1)).astype(np.int16)

    def entries(self, pe: int, groups: range | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(row, col, value)`` of every kept weight of PE ``pe`` (in ``groups`` only, if
        given), in bank order.

        Raises FormatError if the bank has the wrong size, a position lies beyond its group,
        kept positions do not increase, or a padding slot is not a zero at position 0 after them.
        """
        local = self.local_rows(pe)
        if len(self.words[pe]) != self.groups * local * self.n:
            raise FormatError(f"PE {pe} bank holds {len(self.words[pe])} words, expected "
                              f"{self.groups} groups × {local} rows × {self.n}")
        groups = range(self.groups) if groups is None else groups
        per_group = local * self.n  # a group's words in the bank
        raw, pos = self.fields(pe, slice(groups.start * per_group, groups.stop * per_group))
        raw, pos = raw.reshape(len(groups), local, self.n), pos.reshape(len(groups), local, self.n)
        kept = raw != 0
        starts = np.arange(groups.start, groups.stop) * self.m
        width = np.minimum(self.m, self.cols - starts)[:, None, None]
        problems = (
            (kept & (pos >= width), "position beyond its group"),
            (~kept & (pos != 0), "padding slot with a nonzero position"),
            (np.pad(~kept[..., :-1] & kept[..., 1:], ((0, 0), (0, 0), (1, 0))),
             "kept weight after a padding slot"),
            (np.pad(kept[..., 1:] & (np.diff(pos, axis=-1) <= 0), ((0, 0), (0, 0), (1, 0))),
             "positions not increasing"),
        )
        for bad, what in problems:
            if bad.any():
                g, i, k = (int(v[0]) for v in np.nonzero(bad))
                raise FormatError(f"PE {pe} group {groups.start + g} row {pe + i * self.pes} "
                                  f"slot {k}: {what}")
        g, i, k = np.nonzero(kept)
        return (pe + i * self.pes, starts[g] + pos[g, i, k],
                self.payload.decode(raw[g, i, k]))

    def group_spans(self, pe: int, words: int = 1 << 14) -> list[range]:
        """PE ``pe``'s groups in consecutive spans of about ``words`` words each: walking a bank
        span by span bounds the scratch memory."""
        step = max(1, words // max(1, self.local_rows(pe) * self.n))
        return [range(g, min(g + step, self.groups)) for g in range(0, self.groups, step)]

    @property
    def nonzeros(self) -> int:
        return sum(int(np.count_nonzero(self.fields(p)[0])) for p in range(self.pes))


def pack_nm(weights: np.ndarray, *, n: int, m: int, pes: int = 1,
            payload: Payload = INT8) -> NMLayer:
    """Pack an integer matrix with at most ``n`` nonzeros per row in every ``m`` inputs."""
    options = Options(pes=pes, n=n, m=m)
    w = check_matrix(weights, payload)
    rows, cols = w.shape
    groups = -(-cols // m)
    padded = np.zeros((rows, groups * m), dtype=np.int64)
    padded[:, :cols] = w
    grouped = padded.reshape(rows, groups, m)
    nonzero = grouped != 0
    too_many = np.argwhere(nonzero.sum(axis=2) > n)
    if too_many.size:
        r, g = too_many[0]
        raise InputError(f"row {r} has {int(nonzero[r, g].sum())} nonzeros in inputs "
                         f"{g * m}..{min(g * m + m, cols) - 1}; {n}:{m} allows {n}")
    order = np.argsort(~nonzero, axis=2, stable=True)[:, :, :n]  # kept positions first, ascending
    kept = np.take_along_axis(nonzero, order, axis=2)
    pos = np.where(kept, order, 0)
    values = np.where(kept, np.take_along_axis(grouped, order, axis=2), 0)
    (v_off, _), (p_off, _) = _slices(payload, m)
    raw = (payload.encode(values) << np.uint64(v_off)) | (pos.astype(np.uint64) << np.uint64(p_off))
    banks = tuple(np.ascontiguousarray(raw[p::options.pes].transpose(1, 0, 2)).ravel().astype(np.uint32)
                  for p in range(options.pes))
    return NMLayer(rows, cols, options.pes, n, m, payload.bits, banks, payload.codebook)


def unpack_nm(layer: NMLayer) -> np.ndarray:
    """The dense int8 matrix an N:M layer encodes; FormatError if its words are inconsistent."""
    w = np.zeros((layer.rows, layer.cols), dtype=np.int8)
    for p in range(layer.pes):
        for groups in layer.group_spans(p):
            row, col, value = layer.entries(p, groups)
            w[row, col] = value
    return w


def pack(weights: np.ndarray, payload: Payload = INT8, options: Options = Options()) -> NMLayer:
    return pack_nm(weights, n=options.n, m=options.m, pes=options.pes, payload=payload)


def size_bits(layer: NMLayer) -> SizeBits:
    nonzeros, slots = layer.nonzeros, layer.n_words()
    return SizeBits(values=nonzeros * layer.value_bits, index=nonzeros * layer.position_bits,
                    fillers=(slots - nonzeros) * layer.word_bits, metadata=layer.payload.table_bits)


def describe(layer: NMLayer) -> dict:
    return describe_layer("nm", layer, layer.nonzeros, size_bits(layer), pes=layer.pes, n=layer.n,
                          m=layer.m, words=layer.n_words(), fillers=layer.n_words() - layer.nonzeros)


BLOBS = ("words",)


def blobs(layer: NMLayer) -> list[Blob]:
    return [Blob("words", layer.word_bits, np.concatenate([np.zeros(0, np.uint32), *layer.words]))]


def from_blobs(rows: int, cols: int, payload: Payload, options: Options,
               data: dict[str, np.ndarray]) -> NMLayer:
    expect_blobs(data, BLOBS)
    words = data["words"]
    groups = -(-cols // options.m)
    if words.size != groups * rows * options.n:
        raise FormatError(f"words: {groups} groups × {rows} rows × N={options.n} need "
                          f"{groups * rows * options.n} words, found {words.size}")
    sizes = [groups * len(range(p, rows, options.pes)) * options.n for p in range(options.pes)]
    banks = np.split(words, np.cumsum(sizes)[:-1])  # views: no copy of the words
    return NMLayer(rows, cols, options.pes, options.n, options.m, payload.bits, tuple(banks),
                   payload.codebook)


def symbols(layer: NMLayer) -> dict[str, tuple[np.ndarray, int]]:
    values, index = zip(*(layer.fields(p) for p in range(layer.pes)))
    return {"values": (np.concatenate(values), layer.value_bits),
            "index": (np.concatenate(index), layer.position_bits)}


FORMAT = Format("nm", 5, NMLayer, BLOBS,
                pack, unpack_nm, size_bits, describe, blobs, from_blobs, symbols)
