"""Simulation benchmark: RTL inference speed, and energy and toggles per inference by density.

For each weight density the default digits MLP is trained, pruned, quantized and packed (seeded,
with the sw API), then ``simulate`` runs the whole test split on the sparse and dense RTL with
every check on. At the default density the same builds also run beside the naive driver that
steps every clock edge in Python, so the two speeds come from one machine in one run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from secateurs import atomic, config
from secateurs.sim.designs import KINDS, build_design
from secateurs.sim.inference import load_run, simulate
from secateurs.sw import prune
from secateurs.sw.data import load_dataset
from secateurs.sw.formats import container
from secateurs.sw.models import build_model
from secateurs.sw.prune.retrain import Recipe, prune_and_retrain
from secateurs.sw.quantize import quantize
from secateurs.sw.reference import quantize_input
from secateurs.sw.train import train

from .sections import write_section

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "digits_mlp.toml"
OUT = ROOT / "runs" / "bench" / "simulation"
#: Weight densities of the energy table (the issue's list).
DENSITIES = (1.0, 0.5, 0.25, 0.1, 0.05)
#: Density at which the fast and the per-cycle drivers are compared (the default config's).
SPEED_DENSITY = 0.1
#: Inferences each driver runs in the speed comparison (the naive one is ~20x slower).
SPEED_SAMPLES = 100


def _model(density: float) -> Path:
    """Train, prune, quantize and pack the default MLP at ``density``; returns its run folder."""
    out = OUT / f"density-{density:g}"
    if (out / "model.bin").exists() and (out / "config.json").exists():
        return out
    cfg = config.load(CONFIG, [f"prune.density={density}"])
    data = load_dataset(cfg.data, cfg.seed)
    model = build_model(cfg.model, data.features, data.classes, cfg.seed)
    train(model, data, epochs=cfg.train.epochs, lr=cfg.train.lr,
          weight_decay=cfg.train.weight_decay, batch_size=cfg.train.batch_size, seed=cfg.seed)
    recipe = Recipe(epochs=cfg.train.epochs, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                    batch_size=cfg.train.batch_size)
    prune_and_retrain(model, data, cfg.prune, recipe, seed=cfg.seed, pes=cfg.hardware.pes)
    prune.squash(prune.prunable(model))
    quantized = quantize(model, data, cfg.quant, seed=cfg.seed, batch_size=cfg.train.batch_size)
    index_bits = cfg.pack.index_bits or container.common_index_bits(quantized.model,
                                                                    pes=cfg.hardware.pes)
    out.mkdir(parents=True, exist_ok=True)
    container.save(out / "model.bin", quantized.model, pes=cfg.hardware.pes, index_bits=index_bits,
                   fmt=cfg.pack.format)
    atomic.write_json(out / "config.json", config.to_dict(cfg))
    return out


def _speed(run_dir: Path, build_root: Path) -> list[dict]:
    """Simulated cycles per wall second, awaiting ``done`` vs stepping every edge in Python."""
    cfg, packed = load_run(run_dir)
    test = load_dataset(cfg.data, cfg.seed).test
    x = quantize_input(test.x[:SPEED_SAMPLES], packed.model.input_scale).astype(np.int64)
    rows = []
    for kind in KINDS:
        design = build_design(packed, kind=kind, hw=cfg.hardware, build_root=build_root)
        for driver, per_cycle in (("await done (fast)", False), ("every edge (naive)", True)):
            r = design.run(x, per_cycle=per_cycle)
            rows.append({"kind": kind, "driver": driver,
                         "run_rate": r.counters["cycles"].sum() / r.seconds.sum(),
                         "overall_rate": r.total_cycles / r.total_seconds,
                         "cycles": r.total_cycles, "seconds": r.total_seconds})
    return rows


def _markdown(speed: list[dict], results: dict[float, dict], walls: dict[float, float],
              load: float) -> str:
    s = results.get(SPEED_DENSITY, next(iter(results.values())))
    lines = [
        "## Simulation: RTL inference speed, energy and toggles",
        "",
        f"`python -m bench simulation` on {os.cpu_count()} cores (load average {load:.1f} at "
        f"the start, shared machine). Whole-network accelerator (P = {s['pes']}, "
        f"D = {s['queue_depth']}) under Verilator, clock generated in a Verilog wrapper "
        f"(`--timing`), builds at `-O2`; every inference checked bit-exact (logits, class), cycles "
        f"== cycle model, and the MAC, weight-read, accumulator-update, queue-push, drain and "
        f"activation-write counters == the counts the integer reference predicts.",
        "",
        f"### Simulated cycles per wall second (density {SPEED_DENSITY:g}, {SPEED_SAMPLES} "
        f"inferences, same build)",
        "",
        "| design | driver | while running (start → done) | whole simulation (incl. input "
        "streaming, logit reads) |",
        "|---|---|---:|---:|",
    ]
    if not speed:
        lines.append(f"| (measured once density {SPEED_DENSITY:g} has run) | | | |")
    for r in speed:
        lines.append(f"| {r['kind']} | {r['driver']} | {r['run_rate'] / 1e6:.2f} M/s | "
                     f"{r['overall_rate'] / 1e6:.2f} M/s |")
    lines += [
        "",
        "### Whole test split on the RTL (sparse and dense, all checks)",
        "",
        "| density | images | sparse run (s) | dense run (s) | `simulate` total (s, builds and "
        "SAIF runs included) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for d, r in results.items():
        lines.append(f"| {d:g} | {r['samples']} | {r['sparse']['wall_seconds']:.1f} | "
                     f"{r['dense']['wall_seconds']:.1f} | {walls[d]:.0f} |")
    lines += [
        "",
        "### Per inference, sparse vs dense, by weight density",
        "",
        "Energy = hardware event counters × the 45 nm table (`sim/energy_45nm.toml`, Horowitz "
        "ISSCC 2014); toggles = SAIF toggle counts of the inferences (clock nets left out).",
        "",
        "| density | accuracy (HW) | cycles sparse | cycles dense | realised / theoretical speedup"
        " | MACs | pJ sparse | pJ dense | toggles sparse | toggles dense | α sparse | α dense |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d, r in results.items():
        sp, de = r["sparse"], r["dense"]
        lines.append(
            f"| {d:g} | {r['hardware_accuracy']:.3f} | {sp['cycles']['mean']:.0f} | "
            f"{de['cycles']['mean']:.0f} | {r['realised_speedup']:.2f}× / "
            f"{r['theoretical_speedup']:.2f}× | {sp['events']['macs']:.0f} | "
            f"{sp['energy_pj']['total']:.0f} | {de['energy_pj']['total']:.0f} | "
            f"{sp['toggles']['per_inference']:.0f} | {de['toggles']['per_inference']:.0f} | "
            f"{sp['toggles']['alpha']:.4f} | {de['toggles']['alpha']:.4f} |")
    shown = next(d for d, r in results.items() if r is s)
    lines += ["", f"Energy by event at density {shown:g} (pJ per inference):", "",
              "| event | sparse | dense |", "|---|---:|---:|"]
    for name in s["sparse"]["energy_pj"]["by_event"]:
        lines.append(f"| {name} | {s['sparse']['energy_pj']['by_event'][name]:.0f} | "
                     f"{s['dense']['energy_pj']['by_event'][name]:.0f} |")
    lines += ["", f"Toggles by block at density {shown:g} (per inference):", "",
              "| block | sparse | dense |", "|---|---:|---:|"]
    for name in s["sparse"]["toggles"]["by_block"]:
        lines.append(f"| {name} | {s['sparse']['toggles']['by_block'][name]['toggles']:.0f} | "
                     f"{s['dense']['toggles']['by_block'][name]['toggles']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    """Each density's results are written as they come, so an interrupted run leaves a section."""
    load = os.getloadavg()[0]
    build_root = OUT / "build"
    results, walls, speed = {}, {}, []
    for density in DENSITIES:
        run_dir = _model(density)
        began = time.perf_counter()
        results[density] = simulate(run_dir, build_root=build_root,
                                    log=lambda m: print(m, flush=True))
        walls[density] = time.perf_counter() - began
        print(f"[simulation] density {density:g}: {walls[density]:.0f} s", flush=True)
        if density == SPEED_DENSITY:
            speed = _speed(run_dir, build_root)
        write_section("simulation", _markdown(speed, results, walls, load))
