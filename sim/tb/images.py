"""What the host writes where: a layer's memory images, and the job file carrying them.

The host side (``secateurs.sim.layer``) turns a layer into images — the words of each PE's
weight bank, the column-pointer words, the activations of every sample — and saves them as a job
file. The cocotb side loads the job and writes the images through the array's ports, knowing
nothing of packing. Word layouts come from the built component's ports, never restated here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth.hdl import Const
from amaranth.lib import data

from ...hw.layout import field_slices
from ...sw.formats.csc import CSCLayer

__all__ = ["JOB_ENV", "LayerImage", "sparse_image", "dense_image", "save_job", "load_job",
           "JobResults", "save_results", "load_results"]

#: Environment variable naming the job file of a simulator process (plumbing only).
JOB_ENV = "SECATEURS_SIM_JOB"


@dataclass(frozen=True, eq=False)
class LayerImage:
    """Everything the host writes for one layer, and the samples to run through it."""

    rows: int
    cols: int
    #: Per PE, the words of its weight bank from address 0 (raw ``csc_word`` bits).
    banks: tuple[np.ndarray, ...]
    #: Column-pointer words for addresses ``0..cols`` (empty for the dense array).
    pointers: tuple[int, ...]
    #: ``(batch, cols)`` activations, one sample per row.
    inputs: np.ndarray

    def words(self) -> int:
        """Weight words of the layer over all PEs: an upper bound on a run's compute cycles."""
        return sum(len(b) for b in self.banks)


def sparse_image(layer: CSCLayer, inputs: np.ndarray, pointer_layout: data.StructLayout) -> LayerImage:
    """Bank ``p`` holds ``layer.words[p]``; pointer ``j`` holds each PE's start of column ``j``."""
    nonempty = np.append(layer.counts().any(axis=0), False)
    pointers = tuple(
        Const.cast(pointer_layout.const({
            "start": [int(s) for s in layer.col_ptr[:, j]],
            "nonempty": int(nonempty[j]),
        })).value
        for j in range(layer.cols + 1)
    )
    banks = tuple(np.asarray(w, dtype=np.uint32) for w in layer.words)
    return LayerImage(layer.rows, layer.cols, banks, pointers, np.asarray(inputs))


def dense_image(weights: np.ndarray, inputs: np.ndarray, pes: int,
                word_layout: data.StructLayout) -> LayerImage:
    """Bank ``p`` address ``j * rows_per_pe + r // pes`` holds ``W[r, j]`` (zeros field 0)."""
    w = np.asarray(weights, dtype=np.int64)
    rows, cols = w.shape
    rows_per_pe = -(-rows // pes)
    v_off, v_width = field_slices(word_layout)["value"]
    padded = np.zeros((rows_per_pe * pes, cols), dtype=np.int64)
    padded[:rows] = w
    raw = (padded & ((1 << v_width) - 1)) << v_off
    # Local row i of PE p is global row i * pes + p; the bank is column-major over local rows.
    local = raw.reshape(rows_per_pe, pes, cols)
    banks = tuple(np.ascontiguousarray(local[:, p, :].T).reshape(-1).astype(np.uint32)
                  for p in range(pes))
    return LayerImage(rows, cols, banks, (), np.asarray(inputs))


def _ints_to_bytes(values: tuple[int, ...]) -> np.ndarray:
    """Arbitrary-width non-negative integers as a ``(n, width_bytes)`` little-endian matrix."""
    width = max([1, *((v.bit_length() + 7) // 8 for v in values)])
    return np.array([list(v.to_bytes(width, "little")) for v in values], dtype=np.uint8).reshape(-1, width)


def _bytes_to_ints(matrix: np.ndarray) -> tuple[int, ...]:
    return tuple(int.from_bytes(bytes(row), "little") for row in matrix)


def _save_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def save_job(path: str | Path, layers: list[LayerImage], *, results: str | Path,
             idle_seed: int | None = None, per_cycle: bool = False) -> None:
    """Write a job: the layers to run in order, where to put results, the idle-cycle seed, and
    whether the monitor steps every edge (``per_cycle``) or awaits ``done``."""
    arrays: dict[str, np.ndarray] = {
        "results": np.array(str(results)),
        "idle_seed": np.array(-1 if idle_seed is None else idle_seed, dtype=np.int64),
        "per_cycle": np.array(per_cycle),
        "layers": np.array(len(layers)),
    }
    for i, image in enumerate(layers):
        arrays[f"{i}/shape"] = np.array([image.rows, image.cols, len(image.banks)])
        for p, bank in enumerate(image.banks):
            arrays[f"{i}/bank{p}"] = bank
        arrays[f"{i}/pointers"] = _ints_to_bytes(image.pointers)
        arrays[f"{i}/inputs"] = image.inputs.astype(np.int64)
    _save_atomic(Path(path), arrays)


def load_job(path: str | Path) -> tuple[list[LayerImage], Path, int | None, bool]:
    """``(layers, results path, idle seed or None, per_cycle)`` of a job file."""
    with np.load(path) as job:
        layers = []
        for i in range(int(job["layers"])):
            rows, cols, pes = (int(v) for v in job[f"{i}/shape"])
            banks = tuple(job[f"{i}/bank{p}"] for p in range(pes))
            pointers = _bytes_to_ints(job[f"{i}/pointers"]) if job[f"{i}/pointers"].size else ()
            layers.append(LayerImage(rows, cols, banks, pointers, job[f"{i}/inputs"]))
        seed = int(job["idle_seed"])
        return (layers, Path(str(job["results"])), None if seed < 0 else seed,
                bool(job["per_cycle"]))


@dataclass(frozen=True, eq=False)
class JobResults:
    """What a simulator process measured: per layer outputs, cycles and wall time of each run,
    and the clock cycles and wall time of the whole simulation (loading included)."""

    #: Per layer ``(batch, rows)`` int32 outputs.
    outputs: list[np.ndarray]
    #: Per layer ``(batch,)`` cycles counted by the array.
    cycles: list[np.ndarray]
    #: Per layer ``(batch,)`` wall seconds from start to done.
    seconds: list[np.ndarray]
    #: Clock cycles from reset to the end of the job, and the wall seconds they took.
    total_cycles: int
    total_seconds: float


def save_results(path: str | Path, results: JobResults) -> None:
    arrays = {"layers": np.array(len(results.outputs)),
              "total_cycles": np.array(results.total_cycles),
              "total_seconds": np.array(results.total_seconds)}
    for i, (out, cyc, sec) in enumerate(zip(results.outputs, results.cycles, results.seconds,
                                            strict=True)):
        arrays[f"{i}/outputs"] = out
        arrays[f"{i}/cycles"] = cyc
        arrays[f"{i}/seconds"] = sec
    _save_atomic(Path(path), arrays)


def load_results(path: str | Path) -> JobResults:
    with np.load(path) as r:
        n = int(r["layers"])
        return JobResults([r[f"{i}/outputs"] for i in range(n)], [r[f"{i}/cycles"] for i in range(n)],
                          [r[f"{i}/seconds"] for i in range(n)], int(r["total_cycles"]),
                          float(r["total_seconds"]))
