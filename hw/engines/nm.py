"""The N:M compute engine: the sparse accelerator's datapath for N:M structured weights.

N:M needs no index walk. For each group of M inputs, every PE walks its local rows in lockstep,
N words a row; a word's ``position`` picks one of the group's M activations, which come to all
PEs at once from a group register. So a layer costs ``N * ceil(rows / P)`` issue cycles per
group instead of the dense ``M * ceil(rows / P)``. A group whose M activations are all zero is
skipped: the sequencer marks each nonzero activation it writes (``pend_en``), and only groups
with a mark are walked, lowest first. The next group's M activations are read from the buffer
(one a cycle) while the current group is walked; each PE's first word of a group comes from a
group pointer memory read when the group's loading starts.

Timing of a layer launched in cycle T (``sw/cycles.py`` models it): the first group's
activations are read in cycles T + 1 .. T + M and swapped into the group register on the edge
closing T + M + 2; the k-th group walked is walked in cycles ``S_k .. S_k + W - 1``
(``W = N * ceil(rows / P)``), with ``S_0 = T + M + 3`` and ``S_{k+1} = S_k + max(W, M + 2)``:
group k + 1 is read from ``S_k`` on. With no group to walk the layer ends in cycle T + 1.
"""

from typing import NamedTuple

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring

from ..core.broadcast import block_mask, blocks_with_work
from ..core.loader import connect_write
from ..core.priority import lowest_set_bit
from ..memories import POINTERS, group_pointer_image, group_pointer_word
from ..params import ACT_BITS, loaded_attrs
from .base import EngineSignature, check_engine, codebooks, connect_drain, processing_elements

__all__ = ["group_pointer_image", "NMEngine"]


class _Loader(NamedTuple):
    """The loader's state the walker and ``working`` need (see ``NMEngine._loader``)."""

    loading: Signal
    captured: Signal
    next_x: Signal
    next_full: Signal


class NMEngine(wiring.Component):
    """P ProcessingElements in N:M mode, one shared row/slot walker, the group work list and
    loader; ``init`` (target id → words) bakes a model's banks, group pointers and codebooks in."""

    def __init__(self, signature: EngineSignature, *, init=None):
        self._capacity = capacity = check_engine(signature, "sparse", "nm")
        self._init = init or {}
        self._n, self._m = capacity.n, capacity.m
        self.bank_depth = capacity.bank_depth
        self._rows_per_pe = capacity.rows_per_pe
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        pes = processing_elements(m, self, init=self._init, group=self._m,
                                  codebook=codebooks(m, self, self._init))
        connect_drain(m, self, pes)
        groups, index, start_load = self._work_list(m)
        first_words = self._group_pointers(m, index, start_load)
        loader = self._loader(m, index, start_load)
        walking, swap = self._walker(m, pes, loader, first_words)

        settling = Signal()
        m.d.comb += [
            start_load.eq((self.launch | swap) & groups.any()),
            settling.eq(sum(pe.settling for pe in pes) != 0),
        ]
        m.d.comb += [
            self.working.eq(walking | loader.loading | loader.captured | loader.next_full
                            | settling),
            self.events.broadcasts.eq(swap),
        ]
        return m

    def _work_list(self, m):
        """Columns with a nonzero activation; the lowest group holding one is next. Returns the
        groups with work, the lowest one's ``index`` and ``start_load`` (driven by the caller:
        the loader takes that group on this edge, which clears its columns)."""
        cols, group = self._capacity.max_cols, self._m
        pending = Signal(cols)
        groups = blocks_with_work(pending, cols, group)
        picked, index = lowest_set_bit(m, groups, len(groups))
        start_load = Signal()  # the loader starts on the next group this edge
        marked = Signal(cols)
        with m.If(self.pend_en):
            m.d.comb += marked.eq(1 << self.pend_index)
        taken = Mux(start_load, block_mask(picked, cols, group), 0)
        m.d.sync += pending.eq((pending & ~taken) | marked)
        return groups, index, start_load

    def _group_pointers(self, m, index, start_load):
        """Each PE's first word of group ``index``, read as its loading starts (a RAM the load
        port writes, target ``POINTERS``)."""
        capacity = self._capacity
        layout = group_pointer_word(capacity)
        init = self._init.get(POINTERS, [])
        m.submodules.pointers = pointers = memory.Memory(
            shape=unsigned(layout.size), depth=capacity.pointer_depth, init=init,
            attrs=loaded_attrs(init))
        connect_write(m, self.write, POINTERS, pointers.write_port())
        pointer = pointers.read_port()
        first_words = data.View(layout, pointer.data)  # the loaded group's first word per PE
        m.d.comb += [pointer.addr.eq(self.config.ptr_base + index), pointer.en.eq(start_load)]
        return first_words

    def _loader(self, m, index, start_load) -> _Loader:
        """Reads the M activations of group ``load_group``, one a cycle, into ``next_x``;
        ``next_full`` once the last is captured (the walker clears it as it swaps them in)."""
        group = self._m
        n_groups = -(-self._capacity.max_cols // group)
        loading = Signal()
        load_group = Signal(range(n_groups))
        load_k = Signal(range(group))
        captured = Signal()
        captured_k = Signal(range(group))
        next_x = Signal(data.ArrayLayout(signed(ACT_BITS), group))
        next_full = Signal()
        m.d.sync += captured.eq(0)
        with m.If(loading):
            m.d.comb += [self.act_en.eq(1), self.act_addr.eq(load_group * group + load_k)]
            m.d.sync += [captured.eq(1), captured_k.eq(load_k), load_k.eq(load_k + 1)]
            with m.If(load_k == group - 1):
                m.d.sync += [loading.eq(0), load_k.eq(0)]
        with m.If(captured):
            m.d.sync += next_x[captured_k].eq(self.act_data[0])
            with m.If(captured_k == group - 1):
                m.d.sync += next_full.eq(1)
        with m.If(start_load):
            m.d.sync += [loading.eq(1), load_group.eq(index), load_k.eq(0)]
        return _Loader(loading=loading, captured=captured, next_x=next_x, next_full=next_full)

    def _walker(self, m, pes, loader, first_words):
        """Local row ``local``, slot ``slot`` of the current group, all PEs in lockstep; each
        PE's address advances only on its own rows (its bank holds just those). The loaded
        group is swapped in when the walk of the current one issues its last word (or at once
        when none is walked). Returns ``(walking, swap)``."""
        pes_count, cfg, n = self._capacity.pes, self.config, self._n
        walking = Signal()
        local = Signal(range(self._rows_per_pe))
        slot = Signal(range(n))
        current_x = Signal(data.ArrayLayout(signed(ACT_BITS), self._m))
        last_issue = (slot == n - 1) & (local + 1 == cfg.rows_per_pe)
        swap = loader.next_full & (~walking | last_issue)
        for p, pe in enumerate(pes):
            owns = local * pes_count + p < cfg.rows
            pe_addr = Signal(range(self.bank_depth), name=f"addr{p}")
            m.d.comb += [
                pe.issue.valid.eq(walking & owns),
                pe.issue.addr.eq(pe_addr),
                pe.xs.eq(current_x),
                pe.row.eq(local),
            ]
            with m.If(swap):
                m.d.sync += pe_addr.eq(first_words[p])
            with m.Elif(walking & owns):
                m.d.sync += pe_addr.eq(pe_addr + 1)

        with m.If(self.launch):
            m.d.sync += [loader.next_full.eq(0), walking.eq(0)]
        with m.Else():
            with m.If(walking):
                m.d.sync += slot.eq(slot + 1)
                with m.If(slot == n - 1):
                    m.d.sync += [slot.eq(0), local.eq(local + 1)]
                with m.If(last_issue):
                    m.d.sync += [walking.eq(0), local.eq(0)]
            with m.If(swap):
                m.d.sync += [current_x.eq(loader.next_x), loader.next_full.eq(0), walking.eq(1),
                             slot.eq(0), local.eq(0)]
        return walking, swap
