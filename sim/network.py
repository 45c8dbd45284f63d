"""Whole inferences on the generated accelerator RTL: the API the flow, the CLI and tests call.

The model is data: :func:`build_accelerator` generates the sparse or dense accelerator of a
:class:`~secateurs.hw.capacity.Capacity` (the hardware configuration, sized for the network's
layer shapes and word format by :func:`capacity_for`, never for one model's weights), wraps it
in a module that makes its own clock and feeds it from inside the simulator (:mod:`.feeder`),
and compiles it once with Verilator, optionally tracing waves (VCD) or SAIF toggle counts, or
with Icarus Verilog (:data:`~.runner.SIMULATORS`); every model, density and readout that fits
runs on that one build. :meth:`Accelerator.run` streams a
model's load words into the ``load`` port, then runs a batch of int8 input vectors, in one
simulator process, and returns what it reported, unjudged. :func:`prove` is the one "prove on
RTL": build each design, run the batch, and judge it bit-exact against the integer reference and
cycle-exact against the cycle model (:mod:`.tb.scoreboard`); ``sim matmul``, ``simulate`` and
the tests all go through it.
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
from ..rtl import capacity_for, hardware_image
from ..hw import accelerator as hw_accelerator
from ..hw.build.export import export_verilog
from ..hw.capacity import Capacity
from ..hw.load import load_words
from ..hw import params as hw_params
from ..hw.params import READOUTS
from ..sw.cycles import NetworkCycles
from ..sw.formats.base import check_matrix
from . import runner
from .events import PREDICTED, network_events
from .feeder import fed_wrapper
from .tb.job import DRIVERS, JOB_ENV, NetworkJob, NetworkResults, load_results, save_job
from .tb.model import reference_network_cycles
from .tb.scoreboard import Scoreboard

__all__ = ["KINDS", "COUNTERS", "DRIVERS", "NetworkResults", "Accelerator", "Proof",
           "capacity_for", "model_words", "build_accelerator", "prove"]

KINDS = hw_params.KINDS
COUNTERS = hw_accelerator.COUNTERS
#: The cocotb test module every run executes.
TEST_MODULE = "secateurs.sim.tb.cocotb_test"
#: The trace every Verilator build of the accelerator compiles in, off unless a run asks for it
#: (the power step's switching activity): plain and traced runs share one build per kind.
POWER_TRACE = "saif"


def model_words(model, capacity: Capacity, kind: str, readout: str = "logits") -> np.ndarray:
    """The load words of ``model`` (a model.bin or its image) for the ``kind`` design of
    ``capacity``, read out as ``readout``; InputError with the one line of
    :meth:`Capacity.check` (the memory or limit, and both sizes) if it does not fit."""
    if readout not in READOUTS:
        raise InputError(f"readout must be one of {', '.join(READOUTS)}, not {readout!r}")
    try:
        return np.array(load_words(hardware_image(model), capacity, kind, readout), dtype=np.int64)
    except ValueError as e:
        raise InputError(f"the model does not fit the {kind} accelerator: {e}") from None


class Accelerator:
    """A compiled whole-network accelerator of one capacity and kind; any model that fits runs
    on it (loaded through its ``load`` port before each batch)."""

    def __init__(self, design: hw_accelerator.Accelerator, built: runner.Build, model=None):
        self.design, self.built, self.kind = design, built, design.kind
        self.capacity = design.capacity
        #: The model :meth:`run` loads when given none (the one it was built for, if any).
        self.model = model

    def __repr__(self) -> str:
        return f"Accelerator({self.kind!r}, {self.capacity!r}, trace={self.built.trace!r})"

    def words(self, model, readout: str = "logits") -> np.ndarray:
        """The load words of ``model`` (a model.bin or its image) on this design; InputError
        with the one line of :meth:`Capacity.check` if it does not fit."""
        return model_words(model, self.capacity, self.kind, readout)

    def run(self, model, inputs: np.ndarray | None = None, *, readout: str = "logits",
            idle_seed: int | None = None, driver: str = "feeder",
            run_dir: str | Path | None = None, trace: bool = False) -> NetworkResults:
        """Load ``model`` (a model.bin or its image), then run each row of ``inputs`` (int8,
        batch x features) as one inference.

        ``readout`` is what the output stream carries: int8 "logits" or the last layer's raw
        "accumulators" (loaded with the model, not built in). ``run(inputs)`` alone runs the
        model the design was built for. ``idle_seed`` slips seeded random idle cycles between
        input values and holds each logit the output stream offers for seeded random cycles
        (back-pressure). ``driver`` picks how the load words and inputs reach the design
        (:data:`DRIVERS`: the Verilog feeder, or Python per inference or per clock edge, the
        benchmark's baselines). ``trace`` switches on the build's compiled-in trace
        (``built.trace``), written as ``built.trace_file``. ``run_dir`` keeps the job, log and
        trace there; otherwise a temporary folder is used and removed.
        """
        if inputs is None:
            if self.model is None:
                raise InputError("no model to load: pass the model and the inputs")
            model, inputs = self.model, model
        image = hardware_image(model)
        words = self.words(image, readout)
        x = check_matrix(inputs, what="inputs")
        if x.shape[1] != image.inputs:
            raise InputError(f"inputs have {x.shape[1]} columns but the network has "
                             f"{image.inputs} features")
        if driver not in DRIVERS:
            raise InputError(f"driver must be one of {', '.join(DRIVERS)}, not {driver!r}")
        keep = run_dir is not None
        work = Path(run_dir) if keep else Path(tempfile.mkdtemp(prefix="secateurs-network-"))
        try:
            work.mkdir(parents=True, exist_ok=True)
            job, results = work / "job.npz", work / "results.npz"
            save_job(job, NetworkJob(x, image.outputs, COUNTERS, results.resolve(), idle_seed,
                                     driver, words))
            runner.run_test(self.built, TEST_MODULE, test_dir=work,
                            extra_env={JOB_ENV: str(job.resolve())}, trace=trace)
            return load_results(results)
        finally:
            if not keep:
                shutil.rmtree(work, ignore_errors=True)


def build_accelerator(hardware, *, kind: str, hw: HardwareConfig, build_root: str | Path,
                      trace: str | None = None, simulator: str = "verilator") -> Accelerator:
    """Generate and compile (or reuse) the ``kind`` accelerator of ``hardware``: a
    :class:`Capacity`, or a model.bin, which stands for :func:`capacity_for` its shapes and
    word format (and becomes the model :meth:`Accelerator.run` loads by default).

    The Verilog depends on the capacity alone, so every model it holds reuses one build. A
    Verilator build compiles in :data:`POWER_TRACE`, off unless a run switches it on;
    ``trace`` ("vcd" or "fst") compiles in that waveform format instead, a build of its own
    (Verilator only). ``simulator`` is one of :data:`~.runner.SIMULATORS`.
    """
    if kind not in KINDS:
        raise InputError(f"accelerator kind must be one of {', '.join(KINDS)}, not {kind!r}")
    model = None
    if isinstance(hardware, Capacity):
        capacity = hardware
    else:
        model, capacity = hardware, capacity_for(hardware, hw)
    try:
        design = hw_accelerator.Accelerator(capacity, kind=kind)
    except ValueError as e:
        raise InputError(f"cannot build the {kind} accelerator: {e}") from None
    name = f"{kind}_accelerator"
    verilog, top = fed_wrapper(export_verilog(design, name=name), name, counters=COUNTERS)
    parameters = {**design.parameters(),
                  "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest()[:16]}
    if trace is None and simulator == "verilator":
        trace = POWER_TRACE
    built = runner.build(verilog, toplevel=top, parameters=parameters, build_root=build_root,
                         trace=trace, timing=True, simulator=simulator)
    return Accelerator(design, built, model)


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
          capacity: Capacity | None = None,
          idle_seed: int | None = None, board: Scoreboard | None = None, events: bool = False,
          simulator: str = "verilator",
          log: Callable[[str], None] | None = None) -> dict[str, Proof]:
    """Build each of ``kinds``, run ``inputs`` on it, and judge it; SimulationError at the first
    value, class, cycle count (or, with ``events``, event counter) that is not the reference's.

    ``board`` (a :class:`Scoreboard` of ``packed``) stands for ``inputs`` when the caller has
    one. ``capacity`` is the hardware the model is loaded into (default :func:`capacity_for`
    its shapes and format); a model that does not fit is refused (InputError, one line).
    Idle cycles in the input stream land before ``start`` and change nothing; each cycle a
    value is held on the output stream holds the run a cycle, so cycles must equal the model's
    plus those. ``simulator`` is the one each design is built for and run on.
    """
    board = board if board is not None else Scoreboard(packed, inputs)
    say = log or (lambda message: None)
    capacity = capacity if capacity is not None else capacity_for(packed, hw)
    proofs = {}
    for kind in kinds:
        words = model_words(packed, capacity, kind, readout)  # refused before the build
        say(f"[prove] {kind}: build ({simulator})")
        design = build_accelerator(capacity, kind=kind, hw=hw, build_root=build_root,
                                   simulator=simulator)
        say(f"[prove] {kind}: load {len(words)} words, {len(board.inputs)} inferences")
        began = time.perf_counter()
        result = design.run(packed, board.inputs, readout=readout, idle_seed=idle_seed)
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
