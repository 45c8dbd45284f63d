"""Whole inferences on the generated accelerator RTL: the API the flow, the CLI and tests call.

:func:`build_accelerator` turns a decoded ``model.bin`` into Verilog (its memories initialised
from the model) and compiles it once with Verilator; :meth:`Accelerator.run` streams a batch of
int8 input vectors through it in one simulator process and returns the classes, logits and
counters; :func:`run_network` runs the sparse design and its dense twin and judges both
against the integer reference and the cycle model.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import HardwareConfig
from ..errors import InputError, SimulationError
from ..hw import accelerator as hw_accelerator
from ..hw.export import export_verilog
from ..hw.image import network_image
from ..sw.cycles import network_cycles
from ..sw.reference import classify, forward
from . import runner
from .tb.network_job import JOB_ENV, NetworkJob, load_results, save_job

__all__ = ["NetworkResult", "Accelerator", "build_accelerator", "run_network"]

#: The cocotb test module every run executes.
TEST_MODULE = "secateurs.sim.tb.network_test"


@dataclass(frozen=True, eq=False)
class NetworkResult:
    """What the accelerator reported for a batch: classes, int8 logits, per-run counters."""

    predicted: np.ndarray
    logits: np.ndarray
    counters: dict

    @property
    def cycles(self) -> np.ndarray:
        return self.counters["cycles"]


class Accelerator:
    """A compiled accelerator of one model, kind (sparse or dense), P and D."""

    def __init__(self, design: hw_accelerator.Accelerator, built: runner.Build):
        self.design, self.built = design, built
        self.kind = design.kind

    def __repr__(self) -> str:
        return f"Accelerator({self.kind!r}, {self.design.parameters()})"

    def run(self, inputs: np.ndarray, *, idle_seed: int | None = None,
            run_dir: str | Path | None = None) -> NetworkResult:
        """Run each row of ``inputs`` (int8, batch x features) as one inference."""
        x = np.asarray(inputs)
        features = self.design.image.inputs
        if x.ndim != 2 or x.shape[1] != features or not np.issubdtype(x.dtype, np.integer):
            raise InputError(f"inputs must be integers of shape (batch, {features}), not "
                             f"{x.dtype} {x.shape}")
        if x.size and (x.min() < -128 or x.max() > 127):
            raise InputError("inputs must fit int8 (-128..127)")
        keep = run_dir is not None
        work = Path(run_dir) if keep else Path(tempfile.mkdtemp(prefix="secateurs-net-"))
        try:
            work.mkdir(parents=True, exist_ok=True)
            job = work / "job.npz"
            results = work / "results.npz"
            save_job(job, NetworkJob(x, self.design.image.outputs, results.resolve(), idle_seed))
            runner.run_test(self.built, TEST_MODULE, test_dir=work,
                            extra_env={JOB_ENV: str(job.resolve())})
            predicted, logits, counters = load_results(results)
        finally:
            if not keep:
                shutil.rmtree(work, ignore_errors=True)
        return NetworkResult(predicted, logits, counters)


def build_accelerator(packed, *, kind: str, hw: HardwareConfig,
                      build_root: str | Path) -> Accelerator:
    """Generate and compile (or reuse) the ``kind`` accelerator of ``packed`` (a model.bin)."""
    if kind not in hw_accelerator.KINDS:
        raise InputError(f"accelerator kind must be one of {', '.join(hw_accelerator.KINDS)}, "
                         f"not {kind!r}")
    if packed.pes != hw.pes:
        raise InputError(f"the model is packed for {packed.pes} PEs but the hardware has {hw.pes}")
    try:
        design = hw_accelerator.Accelerator(network_image(packed), kind=kind,
                                            queue_depth=hw.queue_depth, acc_bits=hw.acc_bits)
    except ValueError as e:
        raise InputError(f"cannot build the {kind} accelerator: {e}") from None
    name = f"{kind}_accelerator"
    verilog = export_verilog(design, name=name)
    parameters = {**design.parameters(), "verilog_lines": verilog.count("\n")}
    built = runner.build(verilog, toplevel=name, parameters=parameters, build_root=build_root)
    return Accelerator(design, built)


def run_network(packed, inputs: np.ndarray, *, hw: HardwareConfig, build_root: str | Path,
                kinds=hw_accelerator.KINDS, idle_seed: int | None = None) -> dict:
    """Run ``inputs`` on each kind; SimulationError unless logits, classes and cycles match.

    Returns, per kind, the :class:`NetworkResult` and the modelled cycles.
    """
    x = np.asarray(inputs)
    logits = forward(packed.model, x)[-1].astype(np.int64)
    results = {}
    for kind in kinds:
        result = build_accelerator(packed, kind=kind, hw=hw, build_root=build_root).run(
            x, idle_seed=idle_seed)
        bad = np.argwhere(result.logits != logits)
        if len(bad):
            s, i = bad[0]
            raise SimulationError(f"{kind} accelerator: sample {s} logit {i} is "
                                  f"{result.logits[s, i]}, the reference says {logits[s, i]}")
        wrong = np.flatnonzero(result.predicted != classify(logits))
        if len(wrong):
            raise SimulationError(f"{kind} accelerator: sample {wrong[0]} classified "
                                  f"{result.predicted[wrong[0]]}, the reference says "
                                  f"{classify(logits)[wrong[0]]}")
        model = network_cycles(packed, x, queue_depth=hw.queue_depth, array=kind).total
        off = np.flatnonzero(result.cycles != model)
        if len(off):
            raise SimulationError(f"{kind} accelerator: sample {off[0]} took "
                                  f"{result.cycles[off[0]]} cycles, the model says {model[off[0]]}")
        results[kind] = (result, model)
    return results
