"""Simulation benchmark: RTL inference speed, and energy and toggles per inference by density.

For each weight density the default digits MLP is trained, pruned, quantized and packed (seeded,
by the flow's steps), then ``simulate`` runs the whole test split on the sparse and dense RTL with
every check on. At the default density the same builds also run the split with each driver —
the Verilog feeder, Python per inference, Python per clock edge — interleaved and repeated, so
the speeds come from one machine in one run.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from secateurs import config
from secateurs.flow import run_flow
from secateurs.hw.build.export import export_verilog
from secateurs.sim.inference import load_run, simulate
from secateurs.sim.feeder import fed_wrapper
from secateurs.sim.network import COUNTERS, DRIVERS, KINDS, build_accelerator
from secateurs.sim.tb.scoreboard import Scoreboard
from secateurs.sw.data import load_dataset
from secateurs.sw.reference import quantize_input

from .harness.cpp import build_harness, build_wrapper_harness
from .sections import write_section

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "digits_mlp.toml"
OUT = ROOT / "runs" / "bench" / "simulation"
#: Weight densities of the energy table (the issue's list).
DENSITIES = (1.0, 0.5, 0.25, 0.1, 0.05)
#: Density at which the drivers are compared (the default config's).
SPEED_DENSITY = 0.1
#: Runs of each driver, interleaved; the median is reported (the machine is shared and noisy).
SPEED_REPEATS = 3
#: What each driver costs Python per inference, for the table.
AWAITS = {"feeder": "none (one per batch)", "per_inference": "one per input value, one for done",
          "per_cycle": "one per input value, one per clock edge"}


def _model(density: float) -> Path:
    """The default MLP trained, pruned, quantized and packed at ``density``; its run folder."""
    out = OUT / f"density-{density:g}"
    run_flow(config.load(CONFIG, [f"prune.density={density}"]), out, until="pack")  # resumes
    return out


def _speed(run_dir: Path, build_root: Path) -> list[dict]:
    """Simulated cycles (and inferences) per wall second of each driver on the whole test split,
    every run checked bit-exact and cycle-exact."""
    cfg, packed = load_run(run_dir)
    test = load_dataset(cfg.data, cfg.seed).test
    x = quantize_input(test.x.reshape(len(test), -1), packed.model.input_scale).astype(np.int64)
    board = Scoreboard(packed, x)
    rows = []
    for kind in KINDS:
        accelerator = build_accelerator(packed, kind=kind, hw=cfg.hardware, build_root=build_root)
        runs = {driver: [] for driver in DRIVERS}
        for _ in range(SPEED_REPEATS):
            for driver in DRIVERS:
                r = accelerator.run(x, driver=driver)
                board.check_logits(kind, r.logits, r.predicted)
                runs[driver].append(r)
        for driver, done in runs.items():
            seconds = statistics.median(r.total_seconds for r in done)
            rows.append({"kind": kind, "driver": driver, "inferences": len(x),
                         "cycles": done[0].total_cycles, "seconds": seconds,
                         "rate": done[0].total_cycles / seconds})
    for row in rows:
        naive = next(r for r in rows if r["kind"] == row["kind"] and r["driver"] == "per_cycle")
        row["speedup"] = naive["seconds"] / row["seconds"]
    return rows


def _harness(run_dir: Path, build_root: Path) -> dict:
    """The sparse design's whole test split in the bare C++ harness, in the wrapper harness and
    in cocotb (the feeder), interleaved in this process; all three bit-exact and cycle-exact
    against each other."""
    cfg, packed = load_run(run_dir)
    test = load_dataset(cfg.data, cfg.seed).test
    x = quantize_input(test.x.reshape(len(test), -1), packed.model.input_scale).astype(np.int64)
    accelerator = build_accelerator(packed, kind="sparse", hw=cfg.hardware, build_root=build_root)
    name = "sparse_accelerator"
    harness = build_harness(export_verilog(accelerator.design, name=name), toplevel=name,
                            outputs=packed.model.layers[-1].rows, build_root=build_root)
    wrapped, top = fed_wrapper(export_verilog(accelerator.design, name=name), name,
                               counters=COUNTERS)
    wrapper = build_wrapper_harness(wrapped, toplevel=top, outputs=harness.outputs,
                                    counters=COUNTERS, build_root=build_root)
    words = accelerator.words(packed)
    cpp, wrapper_runs, cocotb, walls = [], [], [], []
    for _ in range(SPEED_REPEATS):
        h = harness.run(words, x, OUT / "harness")
        w = wrapper.run(words, x, OUT / "wrapper")
        began = time.perf_counter()
        c = accelerator.run(x)
        walls.append(time.perf_counter() - began)
        for what in ("logits", "cycles", "predicted"):
            for label, other in (("C++ harness", h), ("wrapper harness", w)):
                if not np.array_equal(getattr(other, what), getattr(c, what)):
                    raise AssertionError(f"the {label} and cocotb differ in {what}")
        cpp.append(h)
        wrapper_runs.append(w)
        cocotb.append(c)
    cpp_rate = statistics.median(r.rate for r in cpp)
    cocotb_rate = statistics.median(r.total_cycles / r.total_seconds for r in cocotb)
    return {"inferences": len(x), "cpp_cycles": cpp[0].total_cycles, "cpp_rate": cpp_rate,
            "wrapper_cycles": wrapper_runs[0].total_cycles,
            "wrapper_rate": statistics.median(r.rate for r in wrapper_runs),
            "cocotb_cycles": cocotb[0].total_cycles, "cocotb_rate": cocotb_rate,
            "cocotb_wall": statistics.median(walls),
            "cocotb_seconds": statistics.median(r.total_seconds for r in cocotb)}


def _harness_lines(harness: dict | None) -> list[str]:
    """The C++-harnesses-vs-cocotb table."""
    lines = [
        f"### cocotb vs a plain C++ harness (sparse, density {SPEED_DENSITY:g}, whole test split, "
        f"median of {SPEED_REPEATS} interleaved runs)",
        "",
        "`bench/harness/main.cpp` instantiates the Verilated bare accelerator (same Verilog, same "
        "Verilator flags, no `--timing`, no VPI), toggles `clk` itself, loads the model through "
        "the load port, streams the same inputs and counts cycles. `bench/harness/wrapper.cpp` "
        "runs what cocotb runs, the simulation wrapper (clock made in Verilog with `--timing`, "
        "the Verilog feeder reading its files), in the time loop of cocotb's Verilator main "
        "without VPI or Python. cocotb runs that wrapper with SAIF tracing compiled in and off "
        "(the build the power step also traces with); its in-simulation time is the test's own "
        "timer (reset, the feeder's files, the batch, the results), its wall adds the simulator "
        "process (start-up, Python imports, job files). All three agree on every logit, class "
        "and per-inference cycle count. Every build uses `-O3` (Verilator and the model's C++).",
        "",
        "| simulation | simulated cycles | in-simulation (s) | cycles/s | share of C++ | "
        "wall per run (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    if harness is None:
        lines.append(f"| (measured once density {SPEED_DENSITY:g} has run) | | | | | |")
    else:
        h = harness
        lines += [
            f"| C++ harness | {h['cpp_cycles']:,} | {h['cpp_cycles'] / h['cpp_rate']:.3f} | "
            f"{h['cpp_rate'] / 1e6:.2f} M | 100 % | |",
            f"| C++ on the cocotb wrapper | {h['wrapper_cycles']:,} | "
            f"{h['wrapper_cycles'] / h['wrapper_rate']:.3f} | {h['wrapper_rate'] / 1e6:.2f} M | "
            f"{100 * h['wrapper_rate'] / h['cpp_rate']:.0f} % | |",
            f"| cocotb + feeder | {h['cocotb_cycles']:,} | {h['cocotb_seconds']:.3f} | "
            f"{h['cocotb_rate'] / 1e6:.2f} M | {100 * h['cocotb_rate'] / h['cpp_rate']:.0f} % | "
            f"{h['cocotb_wall']:.2f} |",
        ]
    return lines


def _markdown(speed: list[dict], results: dict[float, dict], walls: dict[float, float],
              load: float, harness: dict | None = None, harness_only: bool = False) -> str:
    if harness_only:
        return "\n".join(_harness_lines(harness))
    s = results.get(SPEED_DENSITY, next(iter(results.values())))
    lines = [
        "## Simulation: RTL inference speed, energy and toggles",
        "",
        f"`python -m bench simulation` on {os.cpu_count()} cores (load average {load:.1f} at "
        f"the start, shared machine). Whole-network accelerator (P = {s['pes']}, "
        f"D = {s['queue_depth']}, W = {s['issue_width']}) under Verilator, clock generated in a Verilog wrapper "
        f"(`--timing`), builds at `-O3`, each "
        f"cached build keeping only its simulator executable (~3 MB; 186 MB with the object files "
        f"and precompiled headers it kept before); every inference checked bit-exact (logits, class), cycles "
        f"== cycle model, and every event counter but stalls (MACs, weight, pointer and "
        f"activation reads, activation writes, broadcasts, queue pushes, accumulator updates, "
        f"drains) == the counts the integer reference predicts.",
        "",
        f"### Simulated cycles per wall second (density {SPEED_DENSITY:g}, whole test split, "
        f"same build, median of {SPEED_REPEATS} interleaved runs)",
        "",
        "Wall time of the whole simulation from reset to the last result (input streaming and "
        "result reads included; simulator start-up not). The feeder is a Verilog block of the "
        "simulation wrapper (`sim/feeder.py`) that streams each input vector, pulses start, times "
        "the run and records class, logits and counters, so a batch costs Python one await; its "
        "cycles include the ~2 cycles per inference it spends noticing done.",
        "",
        "| design | driver | Python awaits per inference | simulated cycles | wall (s) | cycles/s "
        "| × per-cycle driver |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    if not speed:
        lines.append(f"| (measured once density {SPEED_DENSITY:g} has run) | | | | | | |")
    for r in speed:
        lines.append(f"| {r['kind']} | {r['driver']} | {AWAITS[r['driver']]} | {r['cycles']:,} | "
                     f"{r['seconds']:.2f} | {r['rate'] / 1e6:.2f} M | {r['speedup']:.1f}× |")
    lines += ["", *_harness_lines(harness)]
    lines += [
        "",
        "### Whole test split on the RTL (sparse and dense, all checks)",
        "",
        "| density | images | sparse run (s) | dense run (s) | sparse cycles/s | dense cycles/s | "
        "`simulate` total (s, builds and SAIF runs included) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d, r in results.items():
        lines.append(f"| {d:g} | {r['samples']} | {r['sparse']['wall_seconds']:.1f} | "
                     f"{r['dense']['wall_seconds']:.1f} | "
                     f"{r['sparse']['cycles_per_second'] / 1e6:.2f} M | "
                     f"{r['dense']['cycles_per_second'] / 1e6:.2f} M | {walls[d]:.0f} |")
    lines += [
        "",
        "### Per inference, sparse vs dense, by weight density",
        "",
        "Energy = hardware event counters × the 45 nm table (`sim/power/energy_45nm.toml`, Horowitz "
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
    results, walls, speed, harness = {}, {}, [], None
    for density in DENSITIES:
        run_dir = _model(density)
        began = time.perf_counter()
        results[density] = simulate(run_dir, build_root=build_root,
                                    log=lambda m: print(m, flush=True))
        walls[density] = time.perf_counter() - began
        print(f"[simulation] density {density:g}: {walls[density]:.0f} s", flush=True)
        if density == SPEED_DENSITY:
            speed = _speed(run_dir, build_root)
            harness = _harness(run_dir, build_root)
        write_section("simulation", _markdown(speed, results, walls, load, harness))
