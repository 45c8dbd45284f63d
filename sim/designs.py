"""The whole-network designs under Verilator at full speed: built once, a batch per process.

:func:`build_design` generates the sparse or dense accelerator of a ``model.bin`` (its memories
initialised from the model), wraps it in a module that makes its own clock (:mod:`.clock`) and
compiles it, optionally tracing waves (VCD) or SAIF toggle counts. :meth:`Design.run` streams a
batch of int8 input vectors through it in one simulator process and returns what it reported,
unjudged; :mod:`.tb.scoreboard` judges.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..config import HardwareConfig
from ..errors import InputError
from ..hw import accelerator as hw_accelerator
from ..hw.export import export_verilog
from ..hw.image import network_image
from . import runner
from .clock import self_clocked
from .tb.inference_job import JOB_ENV, InferenceJob, InferenceResults, load_results, save_job

__all__ = ["KINDS", "COUNTERS", "Design", "build_design"]

KINDS = hw_accelerator.KINDS
COUNTERS = hw_accelerator.COUNTERS
#: The cocotb test module every run executes.
TEST_MODULE = "secateurs.sim.tb.inference_test"


class Design:
    """A compiled whole-network accelerator of one model, kind, P and D."""

    def __init__(self, design: hw_accelerator.Accelerator, built: runner.Build):
        self.design, self.built, self.kind = design, built, design.kind

    def __repr__(self) -> str:
        return f"Design({self.kind!r}, trace={self.built.trace!r})"

    @property
    def features(self) -> int:
        return self.design.image.inputs

    @property
    def classes(self) -> int:
        return self.design.image.outputs

    def run(self, inputs: np.ndarray, *, idle_seed: int | None = None, per_cycle: bool = False,
            run_dir: str | Path | None = None) -> InferenceResults:
        """Run each row of ``inputs`` (int8, batch x features) as one inference.

        ``run_dir`` keeps the job, log and trace there; otherwise a temporary folder is used and
        removed. ``per_cycle`` makes the monitor step every edge (the benchmark's baseline).
        """
        x = np.asarray(inputs)
        if x.ndim != 2 or x.shape[1] != self.features or not np.issubdtype(x.dtype, np.integer):
            raise InputError(f"inputs must be integers of shape (batch, {self.features}), not "
                             f"{x.dtype} {x.shape}")
        if x.size and (x.min() < -128 or x.max() > 127):
            raise InputError("inputs must fit int8 (-128..127)")
        keep = run_dir is not None
        work = Path(run_dir) if keep else Path(tempfile.mkdtemp(prefix="secateurs-inference-"))
        try:
            work.mkdir(parents=True, exist_ok=True)
            job, results = work / "job.npz", work / "results.npz"
            save_job(job, InferenceJob(x, self.classes, COUNTERS, results.resolve(), idle_seed,
                                       per_cycle))
            runner.run_test(self.built, TEST_MODULE, test_dir=work,
                            extra_env={JOB_ENV: str(job.resolve())})
            return load_results(results)
        finally:
            if not keep:
                shutil.rmtree(work, ignore_errors=True)


def build_design(packed, *, kind: str, hw: HardwareConfig, build_root: str | Path,
                 trace: str | None = None) -> Design:
    """Generate and compile (or reuse) the ``kind`` accelerator of ``packed`` (a model.bin)."""
    if kind not in KINDS:
        raise InputError(f"design kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if packed.pes != hw.pes:
        raise InputError(f"the model is packed for {packed.pes} PEs but the hardware has {hw.pes}")
    try:
        design = hw_accelerator.Accelerator(network_image(packed), kind=kind,
                                            queue_depth=hw.queue_depth, acc_bits=hw.acc_bits)
    except ValueError as e:
        raise InputError(f"cannot build the {kind} accelerator: {e}") from None
    name = f"{kind}_accelerator"
    verilog, top = self_clocked(export_verilog(design, name=name), name)
    # The weights are ROM contents: two models of one shape are two builds.
    parameters = {**design.parameters(),
                  "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest()[:16]}
    built = runner.build(verilog, toplevel=top, parameters=parameters, build_root=build_root,
                         trace=trace, timing=True)
    return Design(design, built)
