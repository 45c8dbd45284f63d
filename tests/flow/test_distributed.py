"""Sweeps on a local Ray: same results as sequential runs; a killed worker's task is re-run."""

import json
import os
import sys
from pathlib import Path

import pytest
import ray.cloudpickle

from secateurs.distributed import Task, run_tasks
from secateurs.errors import ConfigError
from secateurs.sweep import load_sweep, plan, run_dense, run_one, run_sweep
from tests.flow.test_sweep import TINY

# Workers unpickle these helpers by value: the tests package need not be importable there.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _metrics_without_timing(path: Path) -> dict:
    saved = json.loads(path.read_text())
    saved["metrics"].pop("seconds")
    return saved


def test_ray_sweep_equals_the_same_runs_done_sequentially(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    cfg = load_sweep(tmp_path / "tiny.toml")
    run_sweep(cfg, tmp_path / "ray")
    dense, runs = plan(cfg, tmp_path / "sequential")
    for task in dense:
        run_dense(task)
    for task in runs:
        run_one(task)
    ray_results = sorted((tmp_path / "ray" / "results").glob("*.json"))
    assert [p.name for p in ray_results] == sorted(p.name for p in (tmp_path / "sequential" / "results").glob("*.json"))
    assert len(ray_results) == 4
    for path in ray_results:
        assert _metrics_without_timing(path) == _metrics_without_timing(tmp_path / "sequential" / "results" / path.name)


def _dies_once(marker: str, result: str) -> str:
    """Kills its own worker process the first time, as a crash or an OOM kill would."""
    if not os.path.exists(marker):
        Path(marker).write_text("died once")
        os._exit(1)
    Path(result).write_text("done")
    return Path(result).name


def _needs(first: str, result: str) -> str:
    assert Path(first).read_text() == "done", "ran before its dependency finished"
    Path(result).write_text("done")
    return Path(result).name


def _raises() -> str:
    raise ConfigError("bad strategy in this task")


def test_a_killed_worker_is_retried_and_dependants_wait(tmp_path):
    marker, first, second = (str(tmp_path / n) for n in ("marker", "first", "second"))
    seen = []
    run_tasks([Task("first", _dies_once, (marker, first)),
               Task("second", _needs, (first, second), after=("first",))],
              workers=2, progress=lambda done, total, name: seen.append((done, name)))
    assert Path(marker).exists() and Path(second).read_text() == "done"
    assert seen == [(1, "first"), (2, "second")]


def test_a_task_that_raises_stops_the_run_with_its_own_error():
    with pytest.raises(ConfigError, match="bad strategy"):
        run_tasks([Task("bad", _raises)], workers=1)
