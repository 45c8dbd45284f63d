"""The host of a whole-network accelerator inside an Amaranth async testbench.

Streams each input vector in (with seeded random idle cycles on ``input.valid``), pulses
``start``, takes the logits from the ``output`` stream (with seeded random back-pressure: idle
cycles on ``output.ready`` before a logit is taken), waits for ``done`` and reads the class, the
logits' registers and every counter. It may also pulse ``rst`` at a chosen cycle of a row and
abandon that row, as a host that resets a run would. Used by the Amaranth-simulation tests; the
Verilator testbench (``sim/tb/cocotb_test.py``) does the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.sim import Simulator

from ..hw.accelerator import COUNTERS

__all__ = ["PHASES", "Inference", "Interrupted", "host_ports", "simulate_network"]

CLOCK_PERIOD = 1e-8  # seconds; only the edge count matters
MAX_IDLE = 3  # longest run of idle cycles slipped between two input values
RUN_TIMEOUT = 1_000_000  # cycles after which a run that never reports done is a failure
#: The phases of a row a reset may land in: streaming its load words, streaming its input
#: vector, and the run (from the launch edge, which samples ``start``, to ``done``).
PHASES = ("load", "input", "run")


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


@dataclass(frozen=True)
class Interrupted:
    """A row abandoned by a reset: the ``phase`` and its ``cycle`` whose edge sampled ``rst``,
    whether the host was then holding an offered logit back (``held_back``), the cycles ``busy``
    stayed high after the reset edge, and what the host then read (:func:`host_ports`)."""

    phase: str
    cycle: int
    held_back: bool
    busy_cycles: int
    ports: dict


class _Reset(Exception):
    """The host pulsed ``rst``: the row is abandoned."""


def host_ports(ctx, dut) -> dict:
    """Every value a host reads from ``dut``: its status, the readiness of its streams, the
    logit registers (a tuple, through ``logit_addr``) and the counters, by name."""
    ports = {"busy": dut.busy, "done": dut.done, "predicted": dut.predicted,
             "features": dut.features, "classes": dut.classes, "load_ready": dut.load.ready,
             "input_ready": dut.input.ready, "output_valid": dut.output.valid}
    values = {name: ctx.get(port) for name, port in ports.items()}
    logits = []
    for i in range(dut.signature.outputs):
        ctx.set(dut.logit_addr, i)
        logits.append(ctx.get(dut.logit))
    return {**values, "logits": tuple(logits),
            **{name: ctx.get(getattr(dut.counters, name)) for name in COUNTERS}}


def simulate_network(dut, inputs, *, seed: int | None = None, idle: float = 0.0,
                     start_early: bool = False, load: dict | None = None,
                     reset: dict | None = None) -> list[Inference | Interrupted]:
    """Run each row of ``inputs`` (int8 features) through ``dut`` in order.

    ``load`` maps an input row's index to 32-bit words streamed into ``dut.load`` before that
    row (``{0: load_words(image, capacity, kind)}`` loads a model before the first run).
    ``seed`` turns on random idle cycles (probability ``idle`` before each input value, and
    before each logit the host takes).
    ``start_early`` holds ``start`` high while loading, proving it is ignored until the input
    vector is complete.
    ``reset`` maps a row's index to ``(phase, cycle)``: the edge that many cycles into that
    :data:`PHASES` phase of the row (0: its first) samples ``rst`` high instead, and the host
    abandons the row (its entry is an :class:`Interrupted`) and goes on with the next one.
    """
    results = []
    outputs = dut.signature.outputs
    reset = reset or {}
    for row, (phase, cycle) in reset.items():
        if phase not in PHASES or cycle < 0:
            raise ValueError(f"Row {row}: a reset needs a phase of {PHASES} and a cycle >= 0, "
                             f"not {(phase, cycle)!r}")
    rst = Signal()

    async def testbench(ctx):
        rng = None if seed is None else np.random.default_rng(seed)
        at = None  # this row's reset point
        phase, cycle = None, 0  # where the host is: the phase of the row and the cycle in it

        def hold() -> int:
            """Cycles the host will keep the next logit waiting."""
            if rng is None or rng.random() >= idle:
                return 0
            return int(rng.integers(1, MAX_IDLE + 1))

        def enter(name):
            nonlocal phase, cycle
            phase, cycle = name, 0

        async def tick():
            """One edge of the current phase, or the reset edge if this is the row's."""
            nonlocal cycle
            if (phase, cycle) == at:
                held_back = bool(ctx.get(dut.output.valid)) and not ctx.get(dut.output.ready)
                ctx.set(rst, 1)
                await ctx.tick()
                ctx.set(rst, 0)
                raise _Reset(held_back)
            await ctx.tick()
            cycle += 1

        async def idle_cycles():
            """The random idle cycles before a transfer (none without a seed)."""
            if rng is not None and rng.random() < idle:
                for _ in range(int(rng.integers(1, MAX_IDLE + 1))):
                    await tick()

        async def transfer(port, value):
            """Offer ``value`` on ``port`` until an edge takes it (``ready`` high)."""
            ctx.set(port.payload, int(value))
            ctx.set(port.valid, 1)
            while True:
                taken = ctx.get(port.ready)
                await tick()
                if taken:
                    return

        async def infer(row, x) -> Inference:
            enter("load")
            for word in (load or {}).get(row, ()):
                ctx.set(dut.load.valid, 0)
                await idle_cycles()
                await transfer(dut.load, word)
            ctx.set(dut.load.valid, 0)
            ctx.set(dut.start, int(start_early))
            enter("input")
            for value in x.tolist():
                ctx.set(dut.input.valid, 0)
                await idle_cycles()
                await transfer(dut.input, value)
            ctx.set(dut.input.valid, 0)
            if ctx.get(dut.busy):
                raise AssertionError("the run started before its input was complete")
            enter("run")
            ctx.set(dut.start, 1)
            await tick()
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
                await tick()
                edges += 1
            logits = np.zeros(outputs, dtype=np.int64)
            for i in range(outputs):
                ctx.set(dut.logit_addr, i)
                logits[i] = ctx.get(dut.logit)
            counters = {name: ctx.get(getattr(dut.counters, name)) for name in COUNTERS}
            return Inference(ctx.get(dut.predicted), logits, np.array(streamed, dtype=np.int64),
                             counters, edges, held)

        for row, x in enumerate(np.asarray(inputs)):
            at = reset.get(row)
            try:
                results.append(await infer(row, x))
            except _Reset as reset_edge:
                for port in (dut.load, dut.input):
                    ctx.set(port.valid, 0)
                ctx.set(dut.start, 0)
                busy = 0
                while ctx.get(dut.busy):
                    if busy > RUN_TIMEOUT:
                        raise AssertionError(f"still busy {RUN_TIMEOUT} cycles after a reset")
                    await ctx.tick()
                    busy += 1
                results.append(Interrupted(*at, reset_edge.args[0], busy, host_ports(ctx, dut)))

    top = dut
    if reset:
        top = Module()
        top.submodules.dut = ResetInserter(rst)(dut)
    sim = Simulator(top)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(testbench)
    sim.run()
    return results
