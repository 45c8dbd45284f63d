"""Hardware sweep benchmark: realised vs ideal speedup and load balance by structure, on Ray.

The whole sweep (``configs/hardware_sweep.toml``) runs on the exact cycle model over the test
split; its P = 8, D = 8 points run again with every point proved on the sparse RTL, so each
table shows the RTL beside the model it must equal.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from secateurs.atomic import write_bytes
from secateurs.hw_sweep import hardware_figures, load_hardware_sweep, run_hardware_sweep
from secateurs.sweep_report import write_csv

from .sections import write_section

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "hardware_sweep.toml"
OUT = ROOT / "runs" / "bench-hardware-sweep"
FIGURE_DIR = Path(__file__).resolve().parent / "figures"
#: Test images each RTL-proved point runs on the sparse accelerator.
RTL_SAMPLES = 30
PES, DEPTH = 8, 8


def _sweep(out: Path, overrides=()) -> tuple[list[dict], float]:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    rows = run_hardware_sweep(load_hardware_sweep(CONFIG, overrides), out, progress=lambda d, t, n: print(
        f"\r[hardware sweep] {d}/{t}", end="", flush=True))
    print()
    return rows, time.perf_counter() - start


def _speedup_table(rows: list[dict], proved: dict) -> str:
    lines = ["| structure | target density | measured density | 1 / density | realised (model, all images) "
             "| realised (RTL, %d images) | η | accuracy (int8) |" % RTL_SAMPLES, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["structure"], -r["density"])):
        rtl = proved.get((r["structure"], r["density"]))
        lines.append(f"| {r['structure']} | {r['density']:g} | {r['measured_density']:.4f} | "
                     f"{1 / r['measured_density']:.2f}× | {r['realised_speedup']:.2f}× | "
                     f"{'%.2f×' % rtl if rtl else '—'} | {r['efficiency']:.3f} | {r['accuracy']:.4f} |")
    return "\n".join(lines)


def _efficiency_table(rows: list[dict]) -> str:
    depths = sorted({r["queue_depth"] for r in rows})
    lines = ["| structure | density | " + " | ".join(f"η D = {d}" for d in depths) + " |",
             "|---|---:|" + "---:|" * len(depths)]
    keys = sorted({(r["structure"], r["density"]) for r in rows}, key=lambda k: (k[0], -k[1]))
    for structure, density in keys:
        by_d = {r["queue_depth"]: r["efficiency"] for r in rows
                if r["structure"] == structure and r["density"] == density}
        lines.append(f"| {structure} | {density:g} | " + " | ".join(f"{by_d[d]:.3f}" for d in depths) + " |")
    return "\n".join(lines)


def main() -> None:
    load = os.getloadavg()[0]
    rows, wall = _sweep(OUT / "model")
    write_csv(rows, OUT / "model" / "results.csv")
    figures = []
    for path in hardware_figures(rows, OUT / "model"):
        write_bytes(FIGURE_DIR / f"hardware_sweep_{path.name}", path.read_bytes())
        figures.append(f"![{path.stem}](bench/figures/hardware_sweep_{path.name})")
    proved_rows, proved_wall = _sweep(OUT / "rtl", [f"pes=[{PES}]", f"queue_depths=[{DEPTH}]",
                                                    'formats=["csc"]', f"rtl_samples={RTL_SAMPLES}"])
    proved = {}
    for r in proved_rows:
        # The RTL run checked cycles == model on its images; its speedup over the dense twin
        # is then the model's on those images.
        proved[(r["structure"], r["density"])] = r["realised_speedup"] if r["rtl_checked"] else None
    chosen = [r for r in rows
              if r["pes"] == PES and r["queue_depth"] == DEPTH and r["format"] in ("csc", "nm")]
    points = len({(r["structure"], r["density"], r["pes"], r["format"]) for r in rows})
    write_section("hardware-sweep", f"""## Realised vs ideal speedup by structure (hardware sweep on Ray)

`secateurs sweep --config configs/hardware_sweep.toml`: {points} model points (density ×
structure × P × format, each pruned, quantized and packed by the flow's steps) × D, {len(rows)}
rows, on a local Ray with 2 workers in {wall:.0f} s (load average {load:.1f} at the start).
Cycles come from the cycle model over all test images; the P = {PES}, D = {DEPTH} points were
run again with each proved on the sparse RTL ({RTL_SAMPLES} images each: logits bit-exact,
cycles equal to the model) in {proved_wall:.0f} s. Realised speedup = dense-twin cycles /
sparse cycles per inference, requantize drains and argmax included; the ideal is 1 / density.
N:M packs at the pattern nearest the density (0.05 → 1:16).

P = {PES}, D = {DEPTH}, int8 CSC (N:M: its own engine):

{_speedup_table(chosen, proved)}

Load-balance efficiency η = ⌈useful MACs / P⌉ ÷ compute cycles (drains excluded) against queue
depth, P = {PES}:

{_efficiency_table([r for r in rows if r["pes"] == PES and r["format"] != "csc_codebook"])}

{chr(10).join(figures)}
""")


if __name__ == "__main__":
    main()
