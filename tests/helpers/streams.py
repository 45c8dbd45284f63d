"""Driving and draining an Amaranth stream in a testbench, with seeded idle cycles on the input
and back-pressure on the output (verilog-axis style)."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

CLOCK_PERIOD = 1e-8


def run_stream(dut, source, sink, payloads, *, expect: int, seed: int, idle=0.3, stall=0.3,
               drive=None, timeout=10_000):
    """Send ``payloads`` (ints or dicts) on ``source``, collect ``expect`` payloads from ``sink``.

    ``drive(ctx)``, if given, is awaited once before sending (to set static inputs).
    """
    received = []

    async def producer(ctx):
        rng = np.random.default_rng(seed)
        if drive is not None:
            await drive(ctx)
        for payload in payloads:
            while rng.random() < idle:
                ctx.set(source.valid, 0)
                await ctx.tick()
            ctx.set(source.payload, payload)
            ctx.set(source.valid, 1)
            await ctx.tick().until(source.ready)
        ctx.set(source.valid, 0)

    async def consumer(ctx):
        rng = np.random.default_rng(seed + 1)
        cycles = 0
        while len(received) < expect:
            ready = int(rng.random() >= stall)
            ctx.set(sink.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(sink.valid, sink.payload)
            if valid and ready:
                received.append(payload)
            cycles += 1
            assert cycles < timeout, f"only {len(received)} of {expect} outputs came"

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return received
