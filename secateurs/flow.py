"""The flow: named, resumable steps over one frozen config, from data to a report.

train → prune → quantize → pack → rtl → simulate → power → sweep → report (:mod:`.steps`).
Each step reads what earlier steps wrote into the run folder, writes its own artifacts there
atomically and returns its summary fields. A step is skipped when its *key* — a hash of the
config values it reads and of the previous step's key — matches the one recorded in
``steps.json`` and its outputs are all present: rerunning a finished flow costs nothing, and
changing ``hardware.pes`` reruns only from the step that reads it.
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
from .errors import ConfigError

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


def step_key(step: Step, cfg: FlowConfig, previous: str) -> str:
    """Hash of what decides the step's result: its config values and everything before it."""
    identity = {"step": step.name, "previous": previous,
                "config": {k: _config_value(cfg, k) for k in step.reads}}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _recorded(out: Path) -> dict:
    try:
        return json.loads((out / STEPS_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


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

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reporter = reporter or Reporter()
    run = Run(cfg, out, Path(build_root or out / "sim" / "build"), reporter)
    atomic.write_json(out / "config.json", to_dict(cfg))
    recorded = {} if force else _recorded(out)
    summary = run.summary
    summary["name"] = cfg.name
    key = ""
    for step in steps:
        key = step_key(step, cfg, key)
        previous = recorded.get(step.name, {})
        if previous.get("key") == key and all(run.path(o).exists() for o in step.outputs):
            reporter.log(f"[{step.name}] unchanged, skipped")
            summary.update(previous["summary"])
            continue
        reporter.log(f"[{step.name}] {step.description}")
        start = time.perf_counter()
        fields = step.fn(run)
        seconds = round(time.perf_counter() - start, 2)
        summary.update(fields)
        recorded[step.name] = {"key": key, "seconds": seconds, "summary": fields}
        # Invalidate what follows: a later step's key chains through this one anyway.
        atomic.write_json(out / STEPS_FILE, recorded)
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing and until is None:
        raise AssertionError(f"the flow left summary keys unset: {missing}")
    summary["step_seconds"] = {name: r["seconds"] for name, r in recorded.items()}
    atomic.write_json(out / "summary.json", summary)
    return summary
