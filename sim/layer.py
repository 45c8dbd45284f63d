"""Run int8 layers on the generated RTL: the API the CLI and the flow call.

An array is built once, sized for the largest layer it will hold (:func:`build_array`); smaller
layers run on it through its run-time ``n_rows``/``n_cols``. :meth:`Array.run` simulates a whole
batch — or several layers — in one simulator process and returns what the hardware computed,
without judging it. :func:`run_matmul` runs both arrays and judges them against the references.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import HardwareConfig
from ..errors import InputError
from ..hw.build.export import export_verilog
from ..hw.dense_array import DenseArray
from ..hw.params import KINDS
from ..hw.sparse_array import SparseArray
from ..sw.formats.csc import CSCLayer, pack_csc, unpack_csc
from . import runner
from .clock import self_clocked
from .tb.checker import check_cycles, check_outputs
from .tb.images import JOB_ENV, LayerImage, dense_image, load_results, save_job, sparse_image
from .tb.model import reference_cycles, reference_outputs

__all__ = ["Array", "LayerResult", "MatmulResult", "SimulatorRun", "build_array", "int8_matrix",
           "run_layer", "run_matmul"]

#: The cocotb test module every run executes.
TEST_MODULE = "secateurs.sim.tb.layer_test"


@dataclass(frozen=True, eq=False)
class LayerResult:
    """What the array computed for a batch: ``(batch, rows)`` int32 outputs, ``(batch,)`` cycles,
    and the wall seconds each run took from start to done."""

    outputs: np.ndarray
    cycles: np.ndarray
    seconds: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class SimulatorRun:
    """The layers of one simulator process, and its clock cycles and wall time in all."""

    layers: list[LayerResult]
    cycles: int
    seconds: float


@dataclass(frozen=True, eq=False)
class MatmulResult:
    """Outputs of one layer (checked on both arrays) and per-sample cycles, simulated and modelled."""

    outputs: np.ndarray
    cycles_sparse: np.ndarray
    cycles_dense: np.ndarray
    expected_cycles_sparse: np.ndarray
    expected_cycles_dense: np.ndarray


def int8_matrix(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` as an int64 matrix; InputError unless 2-D integers that fit int8."""
    array = np.asarray(values)
    if array.ndim != 2:
        raise InputError(f"{what} must be a 2-D matrix, not shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"{what} must be integers, not {array.dtype}")
    if array.size and (array.min() < -128 or array.max() > 127):
        raise InputError(f"{what} must fit int8 (-128..127)")
    return array.astype(np.int64)


class Array:
    """A built sparse or dense array; runs layers up to its built size."""

    def __init__(self, kind: str, component, built: runner.Build, hw: HardwareConfig,
                 index_bits: int):
        self.kind, self.hw, self.index_bits, self.built = kind, hw, index_bits, built
        signature = component.signature
        self.rows, self.cols, self.bank_depth = signature.rows, signature.cols, signature.bank_depth
        self.value_bits = signature.value_bits
        self._word_layout = signature.members["w_data"].shape
        self._pointer_layout = signature.members["ptr_data"].shape

    def __repr__(self) -> str:
        return (f"Array({self.kind!r}, rows={self.rows}, cols={self.cols}, pes={self.hw.pes}, "
                f"bank_depth={self.bank_depth})")

    def pack(self, layer: CSCLayer | np.ndarray) -> CSCLayer:
        """``layer`` as CSC for this array's PEs (an int8 matrix is packed here)."""
        if isinstance(layer, CSCLayer):
            if layer.pes != self.hw.pes or layer.index_bits != self.index_bits:
                raise InputError(
                    f"layer packed for {layer.pes} PEs and {layer.index_bits} index bits; the array "
                    f"has {self.hw.pes} PEs and {self.index_bits} index bits")
            return layer
        return pack_csc(int8_matrix(layer, "weights"), pes=self.hw.pes, index_bits=self.index_bits,
                        value_bits=self.value_bits)

    def _image(self, layer: CSCLayer, inputs: np.ndarray) -> LayerImage:
        if not (1 <= layer.rows <= self.rows and 1 <= layer.cols <= self.cols):
            raise InputError(f"a {layer.rows}x{layer.cols} layer does not fit the "
                             f"{self.rows}x{self.cols} {self.kind} array")
        x = int8_matrix(inputs, "inputs")
        if x.shape[1] != layer.cols:
            raise InputError(f"inputs have {x.shape[1]} columns but the layer has {layer.cols}")
        if self.kind == "sparse":
            image = sparse_image(layer, x, self._pointer_layout)
        else:
            image = dense_image(unpack_csc(layer), x, self.hw.pes, self._word_layout)
        deepest = max(len(bank) for bank in image.banks)
        if deepest > self.bank_depth:
            raise InputError(f"the layer needs {deepest} words in one PE bank; the {self.kind} "
                             f"array was built with {self.bank_depth}")
        return image

    def run_many(self, jobs: Sequence[tuple[CSCLayer | np.ndarray, np.ndarray]], *,
                 idle_seed: int | None = None, run_dir: str | Path | None = None,
                 per_cycle: bool = False) -> list[LayerResult]:
        """Run each ``(layer, inputs)`` in order in one simulator process (see :meth:`simulate`)."""
        return self.simulate(jobs, idle_seed=idle_seed, run_dir=run_dir, per_cycle=per_cycle).layers

    def simulate(self, jobs: Sequence[tuple[CSCLayer | np.ndarray, np.ndarray]], *,
                 idle_seed: int | None = None, run_dir: str | Path | None = None,
                 per_cycle: bool = False) -> SimulatorRun:
        """Run each ``(layer, inputs)`` in order in one simulator process.

        ``idle_seed`` slips seeded random idle cycles and junk between host writes. ``run_dir``
        keeps the job, results, log (and the trace of an array built with one) there; otherwise
        the run happens in a temporary folder, removed unless the run fails. ``per_cycle`` makes
        the monitor step every clock edge in Python (the slow baseline the benchmark measures).
        """
        images = [self._image(self.pack(layer), inputs) for layer, inputs in jobs]
        if run_dir is None:
            runs = self.built.directory / "runs"
            runs.mkdir(exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="run-", dir=runs))
        else:
            folder = Path(run_dir)
            folder.mkdir(parents=True, exist_ok=True)
        job, results = folder / "job.npz", folder / "results.npz"
        save_job(job, images, results=results, idle_seed=idle_seed, per_cycle=per_cycle)
        runner.run_test(self.built, TEST_MODULE, test_dir=folder, extra_env={JOB_ENV: str(job)})
        measured = load_results(results)
        out = [LayerResult(o, c, s)
               for o, c, s in zip(measured.outputs, measured.cycles, measured.seconds, strict=True)]
        if run_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
        return SimulatorRun(out, measured.total_cycles, measured.total_seconds)

    def run(self, layer: CSCLayer | np.ndarray, inputs: np.ndarray, *,
            idle_seed: int | None = None) -> LayerResult:
        """Run every sample of ``inputs`` (batch x cols) through ``layer`` (CSC or int8 matrix)."""
        return self.run_many([(layer, inputs)], idle_seed=idle_seed)[0]

    def expected_cycles(self, layer: CSCLayer | np.ndarray, inputs: np.ndarray) -> np.ndarray:
        """Per-sample cycles the analytic model predicts for this array."""
        return reference_cycles(self.kind, self.hw, self.pack(layer), np.asarray(inputs))


def layer_array(kind: str, *, hw: HardwareConfig, rows: int, cols: int, index_bits: int,
                bank_depth: int | None = None):
    """The ``kind`` array ("sparse" or "dense") for layers up to ``rows`` x ``cols``."""
    common = dict(pes=hw.pes, rows=rows, cols=cols, value_bits=8, index_bits=index_bits,
                  acc_bits=hw.acc_bits, bank_depth=bank_depth)
    if kind == "sparse":
        return SparseArray(queue_depth=hw.queue_depth, issue_width=hw.issue_width, **common)
    return DenseArray(**common)


def build_array(kind: str, *, rows: int, cols: int, hw: HardwareConfig, index_bits: int,
                build_root: str | Path, bank_depth: int | None = None,
                trace: str | None = None) -> Array:
    """Generate the ``kind`` array for layers up to ``rows`` x ``cols`` and compile it (cached).

    ``bank_depth`` defaults to what a fully dense layer of that size needs. The array is wrapped
    in a module that makes its clock (:mod:`.clock`); ``trace`` ("fst", "vcd" or "saif") compiles
    in tracing of that format.
    """
    if kind not in KINDS:
        raise InputError(f"array kind must be one of {', '.join(KINDS)}, not {kind!r}")
    try:
        component = layer_array(kind, hw=hw, rows=rows, cols=cols, index_bits=index_bits,
                                bank_depth=bank_depth)
    except ValueError as e:
        raise InputError(f"cannot build the {kind} array: {e}") from None
    name = f"{kind}_array"
    signature = component.signature
    parameters = {"kind": kind, "pes": hw.pes, "queue_depth": hw.queue_depth, "acc_bits": hw.acc_bits,
                  "rows": rows, "cols": cols, "index_bits": index_bits,
                  "bank_depth": signature.bank_depth}
    verilog, top = self_clocked(export_verilog(component, name=name), name)
    built = runner.build(verilog, toplevel=top, parameters=parameters, build_root=build_root,
                         trace=trace, timing=True)
    return Array(kind, component, built, hw, index_bits)


def run_layer(kind: str, weights: np.ndarray, inputs: np.ndarray, *, hw: HardwareConfig,
              index_bits: int, build_root: str | Path, idle_seed: int | None = None) -> LayerResult:
    """Build (or reuse) the ``kind`` array sized for ``weights`` and run the batch ``inputs``."""
    w = int8_matrix(weights, "weights")
    array = build_array(kind, rows=w.shape[0], cols=w.shape[1], hw=hw, index_bits=index_bits,
                        build_root=build_root)
    return array.run(w, inputs, idle_seed=idle_seed)


def run_matmul(weights: np.ndarray, inputs: np.ndarray, *, hw: HardwareConfig, index_bits: int,
               build_root: str | Path) -> MatmulResult:
    """``inputs @ weights.T`` on both arrays; SimulationError unless outputs and cycles match."""
    w, x = int8_matrix(weights, "weights"), int8_matrix(inputs, "inputs")
    if x.shape[1] != w.shape[1]:
        raise InputError(f"inputs have {x.shape[1]} columns but weights have {w.shape[1]}")
    expected_outputs = reference_outputs(w, x, hw.acc_bits)
    cycles, expected = {}, {}
    for kind in KINDS:
        array = build_array(kind, rows=w.shape[0], cols=w.shape[1], hw=hw, index_bits=index_bits,
                            build_root=build_root)
        layer = array.pack(w)
        result = array.run(layer, x)
        check_outputs(result.outputs, expected_outputs, label=f"{kind} array")
        cycles[kind], expected[kind] = result.cycles, array.expected_cycles(layer, x)
        check_cycles(cycles[kind], expected[kind], label=f"{kind} array")
    return MatmulResult(expected_outputs, cycles["sparse"], cycles["dense"], expected["sparse"],
                        expected["dense"])
