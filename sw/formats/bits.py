"""Fixed-width unsigned fields packed LSB-first into bytes, and back."""

from __future__ import annotations

import numpy as np

MAX_WIDTH = 64  #: fields are held in uint64


def _check_width(width: int) -> None:
    if not isinstance(width, (int, np.integer)) or not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"field width must be in 1..{MAX_WIDTH}, not {width!r}")


def pack_bits(values: np.ndarray, width: int) -> bytes:
    """Concatenate ``width``-bit unsigned fields, least significant bit first, padded to a byte."""
    _check_width(width)
    v = np.asarray(values, dtype=np.uint64).ravel()
    if v.size and width < MAX_WIDTH and int(v.max()) >> width:
        raise ValueError(f"a value does not fit {width} bits")
    as_bytes = v.astype("<u8").view(np.uint8).reshape(-1, 8)
    bits = np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :width]
    return np.packbits(bits.ravel(), bitorder="little").tobytes()


def unpack_bits(data: bytes, width: int, count: int) -> np.ndarray:
    """The first ``count`` ``width``-bit fields of ``data`` (the inverse of :func:`pack_bits`)."""
    _check_width(width)
    if packed_size(count, width) > len(data):
        raise ValueError(f"{count} fields of {width} bits need {packed_size(count, width)} bytes, "
                         f"{len(data)} given")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")[:count * width]
    padded = np.zeros((count, MAX_WIDTH), dtype=np.uint8)
    padded[:, :width] = bits.reshape(count, width)
    return np.packbits(padded, axis=1, bitorder="little").view("<u8").ravel().astype(np.uint64)


def packed_size(count: int, width: int) -> int:
    """Bytes :func:`pack_bits` writes for ``count`` fields of ``width`` bits."""
    return (count * width + 7) // 8


def signed_width(values: np.ndarray) -> int:
    """Smallest two's-complement width holding every value (at least 1)."""
    v = np.asarray(values, dtype=np.int64)
    if not v.size:
        return 1
    hi, lo = max(int(v.max()), 0), min(int(v.min()), 0)
    return max(hi.bit_length(), (-lo - 1).bit_length() if lo < 0 else 0) + 1
