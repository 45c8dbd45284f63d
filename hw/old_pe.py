"""A processing element's datapath: weight bank, word decode, multiply, accumulate.

Each cycle the PE may be *issued* one bank address with the activation it multiplies. The word
comes back a cycle later (synchronous bank read); its ``zeros`` field advances the local row,
which restarts at the top of the PE's rows on the first word of a column, and ``value * x`` is
registered. The next cycle adds the product into that row's accumulator. Both arrays use this
datapath: the sparse one issues CSC words, the dense one issues every word with ``zeros = 0``.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from .core.pe import IssueSignature
from .layout import csc_word
from .params import ACT_BITS

__all__ = ["ProcessingElement"]



class ProcessingElement(wiring.Component):
    """Weight bank plus a two-stage multiply-accumulate over ``local_rows`` accumulators.

    ``settling`` is high while a word issued on the previous cycle is still on its way, i.e. its
    accumulate lands after the current edge; a run is over once no PE is settling and nothing
    more is issued.
    """

    def __init__(self, *, bank_depth, local_rows, value_bits=8, index_bits=4, acc_bits=32):
        self._bank_depth = bank_depth
        self._local_rows = local_rows
        self._word = csc_word(value_bits, index_bits)
        self._value_bits, self._index_bits = value_bits, index_bits
        self._acc_bits = acc_bits
        super().__init__({
            "w_en": In(1),
            "w_addr": In(range(bank_depth)),
            "w_data": In(self._word),
            "clear": In(1),
            "issue": In(IssueSignature(bank_depth=bank_depth)),
            "settling": Out(1),
            "acc": Out(data.ArrayLayout(signed(acc_bits), local_rows)),
        })

    def elaborate(self, platform):
        m = Module()
        row_shape = range(self._local_rows + (1 << self._index_bits))

        m.submodules.bank = bank = memory.Memory(shape=self._word, depth=self._bank_depth, init=[])
        write = bank.write_port()
        read = bank.read_port()
        m.d.comb += [
            write.en.eq(self.w_en),
            write.addr.eq(self.w_addr),
            write.data.eq(self.w_data),
            read.addr.eq(self.issue.addr),
            read.en.eq(self.issue.valid),  # the bank's output only moves when a word is issued
        ]

        # Stage 1: the word arrives; decode its row and register the product.
        fetched = Signal()
        first = Signal()
        x = Signal(signed(ACT_BITS))
        m.d.sync += [fetched.eq(self.issue.valid), first.eq(self.issue.first), x.eq(self.issue.x)]
        m.d.comb += self.settling.eq(fetched)

        row = Signal(row_shape)  # local row of the last decoded word of the current column
        this_row = Signal(row_shape)
        m.d.comb += this_row.eq(row + read.data.zeros + 1)
        with m.If(first):
            m.d.comb += this_row.eq(read.data.zeros)

        product = Signal(signed(self._value_bits + ACT_BITS))
        product_row = Signal(row_shape)
        product_valid = Signal()
        m.d.sync += product_valid.eq(fetched)
        with m.If(fetched):
            m.d.sync += [
                row.eq(this_row),
                product_row.eq(this_row),
                product.eq(read.data.value * x),
            ]

        # Stage 2: one shared adder; the sum is written back to the product's row only.
        current = Signal(signed(self._acc_bits))
        with m.Switch(product_row):
            for r in range(self._local_rows):
                with m.Case(r):
                    m.d.comb += current.eq(self.acc[r])
        total = Signal(signed(self._acc_bits))
        m.d.comb += total.eq(current + product)
        with m.If(self.clear):
            m.d.sync += self.acc.eq(0)
        with m.Elif(product_valid):
            with m.Switch(product_row):
                for r in range(self._local_rows):
                    with m.Case(r):
                        m.d.sync += self.acc[r].eq(total)
        return m
