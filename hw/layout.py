"""The bits the packer writes and the RTL reads: declared once, here.

A CSC weight word holds one entry of a PE's slice of a column (EIE, Han et al. 2016):

* ``value`` — the signed weight (two's complement);
* ``zeros`` — how many of the PE's rows are skipped before this entry (relative row index).

A gap longer than ``2**index_bits - 1`` rows is bridged by *filler* words: ``value == 0`` and
``zeros == 2**index_bits - 1``; a filler costs a cycle and adds nothing.

A pointer word describes one column for all PEs at once: where each PE's words of that column
start in its bank, and whether any PE has a word in it (columns with no word are never
scheduled, so an all-zero column costs no cycle).

With weight sharing (Deep Compression) a word holds a ``code`` instead of a value: an index into
the layer's codebook table of ``2**code_bits`` int8 entries (``codebook_table``). Entry
``FILLER_CODE`` is always 0, so a filler (or an N:M padding slot) multiplies by zero.

An N:M word holds one kept weight of a group of M consecutive inputs of one output row: its
``value`` (or ``code``) and its ``position`` in the group.

``sw/formats`` packs with these layouts (their field offsets) and never restates them.
"""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from .params import check_code_bits, check_group, check_index_bits, check_value_bits

__all__ = ["CODEBOOK_VALUE_BITS", "FILLER_CODE", "csc_word", "csc_code_word", "nm_word",
           "nm_code_word", "codebook_table", "position_bits", "pointer_word", "field_slices",
           "filler_zeros"]

CODEBOOK_VALUE_BITS = 8  # codebook entries are int8, so the MAC is the one of int8 weights
FILLER_CODE = 0  # codebook entry 0 is 0: fillers and padding slots carry this code


def position_bits(m: int) -> int:
    """Bits of the position of a weight within a group of ``m`` inputs (at least 1)."""
    return (check_group(m) - 1).bit_length()


def csc_word(value_bits: int = 8, index_bits: int = 4) -> data.StructLayout:
    """Layout of a CSC weight word: ``value`` in the low bits, ``zeros`` above it."""
    check_value_bits(value_bits)
    check_index_bits(index_bits)
    return data.StructLayout({"value": signed(value_bits), "zeros": unsigned(index_bits)})


def csc_code_word(code_bits: int = 4, index_bits: int = 4) -> data.StructLayout:
    """Layout of a CSC word of a shared-weight layer: ``code`` in the low bits, ``zeros`` above."""
    check_code_bits(code_bits)
    check_index_bits(index_bits)
    return data.StructLayout({"code": unsigned(code_bits), "zeros": unsigned(index_bits)})


def nm_word(value_bits: int = 8, m: int = 4) -> data.StructLayout:
    """Layout of an N:M word: ``value`` in the low bits, its ``position`` in the group above."""
    check_value_bits(value_bits)
    return data.StructLayout({"value": signed(value_bits), "position": unsigned(position_bits(m))})


def nm_code_word(code_bits: int = 4, m: int = 4) -> data.StructLayout:
    """Layout of an N:M word of a shared-weight layer: ``code``, then ``position``."""
    check_code_bits(code_bits)
    return data.StructLayout({"code": unsigned(code_bits), "position": unsigned(position_bits(m))})


def codebook_table(code_bits: int = 4) -> data.ArrayLayout:
    """A layer's codebook: ``2**code_bits`` signed entries; entry ``FILLER_CODE`` is 0."""
    return data.ArrayLayout(signed(CODEBOOK_VALUE_BITS), 1 << check_code_bits(code_bits))


def pointer_word(pes: int, pointer_bits: int) -> data.StructLayout:
    """Layout of a column-pointer word: ``start[p]`` for each PE, then the ``nonempty`` flag."""
    if not isinstance(pes, int) or pes < 1:
        raise ValueError(f"PE count must be a positive integer, not {pes!r}")
    if not isinstance(pointer_bits, int) or pointer_bits < 1:
        raise ValueError(f"Pointer width must be a positive integer, not {pointer_bits!r}")
    return data.StructLayout({
        "start": data.ArrayLayout(unsigned(pointer_bits), pes),
        "nonempty": unsigned(1),
    })


def filler_zeros(index_bits: int) -> int:
    """The ``zeros`` field of a filler word: the longest gap one word can express."""
    return (1 << index_bits) - 1


def field_slices(layout: data.StructLayout) -> dict[str, tuple[int, int]]:
    """``{field: (offset, width)}`` for the packer, which works on plain integers."""
    return {name: (f.offset, f.width) for name, f in layout}
