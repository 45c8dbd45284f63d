"""The one interface every single-layer array presents to its host (dense and sparse alike).

The host writes a layer (activations, weight words, column pointers), pulses ``start``, waits for
``done`` and reads the accumulators back, one row at a time. Because both arrays share this
signature, a testbench or a top level can swap one for the other without noticing.
"""

from amaranth.hdl import Shape, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .layout import csc_word, pointer_word
from .params import ACT_BITS, check_positive
from .params import COUNTER_BITS as CYCLE_BITS

__all__ = ["LayerArraySignature"]



class LayerArraySignature(wiring.Signature):
    """Host interface of an array that computes ``y = W x`` for one int8 layer.

    Parameters
    ----------
    pes : int
        Processing elements; row ``r`` lives in PE ``r % pes``.
    rows, cols : int
        Largest layer the array holds; ``n_rows``/``n_cols`` pick the current layer's size.
    value_bits, index_bits : int
        Widths of a weight word's fields (see :func:`~secateurs.hw.layout.csc_word`).
    acc_bits : int
        Accumulator width; rejected if a full column sum of extreme products could overflow it.
    bank_depth : int or None
        Words per PE weight bank; defaults to ``ceil(rows / pes) * cols`` (always enough, since
        every word advances at least one row).
    """

    def __init__(self, *, pes, rows, cols, value_bits=8, index_bits=4, acc_bits=32,
                 bank_depth=None):
        check_positive("PE count", pes)
        check_positive("Row count", rows)
        check_positive("Column count", cols)
        word = csc_word(value_bits, index_bits)
        check_positive("Accumulator width", acc_bits)
        worst = cols * (1 << (value_bits - 1)) * (1 << (ACT_BITS - 1))
        if worst >= 1 << (acc_bits - 1):
            raise ValueError(
                f"Accumulator width {acc_bits} can overflow: {cols} columns of "
                f"{value_bits}-bit x {ACT_BITS}-bit products reach {worst}, which needs "
                f"{worst.bit_length() + 1} bits")
        if bank_depth is None:
            bank_depth = -(-rows // pes) * cols
        check_positive("Bank depth", bank_depth)

        self.pes, self.rows, self.cols = pes, rows, cols
        self.value_bits, self.index_bits, self.acc_bits = value_bits, index_bits, acc_bits
        self.bank_depth = bank_depth
        super().__init__({
            "n_rows": In(range(rows + 1)),
            "n_cols": In(range(cols + 1)),
            "act_we": In(1),
            "act_addr": In(range(cols)),
            "act_data": In(signed(ACT_BITS)),
            "w_we": In(1),
            "w_pe": In(range(pes)),
            "w_addr": In(range(bank_depth)),
            "w_data": In(word),
            "ptr_we": In(1),
            "ptr_addr": In(range(cols + 1)),
            "ptr_data": In(pointer_word(pes, self.pointer_bits)),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "out_addr": In(range(rows)),
            "out_data": Out(signed(acc_bits)),
            "cycles": Out(CYCLE_BITS),
        })

    @property
    def pointer_bits(self) -> int:
        """Width of a bank address that may also point one past the last word."""
        return Shape.cast(range(self.bank_depth + 1)).width

    @property
    def rows_per_pe(self) -> int:
        return -(-self.rows // self.pes)

    @property
    def word_layout(self) -> data.StructLayout:
        return csc_word(self.value_bits, self.index_bits)

    @property
    def pointer_layout(self) -> data.StructLayout:
        return pointer_word(self.pes, self.pointer_bits)

    def _params(self) -> tuple:
        return (self.pes, self.rows, self.cols, self.value_bits, self.index_bits, self.acc_bits,
                self.bank_depth)

    def __eq__(self, other):
        return type(other) is LayerArraySignature and self._params() == other._params()

    def __hash__(self):
        return hash(self._params())

    def __repr__(self):
        return (f"LayerArraySignature(pes={self.pes}, rows={self.rows}, cols={self.cols}, "
                f"value_bits={self.value_bits}, index_bits={self.index_bits}, "
                f"acc_bits={self.acc_bits}, bank_depth={self.bank_depth})")
