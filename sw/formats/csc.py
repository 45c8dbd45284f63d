"""CSC with EIE-style relative row indices, rows interleaved over P processing elements.

Row ``r`` of a layer belongs to PE ``r % pes`` as its local row ``r // pes``. Each PE's bank holds
the words of its rows column after column (column-major). A word is ``(value, zeros)``: ``zeros``
local rows are skipped, then ``value`` lands on the next one. Gaps longer than the index field
can express are bridged by filler words (value 0, maximal ``zeros``). ``col_ptr[p, j]`` is where
column ``j`` starts in PE ``p``'s bank; ``col_ptr[p, cols]`` is the bank's word count.

The bit layout of a word comes from :mod:`secateurs.hw.layout`; nothing here restates it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import FormatError, InputError
from ...hw.layout import csc_word, field_slices, filler_zeros

__all__ = ["CSCLayer", "pack_csc", "unpack_csc"]


@dataclass(frozen=True, eq=False)
class CSCLayer:
    """One layer's weights in CSC form, ready for the sparse array's banks."""

    rows: int
    cols: int
    pes: int
    value_bits: int
    index_bits: int
    #: Per PE, the raw words of its bank (``csc_word`` bits, as unsigned integers).
    words: tuple[np.ndarray, ...]
    #: ``(pes, cols + 1)`` start of each column in each PE's bank.
    col_ptr: np.ndarray

    @property
    def word_bits(self) -> int:
        return self.value_bits + self.index_bits

    @property
    def rows_per_pe(self) -> int:
        return -(-self.rows // self.pes)

    def counts(self) -> np.ndarray:
        """``(pes, cols)`` words (nonzeros and fillers) each PE walks in each column."""
        return np.diff(self.col_ptr, axis=1)

    def n_words(self) -> int:
        return int(self.col_ptr[:, -1].sum())

    def decode(self, pe: int) -> tuple[np.ndarray, np.ndarray]:
        """``(values, zeros)`` of PE ``pe``'s words, as signed / unsigned integer arrays."""
        fields = field_slices(csc_word(self.value_bits, self.index_bits))
        raw = self.words[pe].astype(np.int64)
        v_off, v_w = fields["value"]
        z_off, z_w = fields["zeros"]
        values = (raw >> v_off) & ((1 << v_w) - 1)
        values = np.where(values >= 1 << (v_w - 1), values - (1 << v_w), values)
        zeros = (raw >> z_off) & ((1 << z_w) - 1)
        return values, zeros


def _check_matrix(weights: np.ndarray, value_bits: int) -> np.ndarray:
    w = np.asarray(weights)
    if w.ndim != 2:
        raise InputError(f"weights must be a 2-D matrix (rows x cols), not shape {w.shape}")
    if not np.issubdtype(w.dtype, np.integer):
        raise InputError(f"weights must be integers, not {w.dtype}")
    lo, hi = -(1 << (value_bits - 1)), (1 << (value_bits - 1)) - 1
    if w.size and (w.min() < lo or w.max() > hi):
        raise InputError(f"weights must fit {value_bits}-bit signed integers ({lo}..{hi})")
    return w.astype(np.int64)


def pack_csc(weights: np.ndarray, *, pes: int, index_bits: int = 4, value_bits: int = 8) -> CSCLayer:
    """Pack an integer matrix into per-PE CSC banks with relative indices and fillers."""
    w = _check_matrix(weights, value_bits)
    if not isinstance(pes, int) or pes < 1:
        raise InputError(f"PE count must be a positive integer, not {pes!r}")
    rows, cols = w.shape
    fields = field_slices(csc_word(value_bits, index_bits))
    v_off, v_w = fields["value"]
    z_off, _ = fields["zeros"]
    max_gap = filler_zeros(index_bits)
    filler = max_gap << z_off

    banks: list[list[int]] = [[] for _ in range(pes)]
    col_ptr = np.zeros((pes, cols + 1), dtype=np.int64)
    for p in range(pes):
        local = w[p::pes]  # this PE's rows, in local order
        bank = banks[p]
        for j in range(cols):
            col_ptr[p, j] = len(bank)
            previous = -1
            for r in np.flatnonzero(local[:, j]):
                gap = int(r) - previous - 1
                while gap > max_gap:
                    bank.append(filler)
                    gap -= max_gap + 1
                bank.append(((int(local[r, j]) & ((1 << v_w) - 1)) << v_off) | (gap << z_off))
                previous = int(r)
        col_ptr[p, cols] = len(bank)
    return CSCLayer(rows=rows, cols=cols, pes=pes, value_bits=value_bits, index_bits=index_bits,
                    words=tuple(np.array(b, dtype=np.uint32) for b in banks), col_ptr=col_ptr)


def unpack_csc(layer: CSCLayer) -> np.ndarray:
    """The dense int matrix a CSC layer encodes; raises FormatError if the words overrun a column."""
    w = np.zeros((layer.rows, layer.cols), dtype=np.int64)
    for p in range(layer.pes):
        values, zeros = layer.decode(p)
        local_rows = len(range(p, layer.rows, layer.pes))
        ptr = layer.col_ptr[p]
        if ptr[0] != 0 or np.any(np.diff(ptr) < 0) or ptr[-1] != len(values):
            raise FormatError(f"column pointers of PE {p} are not a monotonic cover of its bank")
        for j in range(layer.cols):
            row = -1
            for k in range(ptr[j], ptr[j + 1]):
                row += int(zeros[k]) + 1
                if row >= local_rows:
                    raise FormatError(
                        f"PE {p} column {j}: row index {row} beyond the PE's {local_rows} rows")
                w[p + row * layer.pes, j] = values[k]
    return w
