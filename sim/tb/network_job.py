"""The files between the host and a whole-network simulation: the job in, the results out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["JOB_ENV", "NetworkJob", "save_job", "load_job", "save_results", "load_results"]

#: Environment variable naming the job file of a simulator process (plumbing only).
JOB_ENV = "SECATEURS_NETWORK_JOB"


@dataclass(frozen=True, eq=False)
class NetworkJob:
    """Input vectors to run (batch x features), how many logits to read, where results go."""

    inputs: np.ndarray
    outputs: int
    results: Path
    idle_seed: int | None = None


def _save_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def save_job(path: str | Path, job: NetworkJob) -> None:
    _save_atomic(Path(path), {
        "inputs": np.asarray(job.inputs, dtype=np.int64),
        "outputs": np.array(job.outputs),
        "results": np.array(str(job.results)),
        "idle_seed": np.array(-1 if job.idle_seed is None else job.idle_seed),
    })


def load_job(path: str | Path) -> NetworkJob:
    with np.load(path) as job:
        seed = int(job["idle_seed"])
        return NetworkJob(job["inputs"], int(job["outputs"]), Path(str(job["results"])),
                          None if seed < 0 else seed)


def save_results(path: str | Path, *, predicted: np.ndarray, logits: np.ndarray,
                 counters: dict[str, np.ndarray]) -> None:
    _save_atomic(Path(path), {"predicted": predicted, "logits": logits,
                              **{f"counter/{k}": v for k, v in counters.items()}})


def load_results(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(predicted, logits, counters)`` of a finished job."""
    with np.load(path) as r:
        counters = {k.split("/", 1)[1]: r[k] for k in r.files if k.startswith("counter/")}
        return r["predicted"], r["logits"], counters
