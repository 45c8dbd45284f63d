"""Fixed-width unsigned fields packed LSB-first into bytes, and back."""

from __future__ import annotations

import numpy as np


def pack_bits(values: np.ndarray, width: int) -> bytes:
    """Concatenate ``width``-bit unsigned fields, least significant bit first, padded to a byte."""
    v = np.asarray(values, dtype=np.uint64).ravel()
    if v.size and width < 64 and int(v.max()) >> width:
        raise ValueError(f"a value does not fit {width} bits")
    bits = ((v[:, None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits.ravel(), bitorder="little").tobytes()


def unpack_bits(data: bytes, width: int, count: int) -> np.ndarray:
    """The first ``count`` ``width``-bit fields of ``data`` (the inverse of :func:`pack_bits`)."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")[:count * width]
    weights = np.uint64(1) << np.arange(width, dtype=np.uint64)
    return (bits.reshape(count, width).astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def packed_size(count: int, width: int) -> int:
    """Bytes :func:`pack_bits` writes for ``count`` fields of ``width`` bits."""
    return (count * width + 7) // 8
