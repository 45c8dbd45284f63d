"""Drives the host ports of the accelerator: its load stream (the model), its input stream and
the ``ready`` of its output stream (from Python, or a whole batch handed to the wrapper's
feeder), reset and start; from Python it may also reset a run in the middle.

The clock is made inside the simulator (:mod:`secateurs.sim.clock`). With an idle seed, random
idle cycles are slipped between input values (as a slow or bursty host would) with random junk
on the payload; they land before ``start`` and may change neither results nor cycles. The host
may also hold a logit back (``output.ready`` low for a few cycles after it is offered): each
such cycle holds the run one cycle, so its cycles are the model's plus the cycles held.
"""

from __future__ import annotations

import numpy as np
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from ...errors import SimulationError
from ..clock import CLOCK_PERIOD_NS
from ..feeder import HOLDS_FILE, INPUTS_FILE, LOAD_FILE, write_holds, write_inputs, write_load

__all__ = ["CLOCK_PERIOD_NS", "NetworkDriver", "hold_schedule", "idle_schedule"]

#: Cycles the synchronous reset is held at the beginning.
RESET_CYCLES = 2
#: A ready accelerator takes an input value every cycle; this long without ``ready`` is a hang.
READY_TIMEOUT_CYCLES = 100_000
#: Chance that a host write is preceded by idle cycles, and the most idle cycles inserted.
IDLE_PROBABILITY = 0.3
MAX_IDLE_CYCLES = 3


def idle_schedule(rng: np.random.Generator | None, count: int,
                  width: int) -> tuple[np.ndarray, np.ndarray]:
    """Idle cycles before each of ``count`` stream writes, and the junk driven meanwhile.

    Without a generator there are none. The Python driver and the Verilog feeder both follow
    this schedule, so one seed slips the same idle cycles in either way.
    """
    if rng is None:
        return np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    return hold_schedule(rng, count), rng.integers(0, 1 << width, count, dtype=np.int64)


def hold_schedule(rng: np.random.Generator | None, count: int) -> np.ndarray:
    """Idle cycles before each of ``count`` stream transfers: the host's pauses before an input
    value, or the cycles it keeps an offered logit waiting. All zero without a generator."""
    if rng is None:
        return np.zeros(count, dtype=np.int64)
    idle = rng.random(count) < IDLE_PROBABILITY
    return np.where(idle, rng.integers(1, MAX_IDLE_CYCLES + 1, count), 0).astype(np.int64)


class NetworkDriver:
    """Host side of the whole-network accelerator: its input stream, ``start`` and the ``ready``
    of its output stream.

    With an idle seed, ``valid`` drops for random idle cycles between input values (with junk on
    the payload), as a slow producer would, and ``output.ready`` stays low for random cycles
    after a logit is offered, as a slow consumer would; the values still arrive in order. Per
    sample the input's schedule is drawn, then the output's, whichever way the batch is driven.
    """

    def __init__(self, dut, *, idle_seed: int | None = None):
        self.dut = dut
        self._rng = None if idle_seed is None else np.random.default_rng(idle_seed)
        self._edge = RisingEdge(dut.clk)
        #: Idle cycles slipped into the input stream so far.
        self.idle_cycles = 0
        #: Cycles offered logits were kept waiting so far.
        self.held_cycles = 0

    def _idle(self) -> None:
        """Every host port at rest: no transfer offered, logits taken, no start."""
        dut = self.dut
        dut.start.value = 0
        dut.input__valid.value = 0
        dut.load__valid.value = 0
        dut.output__ready.value = 1
        if hasattr(dut, "logit_addr"):  # a one-output design has no address to drive
            dut.logit_addr.value = 0
        dut.feed_go.value = 0

    async def reset(self) -> None:
        dut = self.dut
        self._idle()
        dut.rst.value = 1
        await ClockCycles(dut.clk, RESET_CYCLES)
        dut.rst.value = 0
        await self._edge

    async def interrupt(self, edge: int) -> int:
        """Reset the run just launched: its edge ``edge`` (the launch edge is 0) samples ``rst``
        high, the host ports at rest. Returns the cycles ``busy`` then stays high (the
        accumulators' clear sweep); call it right after :meth:`start`."""
        if edge < 1:
            raise ValueError(f"A run is reset from its edge 1 on, not {edge}")
        dut = self.dut
        if edge > 1:
            await ClockCycles(dut.clk, edge - 1)
        self._idle()
        dut.rst.value = 1
        await self._edge
        dut.rst.value = 0
        busy = 0
        while True:
            await ReadOnly()
            if not dut.busy.value:
                return busy
            if busy >= READY_TIMEOUT_CYCLES:
                raise SimulationError(f"still busy {READY_TIMEOUT_CYCLES} cycles after a reset")
            await self._edge
            busy += 1

    async def load(self, words) -> None:
        """Stream the model's load words (:func:`secateurs.hw.load.load_words`) into the ``load``
        port from Python, one a cycle while the accelerator is ready (idle)."""
        dut = self.dut
        for word in (int(w) for w in words):
            dut.load__payload.value = word
            dut.load__valid.value = 1
            for _ in range(READY_TIMEOUT_CYCLES):
                await ReadOnly()  # settled: Icarus reports an edge before its registers change
                accepted = bool(dut.load__ready.value)
                await self._edge
                if accepted:
                    break
            else:
                raise SimulationError(
                    f"the accelerator was not ready to load for {READY_TIMEOUT_CYCLES} cycles")
        dut.load__valid.value = 0

    async def send(self, x: np.ndarray) -> None:
        """Stream one input vector in, one value per edge on which the accelerator is ready."""
        dut = self.dut
        gaps, junk = idle_schedule(self._rng, len(x), len(dut.input__payload))
        for value, idle, noise in zip(x.tolist(), gaps.tolist(), junk.tolist()):
            if idle:
                dut.input__valid.value = 0
                dut.input__payload.value = noise
                self.idle_cycles += idle
                await ClockCycles(dut.clk, idle)
            dut.input__payload.value = value
            dut.input__valid.value = 1
            for _ in range(READY_TIMEOUT_CYCLES):
                # ready does not depend on valid: it says what the coming edge will do, once
                # settled (Icarus reports an edge before its registers change)
                await ReadOnly()
                accepted = bool(dut.input__ready.value)
                await self._edge
                if accepted:
                    break
            else:
                raise SimulationError(
                    f"the accelerator was not ready for input for {READY_TIMEOUT_CYCLES} cycles")
        dut.input__valid.value = 0

    async def receive(self, outputs: int) -> np.ndarray:
        """Take ``outputs`` logits from the output stream, keeping each waiting as the schedule
        says; start it before the run's ``start`` (it waits for the first ``valid``)."""
        dut = self.dut
        holds = hold_schedule(self._rng, outputs).tolist()
        taken, waiting = [], holds[0]
        dut.output__ready.value = int(waiting == 0)
        await RisingEdge(dut.output__valid)
        while len(taken) < outputs:
            await ReadOnly()  # what the coming edge samples
            offered = bool(dut.output__valid.value)
            payload = dut.output__payload.value.to_signed()
            await self._edge
            if offered and waiting == 0:
                taken.append(payload)
                waiting = holds[len(taken)] if len(taken) < outputs else 0
            elif offered:
                waiting -= 1
            dut.output__ready.value = int(waiting == 0)
        self.held_cycles += sum(holds)
        return np.array(taken, dtype=np.int64)

    async def start(self) -> int:
        """Pulse ``start`` for one edge; returns the simulation time (steps) of that edge."""
        self.dut.start.value = 1
        await self._edge
        self.dut.start.value = 0
        return get_sim_time("step")

    async def feed(self, inputs: np.ndarray, outputs: int,
                   load=()) -> tuple[np.ndarray, np.ndarray]:
        """Run the whole batch through the wrapper's feeder (:mod:`secateurs.sim.feeder`): write
        its load, input and hold files in the working folder, raise ``feed_go``, await
        ``feed_done``; the feeder streams ``load`` (the model's load words) in first.

        Returns the idle cycles slipped into each sample's input and the cycles its logits were
        kept waiting (the schedules :meth:`send` and :meth:`receive` follow).
        """
        dut = self.dut
        width = len(dut.input__payload)
        gaps, junk, holds = [], [], []
        for x in inputs:
            g, j = idle_schedule(self._rng, len(x), width)
            gaps.append(g)
            junk.append(j)
            holds.append(hold_schedule(self._rng, outputs))
        gaps, junk = (np.array(a, dtype=np.int64).reshape(inputs.shape) for a in (gaps, junk))
        holds = np.array(holds, dtype=np.int64).reshape(len(inputs), outputs)
        write_load(LOAD_FILE, load)
        write_inputs(INPUTS_FILE, inputs, gaps, junk, outputs)
        write_holds(HOLDS_FILE, holds)
        dut.feed_count.value = len(inputs)
        dut.feed_go.value = 1
        await RisingEdge(dut.feed_done)
        dut.feed_go.value = 0
        # Every register of that edge settled: Icarus reports feed_done before feed_hung.
        await ReadOnly()
        idle, held = gaps.sum(axis=1), holds.sum(axis=1)
        self.idle_cycles += int(idle.sum())
        self.held_cycles += int(held.sum())
        return idle, held
