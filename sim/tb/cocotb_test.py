"""cocotb test module: whole inferences on the accelerator, one job file of input vectors.

First the job's model is loaded (its load words streamed into the ``load`` port). With the
``feeder`` driver the load and the whole batch go to the wrapper's Verilog feeder in one await; it
streams each vector in, pulses ``start``, takes the logits from the output stream, times the run
and records the class, the logits and every counter. With the Python drivers, per sample the
driver streams the vector in, starts taking the output stream, pulses ``start``; the monitor
awaits ``done`` (one trigger, or one step per edge for ``per_cycle``), times the run and reads
the class, counters and logits through the ports, and the streamed logits must equal the
logits' registers. Either way the run's length timed from the clock must equal the ``cycles``
counter. Idle cycles in the input stream and holds on the output stream follow the job's seed. With a
Python driver the job may reset chosen runs at a chosen edge: the host then times how long
``busy`` stays high, reads the ports as after a run, and loads the model again.
Judging against the reference is the host's job (:mod:`secateurs.sim.tb.scoreboard`).
"""

from __future__ import annotations

import os
import time

import cocotb
import numpy as np
from cocotb import start_soon
from cocotb.simtime import get_sim_time
from cocotb.triggers import Timer
from cocotb.utils import get_sim_steps

from ..clock import CLOCK_PERIOD_NS
from ..feeder import HANG_CYCLES
from .driver import NetworkDriver
from .job import JOB_ENV, NetworkJob, NetworkResults, load_job, save_results
from .monitor import NetworkMonitor


async def _feed(job: NetworkJob, driver: NetworkDriver, monitor: NetworkMonitor):
    """The whole batch through the feeder: ``(timed cycles, predicted, counters, logits, idle
    cycles, held cycles, cycles busy after a reset)`` (no sample is reset: -1 each)."""
    idle, held = await driver.feed(job.inputs, job.outputs, job.load)
    timed, predicted, counters, logits = monitor.fed(len(job.inputs), job.counters, job.outputs)
    return timed, predicted, counters, logits, idle, held, np.full(len(timed), -1)


async def _stream(job: NetworkJob, driver: NetworkDriver, monitor: NetworkMonitor):
    """Each sample streamed from Python and awaited (or reset at its job's edge, its ports
    read once the design is ready, and the model loaded again): the same arrays as
    :func:`_feed`."""
    await driver.load(job.load)
    batch = len(job.inputs)
    logits = np.zeros((batch, job.outputs), dtype=np.int64)
    predicted, timed = np.zeros(batch, dtype=np.int64), np.zeros(batch, dtype=np.int64)
    idle, held = np.zeros(batch, dtype=np.int64), np.zeros(batch, dtype=np.int64)
    counters = {name: np.zeros(batch, dtype=np.int64) for name in job.counters}
    reset_busy = np.full(batch, -1, dtype=np.int64)
    for sample, x in enumerate(job.inputs):
        before = driver.idle_cycles, driver.held_cycles
        await driver.send(x)
        streamed = start_soon(driver.receive(job.outputs))
        started = await driver.start()
        if job.reset_at(sample) > 0:
            streamed.cancel()
            reset_busy[sample] = await driver.interrupt(job.reset_at(sample))
            await Timer(1, "step")  # leave the read-only phase so that ports can be driven
        else:
            timed[sample] = await monitor.wait_done(started, HANG_CYCLES)
        idle[sample] = driver.idle_cycles - before[0]
        held[sample] = driver.held_cycles - before[1]
        for name, value in monitor.counters(job.counters).items():
            counters[name][sample] = value
        predicted[sample] = monitor.predicted()
        logits[sample] = await monitor.read_logits(job.outputs)
        if job.reset_at(sample) > 0:
            await driver.load(job.load)  # reset emptied the layer table
            continue
        assert streamed.done(), f"sample {sample}: done rose before every logit was taken"
        off = np.flatnonzero(streamed.result() != logits[sample])
        assert not off.size, (f"sample {sample}: logit {off[0]} streamed as "
                              f"{streamed.result()[off[0]]}, its register says "
                              f"{logits[sample][off[0]]}")
    return timed, predicted, counters, logits, idle, held, reset_busy


@cocotb.test()
async def run_job(dut):
    """Run every sample of the job named by ``$SECATEURS_NETWORK_JOB``."""
    job = load_job(os.environ[JOB_ENV])
    period = get_sim_steps(CLOCK_PERIOD_NS, "ns")
    driver = NetworkDriver(dut, idle_seed=job.idle_seed)
    monitor = NetworkMonitor(dut, period, per_cycle=job.driver == "per_cycle")
    began = time.perf_counter()
    await driver.reset()
    run = _feed if job.driver == "feeder" else _stream
    timed, predicted, counters, logits, idle, held, reset_busy = await run(job, driver, monitor)
    off = np.flatnonzero((counters["cycles"] != timed) & (reset_busy < 0))
    assert not off.size, (
        f"sample {off[0]}: the cycles counter says {counters['cycles'][off[0]]}, but the clock "
        f"says {timed[off[0]]} cycles from launch to done")
    total_cycles = get_sim_time("step") // period
    save_results(job.results, NetworkResults(predicted, logits, counters, idle, held,
                                             total_cycles, time.perf_counter() - began,
                                             reset_busy))
