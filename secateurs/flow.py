"""The flow: named, resumable steps over one frozen config, from data to a report.

train → prune → quantize → pack → rtl → simulate → power → sweep → report (:mod:`.steps`).
Each step reads what earlier steps wrote into the run folder, writes its own artifacts there
atomically and returns its summary fields. A step is skipped when its *key* — a hash of the
config values it reads and of the previous step's key — matches the one recorded in
``steps.json`` and each of its outputs still has the sha256 recorded when the step wrote it:
rerunning a finished flow costs nothing, changing ``hardware.pes`` reruns only from the step
that reads it, and a truncated or deleted artifact reruns its step and every step after it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from . import atomic
from .config import FlowConfig, to_dict
from .errors import ConfigError, InputError

#: Keys of summary.json other tools rely on (DESIGN.md); the flow fails rather than omit one.
SUMMARY_KEYS = (
    "dense_accuracy", "pruned_accuracy", "quantized_accuracy", "hardware_accuracy",
    "hardware_samples", "density", "compression_ratio", "theoretical_speedup", "cycles_sparse",
    "cycles_dense", "expected_cycles_sparse", "expected_cycles_dense", "realised_speedup",
)
#: Where each step's key, timing and summary fields are recorded.
STEPS_FILE = "steps.json"


class Reporter:
    """What a step says while it runs: log lines, and progress over a known number of items.

    The default is silent; the command line passes one drawing rich progress bars.
    """

    def log(self, message: str) -> None:
        pass

    @contextlib.contextmanager
    def track(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda n=1: None


@dataclass
class Run:
    """One run folder and its config; lazily loads what earlier steps left there."""

    cfg: FlowConfig
    out: Path
    #: Where Verilator builds are cached (keyed by their parameters, so it may be shared).
    build_root: Path
    reporter: Reporter
    #: Summary fields of the steps so far (the report step reads them all).
    summary: dict = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.out / name

    @cached_property
    def data(self):
        from .sw.data import load_dataset

        return load_dataset(self.cfg.data, self.cfg.seed)

    def fresh_model(self):
        """The seeded, untrained model (every run of one config starts from the same weights)."""
        from .pipeline import fresh_model

        return fresh_model(self.cfg, self.data)

    def load_model(self, name: str):
        """A model holding the plain state_dict ``name`` (``dense.pt`` or ``model.pt``)."""
        import torch

        model = self.fresh_model()
        model.load_state_dict(torch.load(self.path(name), weights_only=True))
        return model

    def packed(self):
        from .sw.formats import container

        return container.load(self.path("model.bin"))


@dataclass(frozen=True)
class Step:
    """A named step: ``fn(run) -> summary fields``; ``reads`` are the config keys it depends on."""

    name: str
    fn: Callable[[Run], dict]
    reads: tuple[str, ...]
    outputs: tuple[str, ...]
    description: str = ""


def _config_value(cfg: FlowConfig, dotted: str) -> object:
    node: object = to_dict(cfg)
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _model_files(cfg: FlowConfig) -> dict[str, str | None]:
    """sha256 of the files the model config names (the user's model file, its checkpoint): an
    edited file reruns training as a changed config value does."""
    named = {"module": cfg.model.module and cfg.model.module.rpartition(":")[0],
             "checkpoint": cfg.model.checkpoint}
    return {k: file_hash(Path(v)) for k, v in named.items() if v and (k != "module" or v.endswith(".py"))}


def step_key(step: Step, cfg: FlowConfig, previous: str) -> str:
    """Hash of what decides the step's result: its config values (and the files the model
    config names) and everything before it."""
    identity = {"step": step.name, "previous": previous,
                "config": {k: _config_value(cfg, k) for k in step.reads}}
    if "model" in step.reads and (files := _model_files(cfg)):
        identity["files"] = files
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _recorded(out: Path) -> dict:
    """What ``steps.json`` recorded; anything unreadable or malformed counts as nothing (every
    step reruns)."""
    try:
        recorded = json.loads((out / STEPS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {k: v for k, v in recorded.items() if isinstance(v, dict)}


def file_hash(path: Path) -> str | None:
    """sha256 of the file at ``path`` (None if it is missing or not a regular file)."""
    from .inputs import problem

    if problem(path)[0]:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unchanged(run: Run, step: Step, previous: dict, key: str) -> bool:
    """Whether ``step`` may be skipped: same key, and every output present with the hash
    recorded when the step wrote it."""
    hashes = previous.get("outputs")
    if previous.get("key") != key or not isinstance(hashes, dict):
        return False
    return all(hashes.get(o) is not None and file_hash(run.path(o)) == hashes.get(o)
               for o in step.outputs)


def check_run(run_dir: str | Path) -> tuple[FlowConfig, object]:
    """``(config, packed model)`` of a run folder, every file checked before a command uses it:
    config.json a JSON object holding a valid config, model.bin valid, and its input width the
    dataset's."""
    from .config import from_dict, validate
    from .inputs import read_text
    from .sw.data import load_dataset
    from .sw.formats import container

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"run folder {str(run_dir)!r} does not exist or is not a folder")
    path = run_dir / "config.json"
    try:
        values = json.loads(read_text(path, "run config"))
    except ValueError as e:
        raise InputError(f"{str(path)!r} is not valid JSON: {e}") from None
    if not isinstance(values, dict):
        raise InputError(f"{str(path)!r} must hold a JSON object (the run's config), not "
                         f"{type(values).__name__}")
    cfg = from_dict(FlowConfig, values)
    validate(cfg)
    packed = container.load(run_dir / "model.bin")
    features = load_dataset(cfg.data, cfg.seed).features
    if packed.model.layers[0].in_features != features:
        raise InputError(f"{str(run_dir / 'model.bin')!r} takes {packed.model.layers[0].in_features} "
                         f"inputs but the run's dataset {cfg.data.dataset!r} has {features}")
    return cfg, packed


def run_flow(cfg: FlowConfig, out: str | Path, reporter: Reporter | None = None,
             build_root: str | Path | None = None, force: bool = False,
             until: str | None = None) -> dict:
    """Run (or resume) every step into ``out``; returns and writes ``summary.json``.

    ``build_root`` defaults to ``out/sim/build``; point several runs at one folder to share
    Verilator builds. ``force`` reruns every step; ``until`` stops after the named step (the
    summary then lacks the later steps' keys).
    """
    from .steps import STEPS

    names = [s.name for s in STEPS]
    if until is not None and until not in names:
        raise ConfigError(f"unknown step {until!r}; valid: {', '.join(names)}")
    steps = STEPS[:names.index(until) + 1] if until else STEPS

    from .outdir import claim_dir
    from .pipeline import checked_model
    from .sw.data import load_dataset

    data = load_dataset(cfg.data, cfg.seed)
    checked_model(cfg, data)  # an op the hardware cannot run is refused before any step
    created = not Path(out).exists()
    # A foreign non-empty folder is refused; a run folder of a version before manifests is adopted.
    out = claim_dir(out, "flow", "run folder", legacy=(STEPS_FILE, "config.json", "summary.json"))
    try:
        return _run_steps(cfg, out, steps, reporter, build_root, force, until, data)
    except BaseException:
        if created and not (out / STEPS_FILE).exists():
            _unclaim(out)  # failed before any step finished: leave no folder behind
        raise


def _unclaim(out: Path) -> None:
    """Remove the files a flow writes before its first step, and ``out`` if that empties it."""
    import contextlib

    from .outdir import MANIFEST

    for name in (MANIFEST, "config.json"):
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    with contextlib.suppress(OSError):
        out.rmdir()


def _run_steps(cfg: FlowConfig, out: Path, steps, reporter, build_root, force, until,
               data) -> dict:
    reporter = reporter or Reporter()
    run = Run(cfg, out, Path(build_root or out / "sim" / "build"), reporter)
    run.data = data  # loaded once, for the model check and every step
    atomic.write_json(out / "config.json", to_dict(cfg))
    recorded = {} if force else _recorded(out)
    summary = run.summary
    summary["name"] = cfg.name
    key, rerun = "", False
    for step in steps:
        key = step_key(step, cfg, key)
        previous = recorded.get(step.name, {})
        if not rerun and _unchanged(run, step, previous, key) and isinstance(
                previous.get("summary"), dict):
            reporter.log(f"[{step.name}] unchanged, skipped")
            summary.update(previous["summary"])
            continue
        rerun = True  # this step's artifacts change: every later step reads them
        reporter.log(f"[{step.name}] {step.description}")
        start = time.perf_counter()
        fields = step.fn(run)
        seconds = round(time.perf_counter() - start, 2)
        summary.update(fields)
        hashes = {o: file_hash(run.path(o)) for o in step.outputs}
        recorded[step.name] = {"key": key, "seconds": seconds, "summary": fields,
                               "outputs": hashes}
        atomic.write_json(out / STEPS_FILE, recorded)
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing and until is None:
        raise AssertionError(f"the flow left summary keys unset: {missing}")
    summary["step_seconds"] = {name: r.get("seconds") for name, r in recorded.items()}
    atomic.write_json(out / "summary.json", summary)
    return summary
