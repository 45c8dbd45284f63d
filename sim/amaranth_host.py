"""The host of a whole-network accelerator inside an Amaranth async testbench.

Streams each input vector in (with seeded random idle cycles on ``input.valid``), pulses
``start``, takes the logits from the ``output`` stream (with seeded random back-pressure: idle
cycles on ``output.ready`` before a logit is taken), waits for ``done`` and reads the class, the
logits' registers and every counter. Used by the
Amaranth-simulation tests; the Verilator testbench (``sim/tb/cocotb_test.py``) does the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.sim import Simulator

from ..hw.accelerator import COUNTERS

__all__ = ["Inference", "simulate_network"]

CLOCK_PERIOD = 1e-8  # seconds; only the edge count matters
MAX_IDLE = 3  # longest run of idle cycles slipped between two input values
RUN_TIMEOUT = 1_000_000  # cycles after which a run that never reports done is a failure


@dataclass(frozen=True)
class Inference:
    """What one run reported: class, logits (registers and stream), counters, the edges the host
    counted and the cycles it held a valid logit back (each one adds a cycle to the run)."""

    predicted: int
    logits: np.ndarray
    streamed: np.ndarray
    counters: dict
    edges: int
    held: int


def simulate_network(dut, inputs, *, seed: int | None = None, idle: float = 0.0,
                     start_early: bool = False, load: dict | None = None) -> list[Inference]:
    """Run each row of ``inputs`` (int8 features) through ``dut`` in order.

    ``load`` maps an input row's index to 32-bit words streamed into ``dut.load`` before that
    row (``{0: load_words(image, capacity, kind)}`` loads a model before the first run).
    ``seed`` turns on random idle cycles (probability ``idle`` before each input value, and
    before each logit the host takes).
    ``start_early`` holds ``start`` high while loading, proving it is ignored until the input
    vector is complete.
    """
    results = []
    outputs = dut.signature.outputs

    async def testbench(ctx):
        rng = None if seed is None else np.random.default_rng(seed)

        def hold() -> int:
            """Cycles the host will keep the next logit waiting."""
            if rng is None or rng.random() >= idle:
                return 0
            return int(rng.integers(1, MAX_IDLE + 1))

        for row, x in enumerate(np.asarray(inputs)):
            for word in (load or {}).get(row, ()):
                if rng is not None and rng.random() < idle:
                    ctx.set(dut.load.valid, 0)
                    await ctx.tick().repeat(int(rng.integers(1, MAX_IDLE + 1)))
                ctx.set(dut.load.payload, int(word))
                ctx.set(dut.load.valid, 1)
                await ctx.tick().until(dut.load.ready)
            ctx.set(dut.load.valid, 0)
            ctx.set(dut.start, int(start_early))
            for value in x.tolist():
                if rng is not None and rng.random() < idle:
                    ctx.set(dut.input.valid, 0)
                    await ctx.tick().repeat(int(rng.integers(1, MAX_IDLE + 1)))
                ctx.set(dut.input.payload, value)
                ctx.set(dut.input.valid, 1)
                await ctx.tick().until(dut.input.ready)
            ctx.set(dut.input.valid, 0)
            if ctx.get(dut.busy):
                raise AssertionError("the run started before its input was complete")
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            edges, held, waiting, streamed = 1, 0, hold(), []
            while not ctx.get(dut.done):
                if not ctx.get(dut.busy):
                    raise AssertionError(f"busy fell before done, {edges} edges into the run")
                if edges > RUN_TIMEOUT:
                    raise AssertionError(f"no done after {RUN_TIMEOUT} cycles")
                ctx.set(dut.output.ready, waiting == 0)
                if ctx.get(dut.output.valid):
                    if waiting == 0:
                        streamed.append(ctx.get(dut.output.payload))
                        waiting = hold()
                    else:
                        waiting, held = waiting - 1, held + 1
                await ctx.tick()
                edges += 1
            logits = np.zeros(outputs, dtype=np.int64)
            for i in range(outputs):
                ctx.set(dut.logit_addr, i)
                logits[i] = ctx.get(dut.logit)
            counters = {name: ctx.get(getattr(dut.counters, name)) for name in COUNTERS}
            results.append(Inference(ctx.get(dut.predicted), logits,
                                     np.array(streamed, dtype=np.int64), counters, edges, held))

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(testbench)
    sim.run()
    return results
