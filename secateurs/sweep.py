"""ShrinkBench-style sweeps: models × strategies × compressions × seeds, on Ray, resumable.

Each (model, seed) is trained dense once; every run then prunes a copy of it to density 1/c by one
strategy (a partial ``[prune]`` table), retrains, and writes its own result file atomically. A
result whose recorded config matches is never run again, so an interrupted sweep resumes where
it stopped. ``sweep_report`` turns the results into the CSV, the figures and the table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import atomic
from .config import (DataConfig, ModelConfig, PruneConfig, TrainConfig, apply_overrides, from_dict,
                     read_toml, to_dict, validate_data, validate_model, validate_prune,
                     validate_train)
from .distributed import Task, run_tasks
from .errors import ConfigError


@dataclass(frozen=True)
class SweepSettings:
    #: Name of the sweep; results go to ``runs/<name>/`` unless ``--out`` says otherwise.
    name: str = "sweep"
    #: Seeds of data split, initialisation and shuffling; each is a separate dense model.
    seeds: tuple[int, ...] = (0, 1, 2)
    #: Compression targets c: every strategy prunes the prunable weights to density 1/c.
    compressions: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
    #: CPUs of the local Ray (one single-threaded task each); ignored with ``--address``.
    workers: int = 2
    data: DataConfig = field(default_factory=DataConfig)
    #: How each dense model is trained (rewinding replays it).
    train: TrainConfig = field(default_factory=TrainConfig)
    #: ``[prune]`` fields every strategy starts from.
    prune: PruneConfig = field(default_factory=PruneConfig)


@dataclass(frozen=True)
class SweepConfig:
    settings: SweepSettings
    #: Models by label, e.g. "mlp", "cnn".
    models: dict[str, ModelConfig]
    #: Strategies by label: ``settings.prune`` with the strategy's own fields on top.
    strategies: dict[str, PruneConfig]


def load_sweep(path: str | Path, overrides=(), data_dir: str | None = None) -> SweepConfig:
    """Read a sweep TOML: top-level settings, ``[models.LABEL]`` and ``[strategies.LABEL]`` tables."""
    values = apply_overrides(read_toml(path, "sweep config"), overrides)
    if data_dir is not None:
        values.setdefault("data", {}).update(dataset="mnist", data_dir=str(data_dir))
    models = values.pop("models", None)
    strategies = values.pop("strategies", None)
    for key, table in (("models", models), ("strategies", strategies)):
        if not isinstance(table, dict) or not table or not all(isinstance(v, dict) for v in table.values()):
            raise ConfigError(f"sweep config needs [{key}.LABEL] tables")
    settings = from_dict(SweepSettings, values)
    base = to_dict(settings.prune)
    config = SweepConfig(
        settings=settings,
        models={label: from_dict(ModelConfig, t, f"models.{label}") for label, t in models.items()},
        strategies={label: from_dict(PruneConfig, {**base, **t}, f"strategies.{label}")
                    for label, t in strategies.items()})
    validate_sweep(config)
    return config


def validate_sweep(config: SweepConfig) -> None:
    from .config import check_name, check_seed

    s = config.settings
    check_name(s.name)
    for seed in s.seeds:
        check_seed(seed, "seeds")
    for label in (*config.models, *config.strategies):
        check_name(label, f"label {label!r}")
    if not s.seeds or not s.compressions:
        raise ConfigError("a sweep needs at least one seed and one compression")
    if any(c < 1 for c in s.compressions):
        raise ConfigError(f"compressions must be >= 1 (density 1/c), not {s.compressions!r}")
    if s.workers < 1:
        raise ConfigError(f"workers must be a positive integer, not {s.workers!r}")
    validate_train(s.train)
    validate_data(s.data)
    for model in config.models.values():
        validate_model(model)
    for label, strategy in config.strategies.items():
        for c in s.compressions:
            try:
                validate_prune(dataclasses.replace(strategy, density=1.0 / c))
            except ConfigError as e:
                raise ConfigError(f"strategy {label!r} at compression {c:g}: {e}") from None


@dataclass(frozen=True)
class DenseTask:
    model_label: str
    seed: int
    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    rewind_epoch: int
    path: Path


@dataclass(frozen=True)
class RunTask:
    model_label: str
    strategy: str
    compression: float
    seed: int
    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    prune: PruneConfig
    dense_path: Path
    path: Path

    def record(self) -> dict:
        """Every config field of the run, flattened to ``section.key`` columns."""
        row = {"model_label": self.model_label, "strategy": self.strategy,
               "compression": self.compression, "seed": self.seed}
        for section, value in (("model", self.model), ("data", self.data), ("train", self.train),
                               ("prune", self.prune)):
            for key, v in to_dict(value).items():
                row[f"{section}.{key}"] = json.dumps(v) if isinstance(v, (list, dict)) else v
        return row


def _fingerprint(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _dense_fingerprint(task: DenseTask) -> str:
    return _fingerprint({"model": to_dict(task.model), "data": to_dict(task.data),
                         "train": to_dict(task.train), "rewind_epoch": task.rewind_epoch,
                         "seed": task.seed})


def plan(config: SweepConfig, out: Path) -> tuple[list[DenseTask], list[RunTask]]:
    """The dense trainings and the pruning runs of a sweep, in a stable order."""
    s = config.settings
    rewind_epochs = {p.rewind_epoch for p in config.strategies.values()}
    if len(rewind_epochs) > 1:
        raise ConfigError(f"every strategy of a sweep must share prune.rewind_epoch, not {sorted(rewind_epochs)}")
    rewind_epoch = rewind_epochs.pop()
    dense, runs = [], []
    for label, model in config.models.items():
        for seed in s.seeds:
            task = DenseTask(label, seed, model, s.data, s.train, rewind_epoch,
                             out / "dense" / f"{label}-s{seed}.pt")
            dense.append(task)
            for strategy, prune in config.strategies.items():
                for c in s.compressions:
                    runs.append(RunTask(label, strategy, c, seed, model, s.data, s.train,
                                        dataclasses.replace(prune, density=1.0 / c), task.path,
                                        out / "results" / f"{label}-{strategy}-c{c:g}-s{seed}.json"))
    return dense, runs


def _dense_done(task: DenseTask) -> bool:
    import torch

    if not task.path.exists():
        return False
    saved = torch.load(task.path, weights_only=True)
    return saved.get("fingerprint") == _dense_fingerprint(task)


def run_dense(task: DenseTask) -> str:
    """Train one dense model; save its weights, W_0, W_k and test accuracy."""
    import torch

    from .sw.data import load_dataset
    from .sw.models import build_model
    from .sw.prune.retrain import train_dense
    from .sw.train import accuracy, top_k_accuracy

    data = load_dataset(task.data, task.seed)
    model = build_model(task.model, data.image_shape, data.classes, task.seed)
    run = train_dense(model, data, task.train, seed=task.seed, rewind_epoch=task.rewind_epoch)
    buffer = io.BytesIO()
    torch.save({"fingerprint": _dense_fingerprint(task), "state": model.state_dict(),
                "init": run.init, "rewind": run.rewind, "accuracy": accuracy(model, data.test),
                "top5": top_k_accuracy(model, data.test, 5)}, buffer)
    atomic.write_bytes(task.path, buffer.getvalue())
    return task.path.name


def _run_done(task: RunTask) -> bool:
    if not task.path.exists():
        return False
    try:
        return json.loads(task.path.read_text()).get("config") == task.record()
    except json.JSONDecodeError:
        return False


def run_one(task: RunTask) -> str:
    """Prune a copy of the dense model by one strategy, retrain, measure; write the result file."""
    import torch

    from .sw import metrics
    from .sw.data import load_dataset
    from .sw.models import build_model
    from .sw.prune import prunable, squash
    from .sw.prune.retrain import prune_and_retrain
    from .sw.train import accuracy, top_k_accuracy

    start = time.perf_counter()
    data = load_dataset(task.data, task.seed)
    dense = torch.load(task.dense_path, weights_only=True)
    model = build_model(task.model, data.image_shape, data.classes, task.seed)
    model.load_state_dict(dense["state"])
    init = {name: dense["init"][f"{name}.weight"] for name in prunable(model)}
    result = prune_and_retrain(model, data, task.prune, task.train, seed=task.seed, init=init,
                               rewind=dense["rewind"])
    squash(prunable(model))
    counts = metrics.parameter_counts(model)
    dense_macs, remaining_macs = metrics.macs(model, data.image_shape)
    classifier = list(prunable(model).values())[-1]
    # A class whose logit no longer depends on the input is never predicted.
    reachable = int(metrics.live_weights(model)[classifier].any(1).sum())
    dense_bits = metrics.model_storage_bits(model, "dense")
    values = {
        "dense_accuracy": dense["accuracy"], "dense_top5": dense["top5"],
        "accuracy": accuracy(model, data.test), "top5": top_k_accuracy(model, data.test, 5),
        "val_accuracy": result.val_accuracy[-1],
        "density": counts["weights_nonzero"] / counts["weights"], **counts,
        "compression_ratio": counts["params"] / max(counts["params_nonzero"], 1),
        "macs_dense": dense_macs, "macs_remaining": remaining_macs,
        "theoretical_speedup": dense_macs / max(remaining_macs, 1),
        "classes_reachable": reachable,
        "storage_bits_dense": dense_bits,
    }
    for fmt in ("bitmap", "csr", "relative"):
        bits = metrics.model_storage_bits(model, fmt)
        values[f"storage_bits_{fmt}"] = bits
        values[f"storage_compression_{fmt}"] = dense_bits / bits
    values["seconds"] = round(time.perf_counter() - start, 3)
    atomic.write_json(task.path, {"config": task.record(), "metrics": values})
    return task.path.name


def run_sweep(config: SweepConfig, out: str | Path, *, workers: int | None = None,
              address: str | None = None,
              progress: Callable[[int, int, str], None] | None = None) -> list[dict]:
    """Run every unfinished task of the sweep on Ray; returns one row (config + metrics) per run.

    ``address`` names an existing Ray cluster (default: a local Ray of ``workers`` CPUs).
    ``progress(done, total, name)`` is called as tasks finish (``name`` empty at the start).
    """
    out = Path(out)
    dense, runs = plan(config, out)
    todo = [Task(str(t.path), run_dense, (t,)) for t in dense if not _dense_done(t)]
    todo += [Task(str(r.path), run_one, (r,), after=(str(r.dense_path),))
             for r in runs if not _run_done(r)]
    start = time.perf_counter()
    if progress:
        progress(0, len(todo), "")
    n = workers or config.settings.workers
    run_tasks(todo, address=address, workers=n, progress=progress)
    rows = [_row(r) for r in runs]
    atomic.write_json(out / "sweep.json", {"runs": len(runs), "ran": len(todo),
                                           "seconds": round(time.perf_counter() - start, 1),
                                           "workers": n, "ray_address": address or "local"})
    return rows


def _row(task: RunTask) -> dict:
    saved = json.loads(task.path.read_text())
    return {**saved["config"], **saved["metrics"]}
