"""The dense baseline: the same P PEs walk every weight of every column, zeros included.

PE p's bank holds its local rows column-major: word ``j * rows_per_pe + l`` is the weight of
global row ``l * P + p`` in column ``j``, with ``rows_per_pe = ceil(n_rows / P)`` and ``zeros = 0``.
All PEs step in lockstep, one word a cycle, from column 0 to ``n_cols - 1``. A PE's padding
slots (global row ``>= n_rows``) are walked too but multiplied by 0, so whatever they hold is
never accumulated. Pointer writes are accepted and ignored.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring

from .host_port import activation_file, connect_bank_writes, drive_outputs
from .old_pe import ProcessingElement
from .run_control import RunControl
from .signature import LayerArraySignature

__all__ = ["DenseArray"]


class DenseArray(wiring.Component):
    """Single-layer dense MAC array; ``n_cols * ceil(n_rows / pes)`` issue cycles per run.

    Parameters are those of :class:`LayerArraySignature`; ``bank_depth`` must hold a full
    layer, ``ceil(rows / pes) * cols`` words.
    """

    def __init__(self, *, pes, rows, cols, value_bits=8, index_bits=4, acc_bits=32,
                 bank_depth=None):
        signature = LayerArraySignature(
            pes=pes, rows=rows, cols=cols, value_bits=value_bits, index_bits=index_bits,
            acc_bits=acc_bits, bank_depth=bank_depth)
        needed = signature.rows_per_pe * cols
        if signature.bank_depth < needed:
            raise ValueError(
                f"Bank depth of a dense array must be at least ceil(rows / pes) * cols = "
                f"{needed}, not {signature.bank_depth}")
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        sig = self.signature
        m.submodules.control = control = RunControl()
        pes = []
        for p in range(sig.pes):
            pe = ProcessingElement(
                bank_depth=sig.bank_depth, local_rows=sig.rows_per_pe,
                value_bits=sig.value_bits, index_bits=sig.index_bits, acc_bits=sig.acc_bits)
            m.submodules[f"pe{p}"] = pe
            m.d.comb += pe.clear.eq(control.launch)
            pes.append(pe)
        acts = activation_file(m, self, sig.cols)
        connect_bank_writes(m, self, pes)
        drive_outputs(m, self, pes, sig.rows)

        walking = Signal()
        col = Signal(range(sig.cols))
        base = Signal(range(sig.rows + sig.pes))  # global row of local row l in PE 0: l * P
        addr = Signal(range(sig.bank_depth))
        last_row = base + sig.pes >= self.n_rows
        for p, pe in enumerate(pes):
            m.d.comb += [
                pe.issue.valid.eq(walking),
                pe.issue.addr.eq(addr),
                pe.issue.first.eq(base == 0),
            ]
            with m.If(base + p < self.n_rows):
                m.d.comb += pe.issue.x.eq(acts[col])

        with m.If(control.launch):
            m.d.sync += [
                walking.eq((self.n_rows != 0) & (self.n_cols != 0)),
                col.eq(0),
                base.eq(0),
                addr.eq(0),
            ]
        with m.Elif(walking):
            m.d.sync += [addr.eq(addr + 1), base.eq(base + sig.pes)]
            with m.If(last_row):
                m.d.sync += [base.eq(0), col.eq(col + 1)]
                with m.If(col + 1 == self.n_cols):
                    m.d.sync += walking.eq(0)

        settling = Cat(pe.settling for pe in pes).any()
        m.d.comb += [
            control.start.eq(self.start),
            control.finishing.eq(~walking & ~settling),
            self.busy.eq(control.busy),
            self.done.eq(control.done),
            self.cycles.eq(control.cycles),
        ]
        return m
