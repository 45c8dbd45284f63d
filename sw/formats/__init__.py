"""Packed weight formats, one file each, registered here by name (and by their id in model.bin).

The hardware reads CSC (int or codebook values) and N:M; dense, bitmap and CSR are storage
comparisons. Every format has the same functions (:class:`~.base.Format`).
"""

from __future__ import annotations

from ...errors import InputError
from . import bitmap, csc, csr, dense, nm
from .base import Format, Options, SizeBits
from .payload import INT4, INT8, Payload, codebook

__all__ = ["FORMATS", "FORMAT_IDS", "HARDWARE_FORMATS", "get_format", "format_of", "Format",
           "Options", "SizeBits", "Payload", "INT8", "INT4", "codebook"]

FORMATS: dict[str, Format] = {f.name: f for f in (dense.FORMAT, bitmap.FORMAT, csc.FORMAT,
                                                   csr.FORMAT, nm.FORMAT)}
FORMAT_IDS: dict[int, Format] = {f.id: f for f in FORMATS.values()}
#: The formats the accelerator's banks hold, and the payload kinds it reads in them.
HARDWARE_FORMATS: dict[str, tuple[str, ...]] = {"csc": ("int", "codebook"), "nm": ("int",)}


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown format {name!r}; valid: {', '.join(FORMATS)}") from None


def format_of(layer) -> Format:
    """The registry entry of a packed layer object."""
    for f in FORMATS.values():
        if isinstance(layer, f.layer):
            return f
    raise InputError(f"{type(layer).__name__} is not a packed layer of a known format")
