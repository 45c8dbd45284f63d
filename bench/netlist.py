"""Gate-level benchmark: the default design's post-synthesis iCE40 netlist runs test images
bit-exact and cycle-exact.

The default configuration (configs/digits_mlp.toml: the digits MLP, P = 4) is run by the flow up
to ``pack`` (resumed when nothing changed); its model.bin sizes the capacity exactly as
``secateurs bitstream`` does, the sparse design is synthesised as the bitstream's Yosys
synthesises it and written as a netlist of iCE40 primitives
(:func:`~secateurs.hw.build.fpga.synthesize_netlist`), and the netlist, with the primitives'
models that ship with Yosys, is loaded through its load port and runs the first test images on
Icarus (:func:`~secateurs.sim.netlist.prove_netlist`): logits and classes bit-exact against the
integer reference, cycles and every event counter those of the cycle and event models, with
idle cycles on the input stream and logits held back on the output stream. The "Gate level"
section of BENCHMARKS.md records what ran and what it cost.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from secateurs import config
from secateurs.flow import run_flow
from secateurs.hw.accelerator import Accelerator
from secateurs.hw.build.fpga import synthesize_netlist
from secateurs.rtl import capacity_for
from secateurs.sim.netlist import prove_netlist
from secateurs.sw.data import load_dataset
from secateurs.sw.formats import container
from secateurs.sw.reference import quantize_input

from .sections import write_section

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "digits_mlp.toml"
TARGET = "ice40-up5k"
#: The default design (``secateurs bitstream``'s default kind). Its dense twin's ten images are
#: ~45,000 cycles, too slow for a gate-level simulation here.
KINDS = ("sparse",)
#: Test images each netlist runs (the acceptance asks for at least 10).
IMAGES = 10
IDLE_SEED = 1
#: Where the run and the netlists stay (runs/ is the project's ignored output folder).
OUT = ROOT / "runs" / "bench-netlist"


def run_kind(kind: str, packed, x: np.ndarray, hw) -> dict:
    """Synthesise ``kind``'s netlist and prove ``x`` on it; its figures."""
    design = Accelerator(capacity_for(packed, hw), kind=kind)
    name = f"{kind}_accelerator"
    began = time.perf_counter()
    path = synthesize_netlist(design, toplevel=name, target=TARGET,
                              path=OUT / f"{kind}.netlist.v")
    synthesis = time.perf_counter() - began
    began = time.perf_counter()
    proof = prove_netlist(packed, x, netlist=path.read_text(), design=design, target=TARGET,
                          hw=hw, build_root=OUT / "build", idle_seed=IDLE_SEED)
    return {"kind": kind, "images": len(x), "netlist_mb": path.stat().st_size / 1e6,
            "cells": sum(path.read_text().count(f"  {c} ") for c in ("SB_LUT4", "SB_CARRY")),
            "cycles": int(proof.cycles.sum()), "model": int(proof.expected.sum()),
            "held": int(proof.result.held_cycles.sum()), "synthesis_s": synthesis,
            "simulation_s": time.perf_counter() - began,
            "cycles_per_s": proof.result.total_cycles / max(proof.result.total_seconds, 1e-9)}


def render(rows: list[dict]) -> str:
    lines = [
        f"### Gate level: the default design's {TARGET} netlist",
        "",
        f"`configs/digits_mlp.toml` (P = 4): each design synthesised by YoWASP Yosys as the "
        f"bitstream's synthesis does, its netlist of iCE40 primitives simulated on Icarus "
        f"Verilog with Yosys's `ice40/cells_sim.v`, the model loaded through the load port, the "
        f"first {IMAGES} test images run with idle input cycles and held logits. Every logit "
        f"and class is the integer reference's, every run's cycles the cycle model's plus the "
        f"cycles held, every event counter the event model's.",
        "",
        "| design | images | LUT4 + carry cells | netlist (MB) | cycles (netlist) | cycles "
        "(model + held) | synthesis (s) | simulation (s) | simulated cycles / s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['images']} | {r['cells']} | {r['netlist_mb']:.1f} | "
                     f"{r['cycles']} | {r['model']} + {r['held']} | {r['synthesis_s']:.0f} | "
                     f"{r['simulation_s']:.0f} | {r['cycles_per_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    cfg = config.load(CONFIG, [])
    run_flow(cfg, OUT / "run", until="pack")
    packed = container.load(OUT / "run" / "model.bin")
    test = load_dataset(cfg.data, cfg.seed).test
    x = quantize_input(test.x[:IMAGES], packed.model.input_scale).astype(np.int64)
    rows = [run_kind(kind, packed, x, cfg.hardware) for kind in KINDS]
    write_section("netlist", render(rows))
    for r in rows:
        print(f"[bench] netlist {r['kind']}: {r['images']} images bit-exact, {r['cycles']} "
              f"cycles = model + held, synthesis {r['synthesis_s']:.0f} s, simulation "
              f"{r['simulation_s']:.0f} s")


if __name__ == "__main__":
    main()
