"""The accelerator's host interface at the port level (hw/accelerator.py): the input stream's
``ready``, ``start`` while loading, output back-pressure and the logit registers, cycle by cycle
against the integer reference and the cycle model, on designs with the model baked in."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from secateurs.hw.accelerator import Accelerator
from secateurs.hw.capacity import Capacity
from secateurs.hw.image import network_image
from secateurs.sw.cycles import network_cycles
from secateurs.sw.reference import forward
from tests.helpers.models import packed, random_inputs, random_model
from tests.helpers.streams import CLOCK_PERIOD

SIZES = [6, 7, 4]
RUN_TIMEOUT = 2_000


def _design(kind, seed=0):
    rng = np.random.default_rng(seed)
    p = packed(random_model(rng, SIZES, 0.5), pes=2)
    x = random_inputs(rng, 3, SIZES[0], zero_fraction=0.2)
    image = network_image(p)  # baked in: these tests are about the run, not the loading
    return p, x, Accelerator(Capacity.of(image, queue_depth=2), kind=kind, image=image)


def _simulate(dut, bench):
    async def after_power_on(ctx):
        await ctx.tick().repeat(dut.clear_cycles)  # busy while the accumulators clear
        await bench(ctx)

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(after_power_on)
    sim.run()


async def _load(ctx, dut, x):
    """Offer ``x`` one value a cycle; every value is taken the cycle it is offered."""
    for value in x.tolist():
        ctx.set(dut.input.payload, value)
        ctx.set(dut.input.valid, 1)
        assert ctx.get(dut.input.ready)
        await ctx.tick()
    ctx.set(dut.input.valid, 0)


async def _run(ctx, dut, hold=None):
    """Pulse ``start``; take each logit as offered, except that logit ``hold[0]`` is kept
    waiting ``hold[1]`` cycles. Returns ``(edges, streamed, payloads seen while held)``."""
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)
    edges, streamed, held = 1, [], []
    while not ctx.get(dut.done):
        assert ctx.get(dut.busy) and not ctx.get(dut.input.ready)
        assert edges < RUN_TIMEOUT, "no done"
        waiting = hold is not None and len(streamed) == hold[0] and len(held) < hold[1]
        ctx.set(dut.output.ready, not waiting)
        if ctx.get(dut.output.valid):
            if waiting:
                held.append(ctx.get(dut.output.payload))
            else:
                streamed.append(ctx.get(dut.output.payload))
        await ctx.tick()
        edges += 1
    return edges, streamed, held


def _logits(ctx, dut, order):
    """The logit registers, read through ``logit_addr`` in ``order``, listed by index."""
    values = {}
    for i in order:
        ctx.set(dut.logit_addr, i)
        values[i] = ctx.get(dut.logit)
    return [values[i] for i in sorted(values)]


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_sim_input_ready_drops_after_the_last_feature_and_while_busy(kind):
    """``ready`` holds for exactly ``inputs`` values, stays low (a value on offer is not taken)
    until the run's ``done``, and rises again after it: the next vector loads from feature 0."""
    p, x, dut = _design(kind)
    want = forward(p.model, x[:2])[-1]
    seen = {}

    async def bench(ctx):
        await _load(ctx, dut, x[0])
        ctx.set(dut.input.payload, 99)  # offered while loaded and idle: refused
        ctx.set(dut.input.valid, 1)
        for _ in range(3):
            assert not ctx.get(dut.input.ready) and not ctx.get(dut.busy)
            await ctx.tick()
        ctx.set(dut.input.payload, int(x[1, 0]))  # offered all through the run: refused
        _, seen["first"], _ = await _run(ctx, dut)
        assert ctx.get(dut.input.ready)  # done: the offered value is taken now
        await ctx.tick()
        await _load(ctx, dut, x[1, 1:])
        assert not ctx.get(dut.input.ready)
        _, seen["second"], _ = await _run(ctx, dut)

    _simulate(dut, bench)
    assert seen["first"] == want[0].tolist()
    assert seen["second"] == want[1].tolist()


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_sim_start_before_the_vector_is_complete_is_ignored(kind):
    """A ``start`` pulse while loading launches nothing and is not remembered; ``start`` held
    high through the load launches on the edge after the last value is taken."""
    p, x, dut = _design(kind, seed=1)
    want = forward(p.model, x[:2])[-1]
    cycles = network_cycles(p, x[:2], queue_depth=2, array=kind).total
    seen = {}

    async def bench(ctx):
        half = SIZES[0] // 2
        await _load(ctx, dut, x[0, :half])
        for _ in range(3):  # start while half loaded
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            assert not ctx.get(dut.busy) and ctx.get(dut.input.ready)
        await _load(ctx, dut, x[0, half:])
        for _ in range(5):  # the early pulses left nothing behind
            assert not ctx.get(dut.busy) and not ctx.get(dut.done)
            await ctx.tick()
        seen["edges"], seen["first"], _ = await _run(ctx, dut)

        ctx.set(dut.start, 1)  # held high from the first value of the next vector on
        for value in x[1].tolist():
            ctx.set(dut.input.payload, value)
            ctx.set(dut.input.valid, 1)
            assert ctx.get(dut.input.ready) and not ctx.get(dut.busy)
            await ctx.tick()
        ctx.set(dut.input.valid, 0)
        assert not ctx.get(dut.busy)  # loaded: this cycle's edge samples start
        await ctx.tick()
        ctx.set(dut.start, 0)
        assert ctx.get(dut.busy)
        edges = 1
        while not ctx.get(dut.done):
            ctx.set(dut.output.ready, 1)
            await ctx.tick()
            edges += 1
        seen["second_edges"] = edges
        seen["second"] = _logits(ctx, dut, range(SIZES[-1]))

    _simulate(dut, bench)
    assert seen["first"] == want[0].tolist() and seen["edges"] == cycles[0]
    assert seen["second"] == want[1].tolist() and seen["second_edges"] == cycles[1]


@pytest.mark.parametrize("kind", ["sparse", "dense"])
@pytest.mark.parametrize("logit,cycles_held", [(0, 1), (0, 3), (SIZES[-1] - 1, 2)])
def test_sim_output_back_pressure_holds_the_run_one_cycle_per_cycle(kind, logit, cycles_held):
    """Logit ``logit`` kept waiting: it stays on offer unchanged, the others follow in order,
    and the run ends exactly ``cycles_held`` cycles later than the cycle model's."""
    p, x, dut = _design(kind, seed=2)
    want = forward(p.model, x[:1])[-1][0]
    cycles = network_cycles(p, x[:1], queue_depth=2, array=kind).total[0]
    seen = {}

    async def bench(ctx):
        await _load(ctx, dut, x[0])
        seen["edges"], seen["streamed"], seen["held"] = await _run(
            ctx, dut, hold=(logit, cycles_held))
        seen["counted"] = ctx.get(dut.counters.cycles)

    _simulate(dut, bench)
    assert seen["streamed"] == want.tolist()
    assert seen["held"] == [int(want[logit])] * cycles_held
    assert seen["edges"] == seen["counted"] == cycles + cycles_held


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_sim_logit_addr_reads_that_logit(kind):
    """Any order of ``logit_addr``: each reads its own register; the class is their argmax."""
    p, x, dut = _design(kind, seed=3)
    want = forward(p.model, x[:1])[-1][0]
    seen = {}

    async def bench(ctx):
        await _load(ctx, dut, x[0])
        await _run(ctx, dut)
        seen["reversed"] = _logits(ctx, dut, reversed(range(SIZES[-1])))
        seen["shuffled"] = _logits(ctx, dut, [2, 0, 3, 1])
        seen["predicted"] = ctx.get(dut.predicted)

    _simulate(dut, bench)
    assert seen["reversed"] == seen["shuffled"] == want.tolist()
    assert seen["predicted"] == int(np.argmax(want))
