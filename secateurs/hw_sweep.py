"""Hardware sweeps: density × structure × P × D × format, on Ray, resumable.

A *model point* (seed, density, structure, P, format) runs the flow's steps up to ``pack`` in
its own folder; every queue depth D is then evaluated on that model.bin by the exact cycle
model over the whole test split, and, with ``rtl_samples``, proved on the sparse RTL
(logits bit-exact, cycles equal to the model). Each point writes its rows atomically; a point
whose recorded config matches is never run again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import atomic, config
from .config import FlowConfig
from .distributed import Task, run_tasks
from .errors import ConfigError

#: N:M patterns the hardware reads (M up to 16); a density gets the pattern nearest to it.
NM_PATTERNS = ((2, 4), (1, 4), (1, 8), (1, 10), (1, 16))
#: Sweep structures that are a pruning structure packed a particular way.
PACKED_STRUCTURES = {"rows_balanced": {"prune.structure": "unstructured", "pack.balance_rows": True}}


def nm_pattern(density: float) -> tuple[int, int]:
    """The N:M pattern whose N / M is nearest to ``density`` (0.05 → 1:16, i.e. 0.0625)."""
    return min(NM_PATTERNS, key=lambda nm: abs(nm[0] / nm[1] - density))


#: Weight formats of a point: the flow's ``[pack]`` and ``[quant]`` settings they stand for.
FORMATS = {
    "csc": {"pack.format": "csc"},
    "csc_codebook": {"pack.format": "csc", "quant.codebook_bits": 4},
    "nm": {"pack.format": "nm"},
}


@dataclass(frozen=True)
class HardwareSweep:
    #: Name of the sweep; results go to ``runs/<name>/`` unless ``--out`` says otherwise.
    name: str = "hardware_sweep"
    #: Marks a hardware sweep config (``secateurs sweep`` reads both kinds).
    kind: str = "hardware"
    #: Seeds: each one trains its own dense model.
    seeds: tuple[int, ...] = (0,)
    #: Weight densities after pruning.
    densities: tuple[float, ...] = (0.5, 0.25, 0.1, 0.05)
    #: ``prune.structure`` of each point; "nm" uses the N:M pattern nearest the density;
    #: "rows_balanced" is unstructured pruning packed with the hidden neurons renumbered to
    #: balance the PEs (``pack.balance_rows``).
    structures: tuple[str, ...] = ("unstructured", "rows_balanced", "pe_balanced", "nm")
    #: Processing elements.
    pes: tuple[int, ...] = (4, 8)
    #: Activation queue depths.
    queue_depths: tuple[int, ...] = (1, 2, 4, 8)
    #: Weight formats: "csc" (int8), "csc_codebook" (4-bit k-means codes); N:M structure → "nm".
    formats: tuple[str, ...] = ("csc",)
    #: Test images each point also runs on the sparse RTL (0: cycle model only; it is exact).
    rtl_samples: int = 0
    #: CPUs of the local Ray; ignored with ``--address``.
    workers: int = 2
    #: Flow config overrides every point starts from, e.g. ``"train.epochs=30"``.
    base: tuple[str, ...] = ()


@dataclass(frozen=True)
class Point:
    seed: int
    density: float
    structure: str
    pes: int
    format: str
    queue_depths: tuple[int, ...]
    rtl_samples: int
    overrides: tuple[str, ...]
    folder: Path

    @property
    def label(self) -> str:
        return f"{self.structure}-d{self.density:g}-p{self.pes}-{self.format}-s{self.seed}"

    @property
    def result(self) -> Path:
        return self.folder.parent.parent / "results" / f"{self.label}.json"

    def flow_config(self) -> FlowConfig:
        return config.load(None, self.overrides)

    def record(self) -> dict:
        return {"seed": self.seed, "density": self.density, "structure": self.structure,
                "pes": self.pes, "format": self.format, "queue_depths": list(self.queue_depths),
                "rtl_samples": self.rtl_samples, "overrides": list(self.overrides)}


def is_hardware_sweep(path: str | Path) -> bool:
    """Whether the sweep config at ``path`` says ``kind = "hardware"``."""
    try:
        return config.read_toml(path, "sweep config").get("kind") == "hardware"
    except ConfigError:
        return False  # the pruning sweep's loader reports the problem


def load_hardware_sweep(path: str | Path, overrides=()) -> HardwareSweep:
    values = config.read_toml(path, "sweep config")
    sweep = config.from_dict(HardwareSweep, config.apply_overrides(values, overrides))
    validate_hardware_sweep(sweep)
    for point in plan(sweep, Path("runs") / sweep.name):
        point.flow_config()  # every point's config is checked before anything runs
    return sweep


def validate_hardware_sweep(sweep: HardwareSweep) -> None:
    """Ranges of the sweep's own fields (each point's flow config is checked on top)."""
    from .hw import params

    config.check_name(sweep.name)
    for key in ("seeds", "densities", "structures", "pes", "queue_depths", "formats"):
        if not getattr(sweep, key):
            raise ConfigError(f"{key} must list at least one value")
    for seed in sweep.seeds:
        config.check_seed(seed, "seeds")
    for depth in sweep.queue_depths:
        config._check("queue_depths", params.check_queue_depth, depth)
    for pes in sweep.pes:
        config._check("pes", params.check_pes, pes)
    if sweep.rtl_samples < 0 or sweep.workers < 1:
        raise ConfigError(f"rtl_samples must be >= 0 and workers >= 1, not {sweep.rtl_samples} "
                          f"and {sweep.workers}")
    if any(not 0 < d <= 1 for d in sweep.densities):
        raise ConfigError(f"densities must be in (0, 1], not {sweep.densities!r}")
    unknown = set(sweep.formats) - set(FORMATS) | ({"nm"} & set(sweep.formats))
    if unknown:
        raise ConfigError(f"unknown sweep formats {sorted(unknown)}; valid: csc, csc_codebook "
                          "(the nm structure always packs as nm)")


def _point_overrides(sweep: HardwareSweep, seed: int, d: float, structure: str, pes: int,
                     fmt: str) -> tuple[str, ...]:
    settings = {"seed": seed, "prune.density": d, "prune.structure": structure,
                "hardware.pes": pes, **FORMATS[fmt], **PACKED_STRUCTURES.get(structure, {})}
    if structure == "nm":
        n, m = nm_pattern(d)
        settings.update({"prune.n": n, "prune.m": m, "prune.density": n / m})
    return (*sweep.base, *(f"{k}={json.dumps(v)}" for k, v in settings.items()))


def plan(sweep: HardwareSweep, out: Path) -> list[Point]:
    points = []
    for seed in sweep.seeds:
        for d in sweep.densities:
            for structure in sweep.structures:
                for pes in sweep.pes:
                    for fmt in ("nm",) if structure == "nm" else sweep.formats:
                        label = f"{structure}-d{d:g}-p{pes}-{fmt}-s{seed}"
                        points.append(Point(seed, d, structure, pes, fmt, sweep.queue_depths,
                                            sweep.rtl_samples,
                                            _point_overrides(sweep, seed, d, structure, pes, fmt),
                                            out / "points" / label))
    return points


def _done(point: Point) -> bool:
    try:
        return json.loads(point.result.read_text())["config"] == point.record()
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return False


def useful_macs(model, x: np.ndarray) -> np.ndarray:
    """Per inference: pairs of a nonzero weight and a nonzero activation, over all layers."""
    from .sw.reference import forward

    activations = [x, *forward(model, x)[:-1]]
    return sum((a != 0).astype(np.int64) @ (q.weight != 0).sum(axis=0)
               for q, a in zip(model.layers, activations))


def _efficiency(packed, x: np.ndarray, compute: np.ndarray) -> np.ndarray:
    """η = ⌈useful MACs / P⌉ ÷ compute cycles, per inference (EIE's load-balance measure)."""
    return np.ceil(useful_macs(packed.model, x) / packed.pes) / compute.sum(axis=0)


def run_point(point: Point, build_root: str) -> str:
    """Prune → quantize → pack one model, then every queue depth by the model (and the RTL)."""
    from .flow import run_flow
    from .sim.network import build_accelerator
    from .sim.tb.scoreboard import Scoreboard
    from .sw import metrics
    from .sw.cycles import network_cycles
    from .sw.data import load_dataset
    from .sw.formats import container
    from .sw.reference import quantize_input

    start = time.perf_counter()
    cfg = point.flow_config()
    summary = run_flow(cfg, point.folder, until="pack")
    packed = container.load(point.folder / "model.bin")
    test = load_dataset(cfg.data, cfg.seed).test
    x = quantize_input(test.x.reshape(len(test), -1), packed.model.input_scale).astype(np.int64)
    dense = network_cycles(packed, x, queue_depth=1, array="dense")
    rows = []
    for depth in point.queue_depths:
        model = network_cycles(packed, x, queue_depth=depth, array="sparse")
        row = {k: v for k, v in point.record().items() if k not in ("queue_depths", "overrides")}
        row.update({"queue_depth": depth,
               "accuracy": summary["quantized_accuracy"],
               "measured_density": metrics.density(packed.model.layers),
               "compression_ratio": summary["compression_ratio"],
               "theoretical_speedup": summary["theoretical_speedup"],
               "cycles_sparse": float(model.total.mean()), "cycles_dense": float(dense.total.mean()),
               "compute_cycles_sparse": float(model.compute.sum(axis=0).mean()),
               "compute_cycles_dense": float(dense.compute.sum(axis=0).mean()),
               "realised_speedup": float(dense.total.sum() / model.total.sum()),
               "efficiency": float(_efficiency(packed, x, model.compute).mean()),
               "rtl_checked": 0})
        if point.rtl_samples:
            hw = dataclasses.replace(cfg.hardware, queue_depth=depth)
            n = min(point.rtl_samples, len(x))
            ran = build_accelerator(packed, kind="sparse", hw=hw, build_root=build_root).run(packed, x[:n])
            board = Scoreboard(packed, x[:n], test.y[:n])
            board.check_logits(point.label, ran.logits, ran.predicted)
            board.check_cycles(point.label, ran.counters["cycles"], model.total[:n])
            row["rtl_checked"] = n
        rows.append(row)
    atomic.write_json(point.result, {"config": point.record(), "rows": rows,
                                     "seconds": round(time.perf_counter() - start, 2)})
    return point.result.name


def run_hardware_sweep(sweep: HardwareSweep, out: str | Path, *, workers: int | None = None,
                       address: str | None = None,
                       progress: Callable[[int, int, str], None] | None = None) -> list[dict]:
    """Run every unfinished point on Ray; returns one row per (point, queue depth)."""
    out = Path(out)
    points = plan(sweep, out)
    build_root = str((out / "build").resolve())
    todo = [Task(p.label, run_point, (p, build_root)) for p in points if not _done(p)]
    if progress:
        progress(0, len(todo), "")
    run_tasks(todo, address=address, workers=workers or sweep.workers, progress=progress)
    return [row for p in points for row in json.loads(p.result.read_text())["rows"]]


def hardware_figures(rows: list[dict], out: str | Path) -> list[Path]:
    """Realised vs ideal speedup per structure (largest P and D), and η against D."""
    from . import plots

    out = Path(out)
    p, d = max(r["pes"] for r in rows), max(r["queue_depth"] for r in rows)
    chosen = [r for r in rows if r["pes"] == p and r["queue_depth"] == d and r["format"] != "csc_codebook"]
    paths = []
    png = plots.speedup_by_structure(chosen, title=f"Realised vs ideal speedup (P = {p}, D = {d})")
    paths.append(out / "realised_vs_ideal.png")
    atomic.write_bytes(paths[-1], png)
    at_p = [r for r in rows if r["pes"] == p and r["format"] != "csc_codebook"]
    png = plots.efficiency_vs_depth(at_p, title=f"Load-balance efficiency η (P = {p})")
    paths.append(out / "efficiency_vs_depth.png")
    atomic.write_bytes(paths[-1], png)
    return paths
