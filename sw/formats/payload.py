"""What a stored weight field holds: a b-bit signed integer, or a b-bit index into a codebook.

Every format stores its values through a :class:`Payload`, so int8, int4 and shared weights
(Deep Compression's per-layer codebook) work in all of them. A codebook has ``2**bits`` int8
entries; entry ``FILLER_CODE`` is always 0, so zeros, fillers and padding use that code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import InputError
from ...hw.layout import CODEBOOK_VALUE_BITS, FILLER_CODE

__all__ = ["Payload", "INT8", "INT4", "codebook", "PAYLOAD_KINDS", "CODEBOOK_VALUE_BITS",
           "FILLER_CODE", "to_signed"]

INT_BITS = range(2, 9)  #: widths of a plain signed value field
CODE_BITS = range(1, 9)  #: widths of a codebook index (Deep Compression uses 2..8)
PAYLOAD_KINDS = ("int", "codebook")  #: their ids in model.bin are their positions here
_ENTRY_MIN = -(1 << (CODEBOOK_VALUE_BITS - 1))
_ENTRY_MAX = (1 << (CODEBOOK_VALUE_BITS - 1)) - 1


def to_signed(raw: np.ndarray, bits: int) -> np.ndarray:
    """``bits``-wide two's-complement fields (as unsigned integers) to signed int64."""
    raw = np.asarray(raw, dtype=np.int64) & ((1 << bits) - 1)
    return np.where(raw >= 1 << (bits - 1), raw - (1 << bits), raw)


@dataclass(frozen=True)
class Payload:
    """A value field of ``bits`` bits: signed integers, or indices into ``codebook`` if given."""

    bits: int
    #: The ``2**bits`` int8 entries of a shared-weight layer; ``None`` for plain integers.
    codebook: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.codebook is None:
            if not isinstance(self.bits, int) or self.bits not in INT_BITS:
                raise InputError(f"integer value width must be in 2..8 bits, not {self.bits!r}")
            return
        if not isinstance(self.bits, int) or self.bits not in CODE_BITS:
            raise InputError(f"codebook index width must be in 1..8 bits, not {self.bits!r}")
        table = self.codebook
        if len(table) != 1 << self.bits:
            raise InputError(f"a {self.bits}-bit codebook has {1 << self.bits} entries, not {len(table)}")
        if any(not _ENTRY_MIN <= int(v) <= _ENTRY_MAX for v in table):
            raise InputError(f"codebook entries must be int{CODEBOOK_VALUE_BITS}")
        if int(table[FILLER_CODE]) != 0:
            raise InputError(f"codebook entry {FILLER_CODE} must be 0 (fillers use it), not {table[0]}")
        object.__setattr__(self, "codebook", tuple(int(v) for v in table))

    @property
    def kind(self) -> str:
        return "int" if self.codebook is None else "codebook"

    @property
    def name(self) -> str:
        return f"int{self.bits}" if self.codebook is None else f"codebook{self.bits}"

    @property
    def table(self) -> np.ndarray:
        """The codebook as int64 (empty for integer payloads)."""
        return np.array(self.codebook or (), dtype=np.int64)

    @property
    def table_bits(self) -> int:
        """Bits the codebook table takes in storage (0 for integer payloads)."""
        return CODEBOOK_VALUE_BITS * len(self.codebook or ())

    @property
    def value_range(self) -> tuple[int, int]:
        """Smallest and largest value the payload can hold."""
        if self.codebook is None:
            return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        return min(self.codebook), max(self.codebook)

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Raw unsigned fields of integer ``values``; InputError if one is not representable."""
        v = np.asarray(values, dtype=np.int64)
        if self.codebook is None:
            lo, hi = self.value_range
            if v.size and (v.min() < lo or v.max() > hi):
                raise InputError(f"weights must fit {self.bits}-bit signed integers ({lo}..{hi})")
            return (v & ((1 << self.bits) - 1)).astype(np.uint64)
        lookup = np.full(_ENTRY_MAX - _ENTRY_MIN + 1, -1, dtype=np.int64)
        for code in range(len(self.codebook) - 1, -1, -1):  # the first code of a value wins
            lookup[self.codebook[code] - _ENTRY_MIN] = code
        lookup[-_ENTRY_MIN] = FILLER_CODE
        inside = (v >= _ENTRY_MIN) & (v <= _ENTRY_MAX)
        codes = np.where(inside, lookup[np.clip(v, _ENTRY_MIN, _ENTRY_MAX) - _ENTRY_MIN], -1)
        if np.any(codes < 0):
            missing = int(v[codes < 0].flat[0])
            raise InputError(f"weight {missing} is not in the layer's {self.bits}-bit codebook")
        return codes.astype(np.uint64)

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """Integer values of raw fields (sign-extended, or looked up in the codebook), as int8:
        every payload's values are int8, so a decoded matrix takes one byte a weight."""
        fields = np.asarray(raw).astype(np.uint8) & np.uint8((1 << self.bits) - 1)
        if self.codebook is None:  # the sign bit to int8's top, then an arithmetic shift back
            spare = np.uint8(8 - self.bits)
            return np.asarray(fields << spare).view(np.int8) >> np.int8(spare)
        return self.table.astype(np.int8)[fields]

    def is_zero_field(self, raw: np.ndarray) -> np.ndarray:
        """Which raw fields are the zero a filler or padding slot holds."""
        return np.asarray(raw, dtype=np.int64) == 0  # int 0 and FILLER_CODE are both all-zero bits


INT8 = Payload(8)
INT4 = Payload(4)


def codebook(table) -> Payload:
    """A codebook payload from its entries (length a power of two, entry 0 equal to 0)."""
    table = tuple(int(v) for v in np.asarray(table).ravel())
    bits = max(len(table) - 1, 0).bit_length()
    if len(table) < 2 or len(table) != 1 << bits:
        raise InputError(f"a codebook needs a power-of-two number (>= 2) of entries, not {len(table)}")
    return Payload(bits, table)
