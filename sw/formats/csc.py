"""CSC with EIE-style relative row indices, rows interleaved over P processing elements.

Row ``r`` of a layer belongs to PE ``r % pes`` as its local row ``r // pes``. Each PE's bank holds
the words of its rows column after column (column-major). A word is ``(value, zeros)``: ``zeros``
local rows are skipped, then ``value`` lands on the next one. Gaps longer than the index field
can express are bridged by filler words (value 0, maximal ``zeros``), each advancing ``2**r``
rows. ``col_ptr[p, j]`` is where column ``j`` starts in PE ``p``'s bank; ``col_ptr[p, cols]``
is the bank's word count. With a codebook payload the value field is a ``code`` into the
layer's table (``hw.layout.csc_code_word``) and a filler's code is ``FILLER_CODE``.

The bit layout of a word comes from :mod:`secateurs.hw.layout`; nothing here restates it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import FormatError, InputError
from ...hw.layout import csc_code_word, csc_word, field_slices, filler_zeros
from .base import (BankedLayer, Blob, Format, Options, SizeBits, check_matrix, count_bits,
                   describe_layer, expect_blobs, spans)
from .payload import INT8, Payload

__all__ = ["CSCLayer", "pack_csc", "unpack_csc", "best_index_bits", "best_common_index_bits",
           "word_layout", "INDEX_WIDTHS",
           "FORMAT"]

INDEX_WIDTHS = range(1, 9)  #: candidate relative index widths r


@dataclass(frozen=True, eq=False)
class CSCLayer(BankedLayer):
    """One layer's weights in CSC form, ready for the sparse array's banks."""

    rows: int
    cols: int
    pes: int
    #: Width of a word's value field (the code width when ``codebook`` is set).
    value_bits: int
    index_bits: int
    #: Per PE, the raw words of its bank (``word_layout`` bits, as unsigned integers).
    words: tuple[np.ndarray, ...]
    #: ``(pes, cols + 1)`` start of each column in each PE's bank.
    col_ptr: np.ndarray
    #: The layer's ``2**value_bits`` int8 codebook entries when words hold codes, else None.
    codebook: tuple[int, ...] | None = None

    @property
    def word_layout(self):
        """``csc_word`` (int values) or ``csc_code_word`` (codebook indices) of this layer."""
        return word_layout(self.payload, self.index_bits)

    @property
    def word_bits(self) -> int:
        return self.value_bits + self.index_bits

    def counts(self) -> np.ndarray:
        """``(pes, cols)`` words (nonzeros and fillers) each PE walks in each column."""
        return np.diff(self.col_ptr, axis=1)

    def n_words(self) -> int:
        return int(self.col_ptr[:, -1].sum())

    def fields(self, pe: int, words: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """``(raw value fields, zeros)`` of PE ``pe``'s words (those in ``words``), as uint8
        arrays (a field is at most 8 bits)."""
        (v_off, v_w), (z_off, z_w) = _slices(self.payload, self.index_bits)
        raw = np.asarray(self.words[pe][words], dtype=np.uint32)
        return ((raw >> v_off) & ((1 << v_w) - 1)).astype(np.uint8), \
            ((raw >> z_off) & ((1 << z_w) - 1)).astype(np.uint8)

    def decode(self, pe: int) -> tuple[np.ndarray, np.ndarray]:
        """``(values, zeros)`` of PE ``pe``'s words: signed values (codebook looked up)."""
        raw, zeros = self.fields(pe)
        return self.payload.decode(raw), zeros

    def n_fillers(self) -> int:
        return sum(int(np.count_nonzero(self.fields(p)[0] == 0)) for p in range(self.pes))

    def entries(self, pe: int, columns: range | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(row, col, value)`` of every weight word of PE ``pe`` (in ``columns`` only, if
        given), walked as the PE walks them.

        Raises FormatError if the pointers do not cover the bank, a word lands beyond the PE's
        rows, or a zero-valued word is not a filler followed by a weight in its column.
        """
        ptr = np.asarray(self.col_ptr[pe], dtype=np.int64)
        if ptr[0] != 0 or np.any(np.diff(ptr) < 0) or ptr[-1] != len(self.words[pe]):
            raise FormatError(f"column pointers of PE {pe} are not a monotonic cover of its bank")
        columns = range(self.cols) if columns is None else columns
        first = int(ptr[columns.start])  # the first word of these columns
        ptr = ptr[columns.start:columns.stop + 1] - first
        raw, zeros = self.fields(pe, slice(first, first + int(ptr[-1])))
        # int32 throughout: a bank's words (<= 2^22) each advance at most 2^8 rows
        col = np.repeat(np.arange(columns.start, columns.stop, dtype=np.int32), np.diff(ptr))
        row = np.cumsum(zeros, dtype=np.int32)
        row += np.arange(1, len(row) + 1, dtype=np.int32)  # rows advanced up to each word
        row -= np.repeat(np.concatenate([np.zeros(1, np.int32), row])[ptr[:-1]], np.diff(ptr))
        row -= 1
        bad = np.flatnonzero(row >= self.local_rows(pe))
        if bad.size:
            k = bad[0]
            raise FormatError(f"PE {pe} column {col[k]}: row index {row[k]} beyond the PE's "
                              f"{self.local_rows(pe)} rows")
        filler = raw == 0
        last_in_column = np.zeros(len(raw), dtype=bool)
        last_in_column[ptr[1:][np.diff(ptr) > 0] - 1] = True
        bad = np.flatnonzero(filler & ((zeros != filler_zeros(self.index_bits)) | last_in_column))
        if bad.size:
            raise FormatError(f"PE {pe} column {col[bad[0]]}: word {first + bad[0]} has no value "
                              f"but is not a filler followed by a weight")
        keep = ~filler
        return pe + row[keep] * self.pes, col[keep], self.payload.decode(raw[keep])

    @property
    def nonzeros(self) -> int:
        return self.n_words() - self.n_fillers()


def word_layout(payload: Payload, index_bits: int):
    """The hardware word of a CSC layer with this payload: ``csc_word`` or ``csc_code_word``."""
    if payload.codebook is None:
        return csc_word(payload.bits, index_bits)
    return csc_code_word(payload.bits, index_bits)


def _slices(payload: Payload, index_bits: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(offset, width)`` of the value (or code) field and of the zeros field."""
    layout = field_slices(word_layout(payload, index_bits))
    return layout["value" if payload.codebook is None else "code"], layout["zeros"]


def _column_gaps(local: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(col, row, gap)`` of each nonzero of a PE's rows, column-major; gap = zeros skipped."""
    col, row = np.nonzero(local.T)
    previous = np.concatenate([[-1], row[:-1]])
    previous[np.concatenate([[True], col[1:] != col[:-1]])] = -1
    return col, row, row - previous - 1


def _word_counts(w: np.ndarray, pes: int, index_bits: int) -> np.ndarray:
    """``(pes, cols)`` words a PE needs per column: its nonzeros plus the fillers of their gaps."""
    counts = np.zeros((pes, w.shape[1]), dtype=np.int64)
    for p in range(pes):
        col, _, gap = _column_gaps(w[p::pes])
        np.add.at(counts[p], col, 1 + (gap >> index_bits))
    return counts


def _size(counts: np.ndarray, nonzeros: int, payload: Payload, index_bits: int) -> SizeBits:
    words = int(counts.sum())
    return SizeBits(values=nonzeros * payload.bits, index=nonzeros * index_bits,
                    fillers=(words - nonzeros) * (payload.bits + index_bits),
                    metadata=counts.size * count_bits(counts.max(initial=0)) + payload.table_bits)


def best_index_bits(weights: np.ndarray, *, pes: int, payload: Payload = INT8) -> int:
    """The relative index width r with the fewest total bits (fillers and counts included)."""
    return best_common_index_bits([(weights, payload)], pes=pes)


def best_common_index_bits(layers: list[tuple[np.ndarray, Payload]], *, pes: int) -> int:
    """The one width r with the fewest total bits over several layers (one word layout for all)."""
    totals = np.zeros(len(INDEX_WIDTHS), dtype=np.int64)
    for weights, payload in layers:
        w = check_matrix(weights, payload)
        nonzeros = int(np.count_nonzero(w))
        totals += [_size(_word_counts(w, pes, r), nonzeros, payload, r).total for r in INDEX_WIDTHS]
    return INDEX_WIDTHS[int(np.argmin(totals))]  # ties go to the narrower word


def pack_csc(weights: np.ndarray, *, pes: int, index_bits: int | None = 4, value_bits: int = 8,
             payload: Payload | None = None) -> CSCLayer:
    """Pack an integer matrix into per-PE CSC banks with relative indices and fillers.

    ``payload`` (default: ``value_bits``-bit integers) says what a value field holds;
    ``index_bits=None`` picks the best width (:func:`best_index_bits`).
    """
    payload = payload or Payload(value_bits)
    w = check_matrix(weights, payload)
    if not isinstance(pes, int) or pes < 1:
        raise InputError(f"PE count must be a positive integer, not {pes!r}")
    if index_bits is None:
        index_bits = best_index_bits(w, pes=pes, payload=payload)
    (v_off, _), (z_off, _) = _slices(payload, index_bits)
    filler = filler_zeros(index_bits) << z_off

    banks, col_ptr = [], np.zeros((pes, w.shape[1] + 1), dtype=np.int64)
    for p in range(pes):
        local = w[p::pes]
        col, row, gap = _column_gaps(local)
        fillers = gap >> index_bits
        run = fillers + 1  # each weight is preceded by its fillers
        bank = np.full(int(run.sum()), filler, dtype=np.uint64)
        value = payload.encode(local[row, col])
        bank[np.cumsum(run) - 1] = (value << np.uint64(v_off)) | (
            (gap - (fillers << index_bits)).astype(np.uint64) << np.uint64(z_off))
        np.add.at(col_ptr[p], col + 1, run)
        banks.append(bank.astype(np.uint32))
    return CSCLayer(rows=w.shape[0], cols=w.shape[1], pes=pes, value_bits=payload.bits,
                    index_bits=index_bits, words=tuple(banks), col_ptr=np.cumsum(col_ptr, axis=1),
                    codebook=payload.codebook)


def unpack_csc(layer: CSCLayer) -> np.ndarray:
    """The dense int8 matrix a CSC layer encodes; FormatError if its words are inconsistent."""
    w = np.zeros((layer.rows, layer.cols), dtype=np.int8)
    for p in range(layer.pes):
        for columns in spans(layer.col_ptr[p]):
            row, col, value = layer.entries(p, columns)
            w[row, col] = value
    return w


def pack(weights: np.ndarray, payload: Payload = INT8, options: Options = Options()) -> CSCLayer:
    return pack_csc(weights, pes=options.pes, index_bits=options.index_bits, payload=payload)


def size_bits(layer: CSCLayer) -> SizeBits:
    return _size(layer.counts(), layer.nonzeros, layer.payload, layer.index_bits)


def describe(layer: CSCLayer) -> dict:
    return describe_layer("csc", layer, layer.nonzeros, size_bits(layer), pes=layer.pes,
                          index_bits=layer.index_bits, words=layer.n_words(),
                          fillers=layer.n_fillers())


BLOBS = ("counts", "words")


def blobs(layer: CSCLayer) -> list[Blob]:
    counts = layer.counts()
    return [Blob("counts", count_bits(counts.max(initial=0)), counts.ravel()),
            Blob("words", layer.word_bits, np.concatenate([np.zeros(0, np.uint32), *layer.words]))]


def from_blobs(rows: int, cols: int, payload: Payload, options: Options,
               data: dict[str, np.ndarray]) -> CSCLayer:
    expect_blobs(data, BLOBS)
    counts, words = data["counts"].astype(np.int64), data["words"]
    if counts.size != options.pes * cols:
        raise FormatError(f"counts: expected P·C = {options.pes * cols} fields, found {counts.size}")
    counts = counts.reshape(options.pes, cols)
    if int(counts.sum()) != words.size:
        raise FormatError(f"words: the counts add up to {int(counts.sum())} words, found {words.size}")
    col_ptr = np.concatenate([np.zeros((options.pes, 1), np.int64), np.cumsum(counts, axis=1)], axis=1)
    banks = np.split(words, np.cumsum(col_ptr[:, -1])[:-1])  # views: no copy of the words
    return CSCLayer(rows, cols, options.pes, payload.bits, options.index_bits, tuple(banks), col_ptr,
                    payload.codebook)


def symbols(layer: CSCLayer) -> dict[str, tuple[np.ndarray, int]]:
    values, index = zip(*(layer.fields(p) for p in range(layer.pes)))
    return {"values": (np.concatenate(values), layer.value_bits),
            "index": (np.concatenate(index), layer.index_bits)}


FORMAT = Format("csc", 3, CSCLayer, BLOBS,
                pack, unpack_csc, size_bits, describe, blobs, from_blobs, symbols)
