"""The activation queue: order kept, never more than D held, under random idle and back-pressure."""

import numpy as np
import pytest
from amaranth.hdl import unsigned

from secateurs.hw.queue import ActivationQueue, check_queue_depth

from .stream_bench import run_stream


@pytest.mark.parametrize("depth", [1, 2, 4, 16])
@pytest.mark.parametrize("seed", [0, 1])
def test_first_in_first_out(depth, seed):
    dut = ActivationQueue(unsigned(12), depth=depth)
    values = np.random.default_rng(seed).integers(0, 1 << 12, 60).tolist()
    got = run_stream(dut, dut.push, dut.pop, values, expect=len(values), seed=seed, idle=0.4,
                     stall=0.5)
    assert [int(v) for v in got] == values


@pytest.mark.parametrize("depth", [1, 3, 8])
def test_holds_exactly_depth_entries(depth):
    from amaranth.sim import Simulator

    dut = ActivationQueue(unsigned(8), depth=depth)
    levels = []

    async def bench(ctx):
        ctx.set(dut.push.valid, 1)
        for k in range(depth + 3):  # nothing pops: the queue fills, then refuses
            ctx.set(dut.push.payload, k)
            levels.append((ctx.get(dut.push.ready), ctx.get(dut.level)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert levels == [(1, k) for k in range(depth)] + [(0, depth)] * 3


@pytest.mark.parametrize("depth", [0, 17, 2.0, True])
def test_rejects_bad_depth(depth):
    with pytest.raises(ValueError, match=r"Queue depth must be an integer in 1\.\.16"):
        check_queue_depth(depth)
