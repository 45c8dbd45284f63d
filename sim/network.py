"""Whole inferences on the generated accelerator RTL: the API the flow, the CLI and tests call.

:func:`build_accelerator` generates the sparse or dense accelerator of a ``model.bin`` (its
memories initialised from the model), wraps it in a module that makes its own clock and feeds
it a batch from inside the simulator (:mod:`.feeder`), and compiles it once with Verilator,
optionally tracing waves (VCD) or SAIF toggle counts. :meth:`Accelerator.run` runs a batch of
int8 input vectors in one simulator process and returns what it reported, unjudged;
:func:`run_network` runs the sparse design and its dense twin and judges both against the
integer reference and the cycle model (:mod:`.tb.scoreboard`).
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
from ..hw.build.export import export_verilog
from ..hw.image import network_image
from . import runner
from .feeder import fed_wrapper
from .layer import int8_matrix
from .tb.job import DRIVERS, JOB_ENV, NetworkJob, NetworkResults, load_results, save_job
from .tb.model import reference_network_cycles
from .tb.scoreboard import Scoreboard

__all__ = ["KINDS", "COUNTERS", "DRIVERS", "NetworkResults", "Accelerator", "build_accelerator",
           "run_network"]

KINDS = hw_accelerator.KINDS
COUNTERS = hw_accelerator.COUNTERS
#: The cocotb test module every run executes.
TEST_MODULE = "secateurs.sim.tb.cocotb_test"


class Accelerator:
    """A compiled whole-network accelerator of one model, kind, P and D."""

    def __init__(self, design: hw_accelerator.Accelerator, built: runner.Build):
        self.design, self.built, self.kind = design, built, design.kind

    def __repr__(self) -> str:
        return f"Accelerator({self.kind!r}, trace={self.built.trace!r})"

    @property
    def features(self) -> int:
        return self.design.image.inputs

    @property
    def classes(self) -> int:
        return self.design.image.outputs

    def run(self, inputs: np.ndarray, *, idle_seed: int | None = None, driver: str = "feeder",
            run_dir: str | Path | None = None) -> NetworkResults:
        """Run each row of ``inputs`` (int8, batch x features) as one inference.

        ``idle_seed`` slips seeded random idle cycles between input values and holds each logit
        the output stream offers for seeded random cycles (back-pressure). ``driver`` picks how
        inputs reach the design (:data:`DRIVERS`: the Verilog feeder, or Python per inference or
        per clock edge, the benchmark's baselines). ``run_dir`` keeps the job, log and trace
        there; otherwise a temporary folder is used and removed.
        """
        x = int8_matrix(inputs, "inputs")
        if x.shape[1] != self.features:
            raise InputError(f"inputs have {x.shape[1]} columns but the network has "
                             f"{self.features} features")
        if driver not in DRIVERS:
            raise InputError(f"driver must be one of {', '.join(DRIVERS)}, not {driver!r}")
        keep = run_dir is not None
        work = Path(run_dir) if keep else Path(tempfile.mkdtemp(prefix="secateurs-network-"))
        try:
            work.mkdir(parents=True, exist_ok=True)
            job, results = work / "job.npz", work / "results.npz"
            save_job(job, NetworkJob(x, self.classes, COUNTERS, results.resolve(), idle_seed,
                                     driver))
            runner.run_test(self.built, TEST_MODULE, test_dir=work,
                            extra_env={JOB_ENV: str(job.resolve())})
            return load_results(results)
        finally:
            if not keep:
                shutil.rmtree(work, ignore_errors=True)


def build_accelerator(packed, *, kind: str, hw: HardwareConfig, build_root: str | Path,
                      trace: str | None = None) -> Accelerator:
    """Generate and compile (or reuse) the ``kind`` accelerator of ``packed`` (a model.bin).

    ``trace`` ("vcd", "fst" or "saif") compiles in tracing of that format, a separate build.
    """
    if kind not in KINDS:
        raise InputError(f"accelerator kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if packed.pes != hw.pes:
        raise InputError(f"the model is packed for {packed.pes} PEs but the hardware has {hw.pes}")
    try:
        design = hw_accelerator.Accelerator(network_image(packed), kind=kind,
                                            queue_depth=hw.queue_depth,
                                            issue_width=hw.issue_width, acc_bits=hw.acc_bits)
    except ValueError as e:
        raise InputError(f"cannot build the {kind} accelerator: {e}") from None
    name = f"{kind}_accelerator"
    verilog, top = fed_wrapper(export_verilog(design, name=name), name,
                               features=design.image.inputs, outputs=design.image.outputs,
                               counters=COUNTERS)
    # The weights are ROM contents: two models of one shape are two builds.
    parameters = {**design.parameters(),
                  "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest()[:16]}
    built = runner.build(verilog, toplevel=top, parameters=parameters, build_root=build_root,
                         trace=trace, timing=True)
    return Accelerator(design, built)


def run_network(packed, inputs: np.ndarray, *, hw: HardwareConfig, build_root: str | Path,
                kinds=KINDS, idle_seed: int | None = None) -> dict:
    """Run ``inputs`` on each kind; SimulationError unless logits, classes and cycles match.

    Idle cycles in the input stream land before ``start`` and change nothing; each cycle a logit
    is held on the output stream holds the run a cycle, so cycles must equal the model's plus
    those. Returns, per kind, the :class:`NetworkResults` and the modelled cycles.
    """
    board = Scoreboard(packed, inputs)
    results = {}
    for kind in kinds:
        result = build_accelerator(packed, kind=kind, hw=hw, build_root=build_root).run(
            board.inputs, idle_seed=idle_seed)
        board.check_logits(kind, result.logits, result.predicted)
        model = reference_network_cycles(kind, hw, packed, board.inputs).total
        board.check_cycles(kind, result.cycles, model, stalls=result.held_cycles)
        results[kind] = (result, model)
    return results
