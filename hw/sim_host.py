"""The host of a layer array inside an Amaranth async testbench: load, run, read back.

Writes go one per cycle through the ports of :class:`LayerArraySignature`. With an ``rng`` and
``idle > 0`` the host slips random idle cycles between writes and drives random junk on the
address and data lines while the write enables are low, so a test proves the array only looks
at a port when its enable says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Value
from amaranth.sim import Simulator

__all__ = ["RunResult", "LayerHost", "simulate_layers"]

CLOCK_PERIOD = 1e-8  # seconds; only the edge count matters

MAX_IDLE = 3  # longest run of idle cycles the host slips between two writes
RUN_TIMEOUT = 100_000  # cycles after which a run that never reports done is a failure


@dataclass(frozen=True)
class RunResult:
    """A finished run: the ``cycles`` port, and the edges the host itself counted."""

    cycles: int
    edges: int


class LayerHost:
    """Drives the host ports of ``dut`` from testbench context ``ctx``."""

    def __init__(self, ctx, dut, *, rng: np.random.Generator | None = None, idle: float = 0.0):
        self.ctx, self.dut = ctx, dut
        self.rng, self.idle = rng, idle
        self._inputs = [(dut.act_addr, dut.act_data), (dut.w_pe, dut.w_addr, dut.w_data),
                        (dut.ptr_addr, dut.ptr_data), (dut.out_addr,)]

    def _junk(self) -> None:
        for group in self._inputs:
            for port in group:
                value = Value.cast(port)
                self.ctx.set(value, int(self.rng.integers(0, 1 << min(len(value), 62))))

    async def _idle(self) -> None:
        if self.rng is None or self.rng.random() >= self.idle:
            return
        for _ in range(int(self.rng.integers(1, MAX_IDLE + 1))):
            self._junk()
            await self.ctx.tick()

    async def _write(self, enable, *fields) -> None:
        await self._idle()
        for port, value in fields:
            self.ctx.set(Value.cast(port), int(value))
        self.ctx.set(enable, 1)
        await self.ctx.tick()
        self.ctx.set(enable, 0)

    async def write_weights(self, banks) -> None:
        """Bank ``p`` word ``k`` = ``banks[p][k]`` (raw ``csc_word`` bits)."""
        for p, words in enumerate(banks):
            for k, word in enumerate(words):
                await self._write(self.dut.w_we, (self.dut.w_pe, p), (self.dut.w_addr, k),
                                  (self.dut.w_data, word))

    async def write_pointers(self, pointers) -> None:
        """Pointer word ``j`` = ``pointers[j]`` (raw ``pointer_word`` bits)."""
        for j, word in enumerate(pointers):
            await self._write(self.dut.ptr_we, (self.dut.ptr_addr, j), (self.dut.ptr_data, word))

    async def write_activations(self, x) -> None:
        for j, value in enumerate(x):
            await self._write(self.dut.act_we, (self.dut.act_addr, j), (self.dut.act_data, value))

    async def run(self, n_rows: int, n_cols: int) -> RunResult:
        """Pulse ``start`` with the layer size held, wait for ``done``; check the handshake."""
        await self._idle()
        self.ctx.set(self.dut.n_rows, n_rows)
        self.ctx.set(self.dut.n_cols, n_cols)
        self.ctx.set(self.dut.start, 1)
        await self.ctx.tick()
        self.ctx.set(self.dut.start, 0)
        edges = 1
        while not self.ctx.get(self.dut.done):
            if not self.ctx.get(self.dut.busy):
                raise AssertionError(f"busy fell before done, {edges} edges into the run")
            if edges > RUN_TIMEOUT:
                raise AssertionError(f"no done after {RUN_TIMEOUT} cycles")
            if self.rng is not None:
                self._junk()  # the host may do anything with the other ports while busy
            await self.ctx.tick()
            edges += 1
        if self.ctx.get(self.dut.busy):
            raise AssertionError("done and busy are both high")
        return RunResult(cycles=self.ctx.get(self.dut.cycles), edges=edges)

    def read_outputs(self, rows: int) -> np.ndarray:
        """Accumulators of global rows ``0..rows - 1`` (combinational reads, no clock edge)."""
        out = np.empty(rows, dtype=np.int64)
        for r in range(rows):
            self.ctx.set(self.dut.out_addr, r)
            out[r] = self.ctx.get(self.dut.out_data)
        return out


def simulate_layers(dut, images, *, seed: int | None = None, idle: float = 0.0):
    """Load and run each image (``rows, cols, banks, pointers, inputs``) on ``dut`` in order.

    Returns, per image, the ``(batch, rows)`` outputs and the ``RunResult`` of every sample.
    ``seed`` turns on random idle cycles (probability ``idle`` before each write) and junk.
    """
    results = []

    async def testbench(ctx):
        rng = None if seed is None else np.random.default_rng(seed)
        host = LayerHost(ctx, dut, rng=rng, idle=idle)
        for image in images:
            await host.write_weights(image.banks)
            await host.write_pointers(image.pointers)
            outputs, runs = [], []
            for x in np.asarray(image.inputs):
                await host.write_activations(x)
                runs.append(await host.run(image.rows, image.cols))
                outputs.append(host.read_outputs(image.rows))
            results.append((np.array(outputs, dtype=np.int64).reshape(len(runs), image.rows), runs))

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(testbench)
    sim.run()
    return results
