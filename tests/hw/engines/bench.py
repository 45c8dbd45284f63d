"""A compute engine alone, driven through its :class:`EngineSignature` ports as the accelerator's
sequencer drives it: mark the nonzero activations as work, launch, run until ``working`` falls,
then drain (and clear) every row. The activation buffer is a Python dict behind a synchronous
read port (data the cycle after ``act_en``), so only the engine is under test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.sim import Simulator

from secateurs.hw.capacity import Capacity
from secateurs.hw.engines.base import EngineSignature
from secateurs.hw.image import network_image
from secateurs.hw.memories import layer_entries, memory_images
from tests.helpers.models import packed, random_model
from tests.helpers.streams import CLOCK_PERIOD

__all__ = ["nm_model", "one_layer_image", "capacity_of", "engine_signature", "engine_init",
           "layer_constants", "EngineRun", "run_engine"]

ACC_BITS = 32
RUN_TIMEOUT = 10_000  # compute cycles after which an engine that never stops is a failure


def nm_model(rng, sizes, n, m):
    """A random model whose every row keeps at most ``n`` weights in each group of ``m`` inputs."""
    model = random_model(rng, sizes, 1.0)
    for q in model.layers:
        for r in range(q.rows):
            for g in range(0, q.cols, m):
                q.weight[r, rng.permutation(np.arange(g, min(g + m, q.cols)))[n:]] = 0
    return model


def one_layer_image(model, *, pes, fmt="csc", index_bits=4, n=None, m=None):
    """The :class:`NetworkImage` of ``model``'s single layer, packed for ``pes`` PEs."""
    if fmt == "nm":
        from secateurs.sw.formats import container
        return network_image(container.decode(container.encode(model, pes=pes, fmt="nm",
                                                               n=n, m=m)))
    return network_image(packed(model, pes=pes, index_bits=index_bits))


def capacity_of(image, *, kind, **design) -> Capacity:
    """The smallest capacity holding the one-layer ``image`` as ``kind``."""
    return Capacity.of(image, kind=kind, acc_bits=design.pop("acc_bits", ACC_BITS), **design)


def engine_signature(image, *, kind="sparse", **design) -> EngineSignature:
    """The ports the accelerator would give the ``kind`` engine of this one-layer ``image``."""
    return EngineSignature(capacity_of(image, kind=kind, **design), kind=kind)


def engine_init(image, signature) -> dict:
    """The memories' contents that bake ``image`` into the engine of ``signature``."""
    return memory_images(image, signature.capacity, signature.kind)


def layer_constants(image, signature) -> dict:
    """The ``config`` of layer 0 (the only layer)."""
    return layer_entries(image, signature.capacity)[0]


@dataclass(frozen=True)
class EngineRun:
    """One vector through the engine: the drained accumulators (row order), the compute cycles
    (launch cycle to the first drain cycle, as the accelerator counts ``C_l``) and the MACs."""

    accs: np.ndarray
    cycles: int
    macs: int


def run_engine(dut, image, inputs) -> list[EngineRun]:
    """Run each row of ``inputs`` through ``dut`` in turn, clearing the rows it drains."""
    layer, pes = image.layers[0], image.pes
    nonempty = layer.nonempty()
    lanes = dut.signature.lanes
    results = []

    async def bench(ctx):
        ctx.set(dut.config, layer_constants(image, dut.signature))
        for x in np.asarray(inputs):
            buffer = {j: int(v) for j, v in enumerate(x)}
            for j in np.flatnonzero((x != 0) & nonempty):  # the sequencer marks as it writes
                ctx.set(dut.pend_en, 1)
                ctx.set(dut.pend_index, int(j))
                await ctx.tick()
            ctx.set(dut.pend_en, 0)

            cycle, macs = 0, 0
            ctx.set(dut.launch, 1)
            while True:
                if cycle > 0 and not ctx.get(dut.working):
                    break
                assert cycle < RUN_TIMEOUT, "the engine never stopped working"
                macs += ctx.get(dut.events.macs)
                enables, addr = ctx.get(dut.act_en), ctx.get(dut.act_addr)
                await ctx.tick()
                for s in range(lanes):  # the buffer answers a cycle after the read
                    if enables >> s & 1:
                        ctx.set(dut.act_data[s], buffer.get(addr + s, 0))
                ctx.set(dut.launch, 0)
                ctx.set(dut.run, 1)
                cycle += 1
            ctx.set(dut.run, 0)

            accs = np.zeros(layer.rows, dtype=np.int64)
            for r in range(layer.rows):
                ctx.set(dut.drain_en, 1)
                ctx.set(dut.drain_pe, r % pes)
                ctx.set(dut.drain_addr, r // pes)
                await ctx.tick()
                ctx.set(dut.drain_en, 0)
                accs[r] = ctx.get(dut.acc)  # a synchronous RAM: the cycle after the read
                ctx.set(dut.clear_en, 1)
                ctx.set(dut.clear_pe, r % pes)
                ctx.set(dut.clear_addr, r // pes)
                await ctx.tick()
                ctx.set(dut.clear_en, 0)
            # the cycle that saw `working` low is the last compute cycle; draining starts after
            results.append(EngineRun(accs=accs, cycles=cycle + 1, macs=macs))

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(bench)
    sim.run()
    return results
