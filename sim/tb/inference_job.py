"""The files between the host and a whole-network simulation: the job in, the results out.

The job names the int8 input vectors, how many logits and which counters to read, the idle-cycle
seed and the monitor's mode; the results carry what the accelerator reported for each sample and
what the run cost in simulated cycles and wall time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["JOB_ENV", "InferenceJob", "InferenceResults", "save_job", "load_job", "save_results",
           "load_results"]

#: Environment variable naming the job file of a simulator process (plumbing only).
JOB_ENV = "SECATEURS_INFERENCE_JOB"


@dataclass(frozen=True, eq=False)
class InferenceJob:
    #: ``(batch, features)`` int8 input vectors, one inference each.
    inputs: np.ndarray
    #: Logits to read back per inference.
    outputs: int
    #: Names of the event counters to read after each run.
    counters: tuple[str, ...]
    results: Path
    idle_seed: int | None = None
    #: Step every clock edge in Python instead of awaiting ``done`` (the slow baseline).
    per_cycle: bool = False


@dataclass(frozen=True, eq=False)
class InferenceResults:
    predicted: np.ndarray
    #: ``(batch, outputs)`` int8 logits.
    logits: np.ndarray
    #: Per counter name, ``(batch,)`` counts of each run.
    counters: dict[str, np.ndarray]
    #: ``(batch,)`` wall seconds from start to done, and idle cycles slipped into each input.
    seconds: np.ndarray
    idle_cycles: np.ndarray
    #: Clock cycles from reset to the end of the job, and the wall seconds they took.
    total_cycles: int
    total_seconds: float


def _save_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def save_job(path: str | Path, job: InferenceJob) -> None:
    _save_atomic(Path(path), {
        "inputs": np.asarray(job.inputs, dtype=np.int64),
        "outputs": np.array(job.outputs),
        "counters": np.array(job.counters, dtype=str),
        "results": np.array(str(job.results)),
        "idle_seed": np.array(-1 if job.idle_seed is None else job.idle_seed),
        "per_cycle": np.array(job.per_cycle),
    })


def load_job(path: str | Path) -> InferenceJob:
    with np.load(path) as job:
        seed = int(job["idle_seed"])
        return InferenceJob(job["inputs"], int(job["outputs"]),
                            tuple(str(c) for c in job["counters"]), Path(str(job["results"])),
                            None if seed < 0 else seed, bool(job["per_cycle"]))


def save_results(path: str | Path, results: InferenceResults) -> None:
    _save_atomic(Path(path), {
        "predicted": results.predicted, "logits": results.logits, "seconds": results.seconds,
        "idle_cycles": results.idle_cycles, "total_cycles": np.array(results.total_cycles),
        "total_seconds": np.array(results.total_seconds),
        **{f"counter/{k}": v for k, v in results.counters.items()},
    })


def load_results(path: str | Path) -> InferenceResults:
    with np.load(path) as r:
        counters = {k.split("/", 1)[1]: r[k] for k in r.files if k.startswith("counter/")}
        return InferenceResults(r["predicted"], r["logits"], counters, r["seconds"],
                                r["idle_cycles"], int(r["total_cycles"]),
                                float(r["total_seconds"]))
