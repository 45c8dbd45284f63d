"""cocotb test module: whole inferences on the accelerator, one job file of input vectors.

Per sample the driver streams the input vector in (with seeded idle cycles if the job asks),
pulses ``start``; the monitor awaits ``done`` with one trigger, checks the ``cycles`` counter
against the clock, and reads the class, the logits and every counter. Judging against the
reference is the host's job (:mod:`secateurs.sim.tb.scoreboard`).
"""

from __future__ import annotations

import os
import time

import cocotb
import numpy as np
from cocotb.simtime import get_sim_time
from cocotb.utils import get_sim_steps

from ..clock import CLOCK_PERIOD_NS
from .driver import NetworkDriver
from .inference_job import JOB_ENV, InferenceResults, load_job, save_results
from .monitor import NetworkMonitor

#: A run counts as hung after this many cycles (a dense digits inference takes about 5000).
HANG_CYCLES = 2_000_000


@cocotb.test()
async def run_job(dut):
    """Run every sample of the job named by ``$SECATEURS_INFERENCE_JOB``."""
    job = load_job(os.environ[JOB_ENV])
    period = get_sim_steps(CLOCK_PERIOD_NS, "ns")
    driver = NetworkDriver(dut, idle_seed=job.idle_seed)
    monitor = NetworkMonitor(dut, period, per_cycle=job.per_cycle)
    began = time.perf_counter()
    await driver.reset()

    batch = len(job.inputs)
    logits = np.zeros((batch, job.outputs), dtype=np.int64)
    predicted = np.zeros(batch, dtype=np.int64)
    seconds, idle = np.zeros(batch), np.zeros(batch, dtype=np.int64)
    counters = {name: np.zeros(batch, dtype=np.int64) for name in job.counters}
    for sample, x in enumerate(job.inputs):
        before = driver.idle_cycles
        await driver.send(x)
        idle[sample] = driver.idle_cycles - before
        started = await driver.start()
        tick = time.perf_counter()
        timed = await monitor.wait_done(started, HANG_CYCLES)
        seconds[sample] = time.perf_counter() - tick
        for name, value in monitor.counters(job.counters).items():
            counters[name][sample] = value
        assert counters["cycles"][sample] == timed, (
            f"sample {sample}: the cycles counter says {counters['cycles'][sample]}, but the "
            f"clock says {timed} cycles from launch to done")
        predicted[sample] = monitor.predicted()
        logits[sample] = await monitor.read_logits(job.outputs)
    total_cycles = get_sim_time("step") // period
    save_results(job.results, InferenceResults(predicted, logits, counters, seconds, idle,
                                               total_cycles, time.perf_counter() - began))
