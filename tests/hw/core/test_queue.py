"""The activation queue: order kept, never more than D held, up to W entries in a cycle (any set
of lanes), under random idle lanes and back-pressure."""

import numpy as np
import pytest
from amaranth.hdl import unsigned
from amaranth.sim import Simulator

from secateurs.hw.core.queue import ActivationQueue
from secateurs.hw.params import check_queue_depth
from tests.helpers.streams import CLOCK_PERIOD


def run_queue(dut, values, *, width, seed, idle=0.4, stall=0.5):
    """Push ``values`` on random lanes (never more than ``room``), pop with back-pressure."""
    received, levels = [], []

    async def producer(ctx):
        rng = np.random.default_rng(seed)
        pending = list(values)
        while pending:
            room = ctx.get(dut.push.room)
            lanes = [k for k in range(width) if rng.random() >= idle][:min(room, len(pending))]
            ctx.set(dut.push.valid, sum(1 << k for k in lanes))
            for k in lanes:
                ctx.set(dut.push.entries[k], pending.pop(0))
            await ctx.tick()
        ctx.set(dut.push.valid, 0)

    async def consumer(ctx):
        rng = np.random.default_rng(seed + 1)
        while len(received) < len(values):
            ready = int(rng.random() >= stall)
            ctx.set(dut.pop.ready, ready)
            _, _, valid, payload, level = await ctx.tick().sample(
                dut.pop.valid, dut.pop.payload, dut.level)
            levels.append(level)
            if valid and ready:
                received.append(payload)
            assert len(levels) < 10_000, "the queue stopped"

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return received, levels


@pytest.mark.parametrize("depth,width", [(1, 1), (2, 1), (4, 1), (16, 1), (1, 2), (3, 2),
                                         (4, 4), (5, 4), (16, 8)])
@pytest.mark.parametrize("seed", [0, 1])
def test_first_in_first_out(depth, width, seed):
    dut = ActivationQueue(unsigned(12), depth=depth, width=width)
    values = np.random.default_rng(seed).integers(0, 1 << 12, 60).tolist()
    got, levels = run_queue(dut, values, width=width, seed=seed)
    assert [int(v) for v in got] == values
    assert max(levels) <= depth


@pytest.mark.parametrize("depth,width", [(1, 1), (3, 1), (8, 1), (3, 2), (5, 4), (4, 4)])
def test_holds_exactly_depth_entries(depth, width):
    dut = ActivationQueue(unsigned(8), depth=depth, width=width)
    seen = []

    async def bench(ctx):
        for k in range(depth + 3):  # nothing pops: the queue fills, then refuses
            room = ctx.get(dut.push.room)
            seen.append((room, ctx.get(dut.level)))
            ctx.set(dut.push.valid, (1 << room) - 1)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(bench)
    sim.run()
    level, want = 0, []
    for _ in range(depth + 3):
        room = min(width, depth - level)
        want.append((room, level))
        level += room
    assert seen == want


def test_sparse_lanes_go_in_lane_order():
    """Lanes 1 and 3 of 4 set: their entries come out in that order, and nothing else."""
    dut = ActivationQueue(unsigned(8), depth=4, width=4)
    out = []

    async def bench(ctx):
        ctx.set(dut.push.valid, 0b1010)
        for k, v in enumerate([10, 11, 12, 13]):
            ctx.set(dut.push.entries[k], v)
        await ctx.tick()
        ctx.set(dut.push.valid, 0)
        ctx.set(dut.pop.ready, 1)
        for _ in range(4):
            if ctx.get(dut.pop.valid):
                out.append(ctx.get(dut.pop.payload))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(bench)
    sim.run()
    assert out == [11, 13]


@pytest.mark.parametrize("depth", [0, 17, 2.0, True])
def test_rejects_bad_depth(depth):
    with pytest.raises(ValueError, match=r"Queue depth must be an integer in 1\.\.16"):
        check_queue_depth(depth)
