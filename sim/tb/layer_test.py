"""cocotb test module: run every layer of a job file through the array and save what it did.

The job (see :mod:`.images`) names the layers, their samples and the results file. Each layer is
loaded once, then each sample is written, run to ``done`` and read back. The cycle counter is
cross-checked against the clock edges seen between start and done; outputs and cycles are judged
against the reference by the host, not here.
"""

from __future__ import annotations

import os
import time

import cocotb
import numpy as np
from cocotb.simtime import get_sim_time
from cocotb.utils import get_sim_steps

from ..clock import CLOCK_PERIOD_NS
from .driver import ArrayDriver
from .images import JOB_ENV, JobResults, load_job, save_results
from .monitor import ArrayMonitor

#: A run counts as hung after one cycle per weight word, these per row and column of the layer,
#: and a fixed slack (generous: the real overheads are a few cycles per column).
HANG_CYCLES_PER_LINE = 8
HANG_SLACK_CYCLES = 1000


@cocotb.test()
async def run_job(dut):
    """Run every sample of every layer of the job named by ``$SECATEURS_SIM_JOB``."""
    layers, results_path, idle_seed, per_cycle = load_job(os.environ[JOB_ENV])
    period = get_sim_steps(CLOCK_PERIOD_NS, "ns")
    driver = ArrayDriver(dut, idle_seed=idle_seed)
    monitor = ArrayMonitor(dut, period, per_cycle=per_cycle)
    began = time.perf_counter()
    await driver.reset()

    outputs, cycles, seconds = [], [], []
    for index, image in enumerate(layers):
        await driver.load_layer(image)
        limit = (image.words() + HANG_CYCLES_PER_LINE * (image.cols + image.rows)
                 + HANG_SLACK_CYCLES)
        batch = len(image.inputs)
        layer_outputs = np.zeros((batch, image.rows), dtype=np.int32)
        layer_cycles = np.zeros(batch, dtype=np.int64)
        layer_seconds = np.zeros(batch)
        for sample, x in enumerate(image.inputs):
            await driver.load_activations(x)
            started = await driver.start()
            tick = time.perf_counter()
            timed = await monitor.wait_done(started, limit)
            layer_seconds[sample] = time.perf_counter() - tick
            counted = monitor.counter()
            assert counted == timed, (
                f"layer {index} sample {sample}: the cycles counter says {counted}, "
                f"but the clock says {timed} cycles from launch to done")
            layer_cycles[sample] = counted
            layer_outputs[sample] = await monitor.read_outputs(image.rows)
        outputs.append(layer_outputs)
        cycles.append(layer_cycles)
        seconds.append(layer_seconds)
    total_cycles = get_sim_time("step") // period
    save_results(results_path, JobResults(outputs, cycles, seconds, total_cycles,
                                          time.perf_counter() - began))
