"""Whole inferences on the generated accelerator RTL: the API the flow, the CLI and tests call.

:func:`build_accelerator` generates the sparse or dense accelerator of a ``model.bin`` (its
memories initialised from the model), wraps it in a module that makes its own clock and feeds
it a batch from inside the simulator (:mod:`.feeder`), and compiles it once with Verilator,
optionally tracing waves (VCD) or SAIF toggle counts. :meth:`Accelerator.run` runs a batch of
int8 input vectors in one simulator process and returns what it reported, unjudged.
:func:`prove` is the one "prove on RTL": build each design, run the batch, and judge it
bit-exact against the integer reference and cycle-exact against the cycle model
(:mod:`.tb.scoreboard`); ``sim matmul``, ``simulate`` and the tests all go through it.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import HardwareConfig
from ..errors import InputError
from ..hw import accelerator as hw_accelerator
from ..hw.build.export import export_verilog
from ..hw.image import network_image
from ..sw.cycles import NetworkCycles
from ..sw.formats.base import check_matrix
from . import runner
from .events import PREDICTED, network_events
from .feeder import fed_wrapper
from .tb.job import DRIVERS, JOB_ENV, NetworkJob, NetworkResults, load_results, save_job
from .tb.model import reference_network_cycles
from .tb.scoreboard import Scoreboard

__all__ = ["KINDS", "COUNTERS", "DRIVERS", "NetworkResults", "Accelerator", "Proof",
           "build_accelerator", "prove"]

KINDS = hw_accelerator.KINDS
COUNTERS = hw_accelerator.COUNTERS
#: The cocotb test module every run executes.
TEST_MODULE = "secateurs.sim.tb.cocotb_test"


class Accelerator:
    """A compiled whole-network accelerator of one model, kind, P and D."""

    def __init__(self, design: hw_accelerator.Accelerator, built: runner.Build):
        self.design, self.built, self.kind = design, built, design.kind

    def __repr__(self) -> str:
        return (f"Accelerator({self.kind!r}, readout={self.readout!r}, "
                f"trace={self.built.trace!r})")

    @property
    def readout(self) -> str:
        """What the output stream carries: "logits" or raw "accumulators"."""
        return self.design.readout

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
        x = check_matrix(inputs, what="inputs")
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
                      trace: str | None = None, readout: str = "logits") -> Accelerator:
    """Generate and compile (or reuse) the ``kind`` accelerator of ``packed`` (a model.bin).

    ``trace`` ("vcd", "fst" or "saif") compiles in tracing of that format, a separate build.
    ``readout="accumulators"`` streams the last layer's raw ``acc + bias`` instead of logits.
    """
    if kind not in KINDS:
        raise InputError(f"accelerator kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if packed.pes != hw.pes:
        raise InputError(f"the model is packed for {packed.pes} PEs but the hardware has {hw.pes}")
    try:
        design = hw_accelerator.Accelerator(network_image(packed), kind=kind,
                                            queue_depth=hw.queue_depth,
                                            issue_width=hw.issue_width, acc_bits=hw.acc_bits,
                                            readout=readout)
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


@dataclass(frozen=True, eq=False)
class Proof:
    """One design's run of a batch, judged: what it reported, the modelled cycles, the wall
    seconds the run took (the build excluded) and, if checked, the modelled events."""

    kind: str
    result: NetworkResults
    model: NetworkCycles
    seconds: float
    events: list | None = None

    @property
    def cycles(self) -> np.ndarray:
        """Cycles of each inference, as the design counted them (== ``expected`` + held)."""
        return self.result.cycles

    @property
    def expected(self) -> np.ndarray:
        """Cycles of each inference the model predicts for a host that holds nothing back."""
        return self.model.total


def prove(packed, inputs: np.ndarray | None = None, *, hw: HardwareConfig,
          build_root: str | Path, kinds=KINDS, readout: str = "logits",
          idle_seed: int | None = None, board: Scoreboard | None = None, events: bool = False,
          log: Callable[[str], None] | None = None) -> dict[str, Proof]:
    """Build each of ``kinds``, run ``inputs`` on it, and judge it; SimulationError at the first
    value, class, cycle count (or, with ``events``, event counter) that is not the reference's.

    ``board`` (a :class:`Scoreboard` of ``packed``) stands for ``inputs`` when the caller has
    one. Idle cycles in the input stream land before ``start`` and change nothing; each cycle a
    value is held on the output stream holds the run a cycle, so cycles must equal the model's
    plus those.
    """
    board = board if board is not None else Scoreboard(packed, inputs)
    say = log or (lambda message: None)
    proofs = {}
    for kind in kinds:
        say(f"[prove] {kind}: build")
        design = build_accelerator(packed, kind=kind, hw=hw, build_root=build_root,
                                   readout=readout)
        say(f"[prove] {kind}: {len(board.inputs)} inferences")
        began = time.perf_counter()
        result = design.run(board.inputs, idle_seed=idle_seed)
        seconds = time.perf_counter() - began
        board.check_outputs(kind, result.logits, result.predicted, readout=readout)
        model = reference_network_cycles(kind, hw, packed, board.inputs)
        board.check_cycles(kind, result.cycles, model.total, stalls=result.held_cycles)
        modelled = None
        if events:
            modelled = network_events(packed, board.inputs, kind=kind,
                                      issue_width=hw.issue_width)
            board.check_events(kind, result.counters,
                               {k: sum(e[k] for e in modelled) for k in PREDICTED})
        proofs[kind] = Proof(kind, result, model, seconds, modelled)
    return proofs
