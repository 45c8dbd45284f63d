"""The files between the host and a whole-network simulation: the job in, the results out.

The job names the model's load words (written into the design before the batch), the int8
input vectors, how many logits and which counters to read, the idle-cycle seed and the driver; the results carry what the accelerator reported for each sample and what
the run cost in simulated cycles and wall time. A job may also reset chosen samples in the middle
of their run (Python drivers only): the host then abandons the sample, reads the ports once the
design is ready again, and loads the model anew before the next one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ... import atomic

__all__ = ["JOB_ENV", "DRIVERS", "NetworkJob", "NetworkResults", "save_job", "load_job",
           "save_npz", "save_results", "load_results"]

#: Environment variable naming the job file of a simulator process (plumbing only).
JOB_ENV = "SECATEURS_NETWORK_JOB"
#: How the inputs reach the accelerator: ``feeder``, the Verilog feeder of the wrapper (a batch
#: per await, the fast path); ``per_inference``, Python streams each value and awaits ``done``
#: once per inference; ``per_cycle``, the same but stepping every clock edge in Python (the
#: naive baseline).
DRIVERS = ("feeder", "per_inference", "per_cycle")


@dataclass(frozen=True, eq=False)
class NetworkJob:
    #: ``(batch, features)`` int8 input vectors, one inference each.
    inputs: np.ndarray
    #: Logits to read back per inference.
    outputs: int
    #: Names of the event counters to read after each run.
    counters: tuple[str, ...]
    results: Path
    idle_seed: int | None = None
    driver: str = "feeder"
    #: The model's 32-bit load words (:func:`secateurs.hw.load.load_words`), streamed into the
    #: ``load`` port before the first inference (empty: the design keeps what it holds).
    load: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: Per sample, the edge of its run (counted from the launch edge, 0) that samples ``rst``
    #: high, at least 1; -1 (or past the end of the list): the run is not reset.
    resets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def reset_at(self, sample: int) -> int:
        """The edge of ``sample``'s run that resets it, or -1."""
        return int(self.resets[sample]) if sample < len(self.resets) else -1


@dataclass(frozen=True, eq=False)
class NetworkResults:
    """What the accelerator reported for a batch, unjudged, and what the simulation cost."""

    predicted: np.ndarray
    #: ``(batch, outputs)`` what the output stream carried: int8 logits, or raw accumulators.
    logits: np.ndarray
    #: Per counter name, ``(batch,)`` counts of each run.
    counters: dict[str, np.ndarray]
    #: ``(batch,)`` idle cycles slipped into each input vector.
    idle_cycles: np.ndarray
    #: ``(batch,)`` cycles the host kept offered logits waiting (each one holds the run a cycle).
    held_cycles: np.ndarray
    #: Clock cycles from reset to the end of the job, and the wall seconds they took.
    total_cycles: int
    total_seconds: float
    #: ``(batch,)`` cycles ``busy`` stayed high after the sample's reset, -1 if it ran to the
    #: end (then its class, logits and counters are those of the run; else what the host read
    #: once the design was ready again).
    reset_busy: np.ndarray | None = None

    @property
    def cycles(self) -> np.ndarray:
        """Cycles of each inference, launch to done (the ``cycles`` counter)."""
        return self.counters["cycles"]


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """``arrays`` as an .npz file, written atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic.write_bytes(path, buffer.getvalue())


def save_job(path: str | Path, job: NetworkJob) -> None:
    if job.driver not in DRIVERS:
        raise ValueError(f"driver must be one of {', '.join(DRIVERS)}, not {job.driver!r}")
    resets = np.asarray(job.resets, dtype=np.int64)
    bad = resets[(resets == 0) | (resets < -1)]
    if bad.size:
        raise ValueError(f"a reset is an edge of the run from 1 on, or -1, not {bad[0]}")
    if (resets > 0).any() and job.driver == "feeder":
        raise ValueError("the feeder runs a batch without resets; reset with a Python driver")
    save_npz(path, {
        "inputs": np.asarray(job.inputs, dtype=np.int64),
        "outputs": np.array(job.outputs),
        "counters": np.array(job.counters, dtype=str),
        "results": np.array(str(job.results)),
        "idle_seed": np.array(-1 if job.idle_seed is None else job.idle_seed),
        "driver": np.array(job.driver),
        "load": np.asarray(job.load, dtype=np.int64),
        "resets": np.asarray(job.resets, dtype=np.int64),
    })


def load_job(path: str | Path) -> NetworkJob:
    with np.load(path) as job:
        seed = int(job["idle_seed"])
        return NetworkJob(job["inputs"], int(job["outputs"]),
                          tuple(str(c) for c in job["counters"]), Path(str(job["results"])),
                          None if seed < 0 else seed, str(job["driver"]), job["load"],
                          job["resets"])


def save_results(path: str | Path, results: NetworkResults) -> None:
    save_npz(path, {
        "predicted": results.predicted, "logits": results.logits,
        "idle_cycles": results.idle_cycles, "held_cycles": results.held_cycles,
        "total_cycles": np.array(results.total_cycles),
        "total_seconds": np.array(results.total_seconds),
        "reset_busy": np.full(len(results.predicted), -1) if results.reset_busy is None
        else np.asarray(results.reset_busy),
        **{f"counter/{k}": v for k, v in results.counters.items()},
    })


def load_results(path: str | Path) -> NetworkResults:
    with np.load(path) as r:
        counters = {k.split("/", 1)[1]: r[k] for k in r.files if k.startswith("counter/")}
        return NetworkResults(r["predicted"], r["logits"], counters, r["idle_cycles"],
                              r["held_cycles"], int(r["total_cycles"]), float(r["total_seconds"]),
                              r["reset_busy"])
