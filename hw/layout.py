"""The bits the packer writes and the RTL reads: declared once, here.

A CSC weight word holds one entry of a PE's slice of a column (EIE, Han et al. 2016):

* ``value`` — the signed weight (two's complement);
* ``zeros`` — how many of the PE's rows are skipped before this entry (relative row index).

A gap longer than ``2**index_bits - 1`` rows is bridged by *filler* words: ``value == 0`` and
``zeros == 2**index_bits - 1``; a filler costs a cycle and adds nothing.

A pointer word describes one column for all PEs at once: where each PE's words of that column
start in its bank, and whether any PE has a word in it (columns with no word are never
scheduled, so an all-zero column costs no cycle).

``sw/formats`` packs with these layouts (their field offsets) and never restates them.
"""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

__all__ = ["csc_word", "pointer_word", "field_slices", "filler_zeros"]


def csc_word(value_bits: int = 8, index_bits: int = 4) -> data.StructLayout:
    """Layout of a CSC weight word: ``value`` in the low bits, ``zeros`` above it."""
    if not isinstance(value_bits, int) or not 2 <= value_bits <= 16:
        raise ValueError(f"Value width must be an integer in 2..16, not {value_bits!r}")
    if not isinstance(index_bits, int) or not 1 <= index_bits <= 8:
        raise ValueError(f"Index width must be an integer in 1..8, not {index_bits!r}")
    return data.StructLayout({"value": signed(value_bits), "zeros": unsigned(index_bits)})


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
