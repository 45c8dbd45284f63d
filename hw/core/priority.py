"""A priority encoder: the lowest set bit of a work vector, as a tree of 2:1 choices.

The schedulers pick the lowest block (or group) with pending work each cycle; this is the
logic in that path.
"""

from amaranth.hdl import Const, Module, Mux, Signal, Value

__all__ = ["lowest_set_bit"]


def lowest_set_bit(m: Module, vector: Signal, width: int) -> tuple[Signal, Signal]:
    """``(one_hot, index)`` of the lowest set bit of ``vector`` (both 0 when it is empty).

    A tree of 2:1 choices (``log2(width)`` levels), not ``v & -v``: the carry chain of the
    subtraction is the array's longest path on an iCE40. ``vector`` is copied into a signal
    first: the tree reads each bit more than once, and an expression would be copied each time.
    """
    bits = Signal(width, name="pick_from")
    m.d.comb += bits.eq(vector)
    vector = bits

    def lowest(lo: int, hi: int) -> tuple[Value, Value]:
        if hi - lo == 1:
            return vector[lo], Const(0, 1)
        mid = lo + (1 << ((hi - lo - 1).bit_length() - 1))
        any_lo, index_lo = lowest(lo, mid)
        any_hi, index_hi = lowest(mid, hi)
        bits = (mid - lo - 1).bit_length() + 1
        index = Mux(any_lo, index_lo, index_hi | Const(mid - lo, bits))
        return any_lo | any_hi, index

    found, found_index = lowest(0, width)
    one_hot = Signal(width)
    index = Signal(range(width))
    m.d.comb += index.eq(Mux(found, found_index, 0))
    m.d.comb += one_hot.eq(found << index)
    return one_hot, index
