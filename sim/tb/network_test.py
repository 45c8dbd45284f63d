"""cocotb test module: whole inferences on the accelerator, one job file of input vectors.

Per sample: the input vector is streamed in (one value an edge while ``input.ready``, with
seeded random idle cycles if the job asks), ``start`` is pulsed, and a single trigger waits for
``done``; then the class, the logits and every counter are read. The run's length measured from
simulation time must equal the ``cycles`` counter. Judging against the references is the host's
job (``secateurs.sim.network``).
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, Timer, with_timeout

from ...hw.accelerator import COUNTERS
from .network_job import JOB_ENV, load_job, save_results

CLOCK_PERIOD_NS = 10
RESET_CYCLES = 2
IDLE_PROBABILITY = 0.2  # chance of idle cycles before each input value, when the job asks
MAX_IDLE_CYCLES = 3
#: A run counts as hung after this many cycles (the largest runs take a few tens of thousands).
HANG_CYCLES = 2_000_000


@cocotb.test()
async def run_job(dut):
    """Run every sample of the job named by ``$SECATEURS_NETWORK_JOB``."""
    job = load_job(os.environ[JOB_ENV])
    inputs, idle_seed = job.inputs, job.idle_seed
    rng = None if idle_seed is None else np.random.default_rng(idle_seed)
    period = CLOCK_PERIOD_NS * 1000  # in simulator steps (1 ps precision)
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
    dut.start.value = 0
    dut.input__valid.value = 0
    dut.logit_addr.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, RESET_CYCLES)
    dut.rst.value = 0
    edge = RisingEdge(dut.clk)
    await edge

    batch = len(inputs)
    logits, predicted, cycles = [], np.zeros(batch, dtype=np.int64), np.zeros(batch, dtype=np.int64)
    counters = {name: np.zeros(batch, dtype=np.int64) for name in COUNTERS}
    for sample, x in enumerate(inputs.tolist()):
        for value in x:
            if rng is not None and rng.random() < IDLE_PROBABILITY:
                dut.input__valid.value = 0
                await ClockCycles(dut.clk, int(rng.integers(1, MAX_IDLE_CYCLES + 1)))
            dut.input__payload.value = value
            dut.input__valid.value = 1
            await edge
        dut.input__valid.value = 0
        dut.start.value = 1
        await edge
        launched = get_sim_time("step")
        dut.start.value = 0
        await with_timeout(RisingEdge(dut.done), HANG_CYCLES * period, "step")
        edges, rest = divmod(get_sim_time("step") - launched, period)
        assert rest == 0, "done rose off a clock edge"
        await ReadOnly()
        for name in COUNTERS:
            counters[name][sample] = getattr(dut, f"counters__{name}").value.to_unsigned()
        predicted[sample] = dut.predicted.value.to_unsigned()
        await Timer(1, "step")
        assert counters["cycles"][sample] == edges + 1, (
            f"sample {sample}: the cycles counter says {counters['cycles'][sample]}, the clock "
            f"says {edges + 1}")
        row = []
        for i in range(job.outputs):
            dut.logit_addr.value = i
            await Timer(1, "step")
            row.append(dut.logit.value.to_signed())
        logits.append(row)
        await edge
    save_results(job.results, predicted=predicted, logits=np.array(logits, dtype=np.int64),
                 counters=counters)
