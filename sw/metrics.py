"""What pruning buys on paper: storage compression and the MAC count it removes."""

from __future__ import annotations

import numpy as np

FP32_BITS = 32


def dense_bits(layers) -> int:
    """Bits of the unpruned float32 model (weights and biases)."""
    return FP32_BITS * sum(l.weight.size + l.rows for l in layers)


def compression_ratio(layers, packed_bytes: int) -> float:
    """Dense float32 size over the packed size (values, indices, fillers, pointers, metadata)."""
    return dense_bits(layers) / (8 * packed_bytes)


def theoretical_speedup(layers) -> float:
    """Dense MACs over remaining MACs: what a machine that skips every zero weight could gain."""
    dense = sum(l.weight.size for l in layers)
    nonzero = sum(int(np.count_nonzero(l.weight)) for l in layers)
    return dense / max(nonzero, 1)


def density(layers) -> float:
    return sum(int(np.count_nonzero(l.weight)) for l in layers) / sum(l.weight.size for l in layers)
