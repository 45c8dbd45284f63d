"""Analytic storage of a layer whose nonzeros fall independently with probability ``density``.

Bits per nonzero of each format, for comparing measured packings with what the formats cost in
expectation: the bitmap pays ``1 / density`` index bits per nonzero; CSR pays a full column index;
CSC with r-bit relative indices pays fillers: a gap of G zeros needs ``floor(G / 2^r)`` of them.
In an unbounded column gaps are geometric and ``E[floor(G / 2^r)] = q / (1 - q)`` with
``q = (1 - density)^(2^r)``; in a column of L rows the gap before row i is cut at i, which the
exact sum below accounts for. Per-row (CSR) and per-PE-column (CSC) counts are charged at one
bit above the width of their expected value (room for the largest).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["EIE_BITS", "bitmap_bits", "csr_bits", "csc_fillers", "csc_bits", "best_csc_bits"]

#: EIE (Han et al. 2016): a 4-bit shared-weight index and a 4-bit relative row index per entry.
EIE_BITS = 8
COUNT_HEADROOM_BITS = 1  #: a count field one bit wider than its mean needs holds the largest


def _width(maximum: float) -> int:
    return max(1, math.ceil(math.log2(maximum + 1)))


def bitmap_bits(density: float, value_bits: int) -> float:
    return value_bits + 1 / density


def csr_bits(density: float, rows: int, cols: int, value_bits: int) -> float:
    """Value, absolute column index, and a per-row count over the row's expected nonzeros."""
    per_row = density * cols
    return value_bits + _width(cols - 1) + _count_width(per_row) / per_row


def _count_width(expected: float) -> int:
    return _width(expected) + COUNT_HEADROOM_BITS


def csc_fillers(density: float, index_bits: int, column_rows: int | None = None) -> float:
    """Expected filler words per nonzero with ``index_bits``-bit relative indices.

    ``column_rows`` is the length of a PE's column (None: unbounded).
    """
    span = 1 << index_bits
    q = (1 - density) ** span
    if column_rows is None:
        return q / (1 - q)
    # nonzero at row i: E[floor(gap / span)] = sum of q^k for k = 1 .. floor(i / span)
    i = np.arange(column_rows)
    k = i // span
    per_row = q * (1 - q ** k) / (1 - q) if q < 1 else k.astype(float)
    return float(per_row.mean())


def csc_bits(density: float, rows: int, value_bits: int, index_bits: int, pes: int = 1) -> float:
    """Words (nonzero and filler) of value + index bits, and a per-PE, per-column count."""
    local_rows = max(1, round(rows / pes))
    fillers = csc_fillers(density, index_bits, local_rows)
    words = (value_bits + index_bits) * (1 + fillers)
    per_column = local_rows * density * (1 + fillers)
    return words + _count_width(per_column) / per_column


def best_csc_bits(density: float, rows: int, value_bits: int, pes: int = 1) -> tuple[float, int]:
    """The cheapest relative index width and its bits per nonzero."""
    return min((csc_bits(density, rows, value_bits, r, pes), r) for r in range(1, 9))
