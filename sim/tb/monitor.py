"""Watches a run: waits for ``done``, reads the class, the logits (or raw accumulators) and counters.

The wait is one trigger on ``done`` rather than a Python step per cycle, so a run costs what the
simulator costs; the per-cycle wait is kept as the baseline that shows what that saves. The
cycles between the start edge and the done edge are measured independently from simulation time
and must equal the design's own ``cycles`` counter, which counts the launch edge (the one
sampling ``start``) and the edge on which ``done`` rises, both included. Under the wrapper's
feeder (:mod:`secateurs.sim.feeder`) the feeder times each run that way itself and the monitor
reads what it recorded.
"""

from __future__ import annotations

import numpy as np
from cocotb.simtime import get_sim_time
from cocotb.triggers import ReadOnly, RisingEdge, Timer, with_timeout

from ...errors import SimulationError
from ..feeder import RESULTS_FILE, read_results

__all__ = ["NetworkMonitor"]

#: The launch edge is counted too: a run whose ``done`` rises one edge after launch takes 2 cycles.
LAUNCH_EDGE = 1


class NetworkMonitor:
    """Observer side of the accelerator: ``done``, counters, class and logits."""

    def __init__(self, dut, clock_period_steps: int, *, per_cycle: bool = False):
        self.dut = dut
        self.period = clock_period_steps
        self.per_cycle = per_cycle

    async def wait_done(self, start_time: int, limit_cycles: int) -> int:
        """Wait for ``done`` after the launch edge at ``start_time``; returns the run's cycles.

        Raises SimulationError if ``done`` has not risen ``limit_cycles`` after the launch.
        """
        await ReadOnly()
        if self.per_cycle:
            await self._step_until_done(limit_cycles)  # left in the read-only phase
        elif not self.dut.done.value:
            try:
                await with_timeout(RisingEdge(self.dut.done), limit_cycles * self.period, "step")
            except TimeoutError:
                raise SimulationError(
                    f"the accelerator did not finish within {limit_cycles} cycles") from None
            # Icarus reports done before the other registers of its edge (the counters) settle.
            await ReadOnly()
        elapsed = get_sim_time("step") - start_time
        await Timer(1, "step")  # leave the read-only phase so that ports can be driven
        edges, rest = divmod(elapsed, self.period)
        if rest:
            raise SimulationError(f"done rose {elapsed} steps after start, not on a clock edge")
        return edges + LAUNCH_EDGE

    async def _step_until_done(self, limit_cycles: int) -> None:
        """The naive wait: one Python round trip per clock edge, looking at ``done`` each time."""
        edge, settled = RisingEdge(self.dut.clk), ReadOnly()
        for _ in range(limit_cycles):
            if self.dut.done.value:
                return
            await edge
            await settled
        if not self.dut.done.value:
            raise SimulationError(f"the accelerator did not finish within {limit_cycles} cycles")

    async def _read_each(self, address, data, count: int) -> np.ndarray:
        """Drive ``address`` with ``0..count-1`` and read ``data`` (signed) after each settles."""
        values = np.zeros(count, dtype=np.int64)
        settle = Timer(1, "step")
        for i in range(count):
            address.value = i
            await settle
            values[i] = data.value.to_signed()
        return values

    def counters(self, names: tuple[str, ...]) -> dict[str, int]:
        """Every event counter of the last run, by name."""
        return {name: getattr(self.dut, f"counters__{name}").value.to_unsigned() for name in names}

    def counter(self) -> int:
        return self.dut.counters__cycles.value.to_unsigned()

    def predicted(self) -> int:
        """The class; a one-output design has no ``predicted`` port (its index has no bits)."""
        if not hasattr(self.dut, "predicted"):
            return 0
        return self.dut.predicted.value.to_unsigned()

    async def read_logits(self, outputs: int) -> np.ndarray:
        """Read logits ``0..outputs-1`` through the combinational ``logit_addr`` port (a
        one-output design has none: ``logit`` is its only value)."""
        if not hasattr(self.dut, "logit_addr"):
            return np.array([self.dut.logit.value.to_signed()], dtype=np.int64)
        return await self._read_each(self.dut.logit_addr, self.dut.logit, outputs)

    def fed(self, batch: int, names: tuple[str, ...], outputs: int):
        """What the feeder recorded for a batch (see :func:`secateurs.sim.feeder.read_results`).

        Raises SimulationError if it gave up on an inference that never finished.
        """
        timed, predicted, counters, logits = read_results(RESULTS_FILE, batch, names, outputs)
        if self.dut.feed_hung.value:
            raise SimulationError(f"sample {len(timed)}: the accelerator did not finish; the "
                                  f"feeder gave up on it")
        return timed, predicted, counters, logits
