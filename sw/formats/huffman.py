"""Huffman code lengths of a symbol stream: storage accounting only, as Deep Compression reports.

The hardware reads fixed-width fields; this says how small the same fields would be if the file
entropy-coded them (the decoder's table counted as ``TABLE_LENGTH_BITS`` per alphabet symbol).
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

__all__ = ["code_lengths", "coded_bits", "table_bits", "TABLE_LENGTH_BITS"]

TABLE_LENGTH_BITS = 5  #: a canonical Huffman table stores one code length (0..31) per symbol


def code_lengths(symbols: np.ndarray) -> dict[int, int]:
    """Optimal prefix-code length of each distinct symbol (a lone symbol still costs 1 bit)."""
    values, counts = np.unique(np.asarray(symbols).ravel(), return_counts=True)
    if len(values) == 0:
        return {}
    if len(values) == 1:
        return {int(values[0]): 1}
    lengths = dict.fromkeys((int(v) for v in values), 0)
    order = itertools.count()
    heap = [(int(c), next(order), [int(v)]) for v, c in zip(values, counts)]
    heapq.heapify(heap)
    while len(heap) > 1:
        (wa, _, a), (wb, _, b) = heapq.heappop(heap), heapq.heappop(heap)
        for s in itertools.chain(a, b):
            lengths[s] += 1
        heapq.heappush(heap, (wa + wb, next(order), a + b))
    return lengths


def coded_bits(symbols: np.ndarray) -> int:
    """Bits of the stream Huffman-coded (the table not included)."""
    values, counts = np.unique(np.asarray(symbols).ravel(), return_counts=True)
    lengths = code_lengths(symbols)
    return int(sum(lengths[int(v)] * int(c) for v, c in zip(values, counts)))


def table_bits(width: int) -> int:
    """Bits of a canonical Huffman table over all ``2**width`` symbols of a field."""
    return TABLE_LENGTH_BITS << width
