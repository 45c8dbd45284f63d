"""The N:M compute engine: the sparse accelerator's datapath for N:M structured weights.

N:M needs no index walk. For each group of M inputs, every PE walks its local rows in lockstep,
N words a row; a word's ``position`` picks one of the group's M activations, which come to all
PEs at once from a group register. So a layer costs ``N * ceil(rows / P)`` issue cycles per
group instead of the dense ``M * ceil(rows / P)``. The next group's M activations are read from
the buffer (one a cycle) while the current group is walked.

Timing of a layer launched in cycle T (``sw/cycles.py`` models it): group 0's activations are
read in cycles T + 1 .. T + M and swapped into the group register on the edge closing T + M + 2;
group g is walked in cycles ``S_g .. S_g + W - 1`` (``W = N * ceil(rows / P)``), with
``S_0 = T + M + 3`` and ``S_{g+1} = S_g + max(W, M + 2)``: group g + 1 is read from ``S_g`` on.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring

from .engine import EngineSignature, connect_drain
from .memories import sparse_banks
from .network_pe import NetworkPE
from .signature import ACT_BITS

__all__ = ["NMEngine"]


class NMEngine(wiring.Component):
    """P NetworkPEs in N:M mode, one shared row/slot walker and the group loader."""

    def __init__(self, signature: EngineSignature, image, *, acc_bits):
        self._image, self._acc_bits = image, acc_bits
        self._n, self._m = image.nm
        banks, _ = sparse_banks(image)
        self.bank_depth = max(1, max(len(b) for b in banks))
        self._banks = [b + [0] * (self.bank_depth - len(b)) for b in banks]
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        image, bus, cfg = self._image, self, self.config
        n, group = self._n, self._m
        codebooks = tuple(l.codebook for l in image.layers) if image.codebook else None
        rows_per_pe = max(image.rows_per_pe(l) for l in range(len(image.layers)))
        pes = []
        for p in range(image.pes):
            pe = NetworkPE(word=image.word_layout(), bank=self._banks[p], local_rows=rows_per_pe,
                           acc_bits=self._acc_bits, layers=len(image.layers),
                           codebooks=codebooks, group=group)
            m.submodules[f"pe{p}"] = pe
            pes.append(pe)
        connect_drain(m, bus, pes)

        groups = -(-image.max_cols // group)
        # Loader: reads the M activations of group ``load_group`` into ``next_x``.
        loading = Signal()
        load_group = Signal(range(groups + 1))
        load_k = Signal(range(group))
        captured = Signal()
        captured_k = Signal(range(group))
        next_x = Signal(data.ArrayLayout(signed(ACT_BITS), group))
        next_full = Signal()
        current_x = Signal(data.ArrayLayout(signed(ACT_BITS), group))
        m.d.sync += captured.eq(0)
        with m.If(loading):
            m.d.comb += [bus.act_en.eq(1), bus.act_addr.eq(load_group * group + load_k)]
            m.d.sync += [captured.eq(1), captured_k.eq(load_k), load_k.eq(load_k + 1)]
            with m.If(load_k == group - 1):
                m.d.sync += [loading.eq(0), load_k.eq(0)]
        with m.If(captured):
            m.d.sync += next_x[captured_k].eq(bus.act_data[0])
            with m.If(captured_k == group - 1):
                m.d.sync += next_full.eq(1)

        # Walker: local row ``local``, slot ``slot`` of the current group, all PEs in lockstep;
        # each PE's address advances only on its own rows (its bank holds just those).
        walking = Signal()
        walk_group = Signal(range(groups + 1))
        local = Signal(range(rows_per_pe))
        slot = Signal(range(n))
        last_issue = (slot == n - 1) & (local + 1 == cfg.rows_per_pe)
        for p, pe in enumerate(pes):
            owns = local * image.pes + p < cfg.rows
            pe_addr = Signal(range(self.bank_depth), name=f"addr{p}")
            m.d.comb += [
                pe.issue.valid.eq(walking & owns),
                pe.issue.addr.eq(pe_addr),
                pe.xs.eq(current_x),
                pe.row.eq(local),
            ]
            with m.If(bus.launch & (bus.layer == 0)):
                m.d.sync += pe_addr.eq(0)
            with m.Elif(walking & owns):
                m.d.sync += pe_addr.eq(pe_addr + 1)

        swap = next_full & (~walking | last_issue) & (walk_group != cfg.groups)
        with m.If(bus.launch):
            m.d.sync += [loading.eq(1), load_group.eq(0), load_k.eq(0), next_full.eq(0),
                         walking.eq(0), walk_group.eq(0)]
        with m.Else():
            with m.If(walking):
                m.d.sync += slot.eq(slot + 1)
                with m.If(slot == n - 1):
                    m.d.sync += [slot.eq(0), local.eq(local + 1)]
                with m.If(last_issue):
                    m.d.sync += [walking.eq(0), local.eq(0)]
            with m.If(swap):
                m.d.sync += [current_x.eq(next_x), next_full.eq(0), walking.eq(1), slot.eq(0),
                             local.eq(0), walk_group.eq(walk_group + 1)]
                with m.If(walk_group + 1 != cfg.groups):
                    m.d.sync += [loading.eq(1), load_group.eq(walk_group + 1), load_k.eq(0)]

        settling = Signal()
        m.d.comb += settling.eq(sum(pe.settling for pe in pes) != 0)
        m.d.comb += [
            bus.working.eq(walking | loading | captured | next_full
                           | (walk_group != cfg.groups) | settling),
            bus.events.broadcasts.eq(swap),
        ]
        return m
