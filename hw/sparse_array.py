"""The sparse array: EIE-style column broadcast over P PEs that spends no cycle on a zero.

Only columns with a nonzero activation and at least one word are broadcast (lowest first, an
aligned block of up to W a cycle); each PE queues the columns it has words in and walks them one
word a cycle.
Zero activations, all-zero columns and PEs without words in a column cost nothing; filler words
cost a cycle each. ``secateurs.sw.cycles`` models the resulting cycle count exactly.

Host convention: PE p's bank word k is ``layer.words[p][k]``; the pointer word at address j
(0..cols) holds ``start[p] = col_ptr[p, j]`` for every PE and ``nonempty`` = some PE has words in
column j (0 at j = cols).
"""

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring

from .core.walker import ColumnWalker
from .host_port import activation_file, connect_bank_writes, drive_outputs
from .old_pe import ProcessingElement
from .old_scheduler import ColumnScheduler
from .params import DEFAULT_ISSUE_WIDTH, check_issue_width, check_queue_depth
from .run_control import RunControl
from .signature import LayerArraySignature

__all__ = ["SparseArray"]


class SparseArray(wiring.Component):
    """Single-layer sparse MAC array with per-PE activation queues of depth ``queue_depth``.

    Parameters are those of :class:`LayerArraySignature`, plus ``queue_depth`` (1..16) and
    ``issue_width`` (columns broadcast per cycle: 1, 2, 4 or 8).
    """

    def __init__(self, *, pes, rows, cols, queue_depth,
                 issue_width=DEFAULT_ISSUE_WIDTH, value_bits=8, index_bits=4,
                 acc_bits=32, bank_depth=None):
        signature = LayerArraySignature(
            pes=pes, rows=rows, cols=cols, value_bits=value_bits, index_bits=index_bits,
            acc_bits=acc_bits, bank_depth=bank_depth)
        self.queue_depth = check_queue_depth(queue_depth)
        self.issue_width = check_issue_width(issue_width)
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        sig = self.signature
        m.submodules.control = control = RunControl()
        m.submodules.scheduler = scheduler = ColumnScheduler(
            pes=sig.pes, cols=sig.cols, pointer_bits=sig.pointer_bits,
            issue_width=self.issue_width)
        walkers, pes = [], []
        for p in range(sig.pes):
            walker = ColumnWalker(queue_depth=self.queue_depth, issue_width=self.issue_width,
                                  bank_depth=sig.bank_depth, pointer_bits=sig.pointer_bits)
            pe = ProcessingElement(
                bank_depth=sig.bank_depth, local_rows=sig.rows_per_pe,
                value_bits=sig.value_bits, index_bits=sig.index_bits, acc_bits=sig.acc_bits)
            m.submodules[f"walker{p}"] = walker
            m.submodules[f"pe{p}"] = pe
            wiring.connect(m, scheduler.columns[p], walker.column)
            wiring.connect(m, walker.issue, pe.issue)
            m.d.comb += pe.clear.eq(control.launch)
            walkers.append(walker)
            pes.append(pe)

        acts = activation_file(m, self, sig.cols)
        connect_bank_writes(m, self, pes)
        drive_outputs(m, self, pes, sig.rows)
        m.d.comb += [
            scheduler.ptr_we.eq(self.ptr_we),
            scheduler.ptr_addr.eq(self.ptr_addr),
            scheduler.ptr_data.eq(self.ptr_data),
            scheduler.launch.eq(control.launch),
            scheduler.n_cols.eq(self.n_cols),
            scheduler.acts.eq(acts),
        ]

        working = scheduler.busy | Cat(w.busy | pe.settling for w, pe in zip(walkers, pes)).any()
        m.d.comb += [
            control.start.eq(self.start),
            control.finishing.eq(~working),
            self.busy.eq(control.busy),
            self.done.eq(control.done),
            self.cycles.eq(control.cycles),
        ]
        return m
