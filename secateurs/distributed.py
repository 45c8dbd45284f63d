"""Sweep tasks on Ray: a local Ray by default (no cluster needed), or an existing cluster.

A task is a top-level function that writes its own result file atomically and returns its name,
so a task can run anywhere, twice, or be killed half-way without leaving a torn result. A worker
that dies (crash, kill, lost node) has its task re-run by Ray up to ``retries`` times; a task
that *raises* is a real error and stops the sweep, with every finished result kept on disk.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import ConfigError, SecateursError

#: Re-runs of a task whose worker died before it finished.
RETRIES = 3
#: Each task is one single-threaded process: threads within a task would fight the others.
THREADS_PER_TASK = 1


@dataclass(frozen=True)
class Task:
    """One unit of a sweep: ``fn(*args)`` once every task named in ``after`` has finished."""

    key: str
    fn: Callable[..., str]
    args: tuple = ()
    after: tuple[str, ...] = ()


def _call(fn: Callable[..., str], args: tuple, *_finished: str) -> str:
    """Runs in a Ray worker; ``_finished`` only orders this task after its dependencies."""
    import torch

    torch.set_num_threads(THREADS_PER_TASK)
    return fn(*args)


def _start(address: str | None, workers: int) -> bool:
    """Connect to (or start) Ray; True when this call started it and must shut it down."""
    import ray

    if ray.is_initialized():
        return False
    # Ray would otherwise spawn a dashboard and print a token-auth banner for a local run.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                   configure_logging=True)
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=workers, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SecateursError(f"cannot start or reach Ray at {address or 'a local instance'}: {e}") from None
    return True


def run_tasks(tasks: Sequence[Task], *, address: str | None = None, workers: int = 2,
              retries: int = RETRIES, progress: Callable[[int, int, str], None] | None = None) -> None:
    """Run ``tasks`` (dependencies before dependants) on Ray; ``progress(done, total, name)``."""
    import ray

    if workers < 1:
        raise ConfigError(f"workers must be a positive integer, not {workers!r}")
    if not tasks:
        return
    started = _start(address, workers)
    try:
        remote = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=False)(_call)
        refs: dict[str, ray.ObjectRef] = {}
        for task in tasks:
            waits = [refs[k] for k in task.after if k in refs]
            refs[task.key] = remote.remote(task.fn, task.args, *waits)
        pending = {ref: key for key, ref in refs.items()}
        done = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                pending.pop(ref)
                try:
                    name = ray.get(ref)
                except ray.exceptions.RayTaskError as e:
                    raise e.cause from None  # the task's own exception, without Ray's wrapping
                except ray.exceptions.WorkerCrashedError:
                    raise SecateursError(f"a worker died {retries + 1} times running one task; "
                                         "finished results are kept, run again to resume") from None
                done += 1
                if progress:
                    progress(done, len(tasks), name)
    finally:
        if started:
            ray.shutdown()
