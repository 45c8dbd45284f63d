"""Flow benchmark: wall time of each step of the default flow, and our prune step beside
``torch.nn.utils.prune.global_unstructured`` on the same weights (time ratio, identical masks)."""

from __future__ import annotations

import copy
import os
import shutil
import statistics
import time
from pathlib import Path

import torch
from torch.nn.utils import prune as torch_prune

from secateurs import config
from secateurs.flow import run_flow
from secateurs.sw import prune as ours
from secateurs.sw.models import MLP

from .sections import write_section

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "bench-flow"
#: Timed repetitions of each pruner; the median is reported.
REPEATS = 30
DENSITY = 0.1


def _median_seconds(fn, model: torch.nn.Module) -> tuple[float, torch.nn.Module]:
    times, last = [], None
    for _ in range(REPEATS):
        fresh = copy.deepcopy(model)
        start = time.perf_counter()
        fn(fresh)
        times.append(time.perf_counter() - start)
        last = fresh
    return statistics.median(times), last


def _ours(model: torch.nn.Module) -> None:
    ours.prune(model, density=DENSITY, score="magnitude", scope="global")


def _torch(model: torch.nn.Module) -> None:
    layers = [(m, "weight") for m in ours.prunable(model).values()]
    torch_prune.global_unstructured(layers, pruning_method=torch_prune.L1Unstructured,
                                    amount=1.0 - DENSITY)


def _masks_ours(model) -> list[torch.Tensor]:
    return [m.bool() for m in ours.masks_of(ours.prunable(model)).values()]


def _masks_torch(model) -> list[torch.Tensor]:
    return [m.weight_mask.bool() for m in ours.prunable(model).values()]


def prune_comparison(models: dict[str, torch.nn.Module]) -> str:
    lines = ["| model | weights | ours (ms) | torch global_unstructured (ms) | time ratio ours / torch | masks identical |",
             "|---|---:|---:|---:|---:|---|"]
    for label, model in models.items():
        t_ours, a = _median_seconds(_ours, model)
        t_torch, b = _median_seconds(_torch, model)
        same = all(torch.equal(x, y) for x, y in zip(_masks_ours(a), _masks_torch(b)))
        weights = sum(m.weight.numel() for m in ours.prunable(model).values())
        lines.append(f"| {label} | {weights:,} | {1e3 * t_ours:.2f} | {1e3 * t_torch:.2f} | "
                     f"{t_ours / t_torch:.2f} | {'yes' if same else 'NO'} |")
    return "\n".join(lines)


def flow_timing() -> tuple[str, dict]:
    shutil.rmtree(OUT, ignore_errors=True)
    cfg = config.load(ROOT / "configs" / "digits_mlp.toml")
    start = time.perf_counter()
    summary = run_flow(cfg, OUT)
    total = time.perf_counter() - start
    lines = ["| step | seconds |", "|---|---:|"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in summary["step_seconds"].items()]
    lines.append(f"| **whole flow** | **{total:.1f}** |")
    start = time.perf_counter()
    run_flow(cfg, OUT)
    again = time.perf_counter() - start
    lines.append(f"| rerun, nothing changed (every step skipped) | {again:.1f} |")
    return "\n".join(lines), summary


def main() -> None:
    load = os.getloadavg()[0]
    timing, summary = flow_timing()
    trained = MLP(64, (128, 64), 10)
    trained.load_state_dict(torch.load(OUT / "dense.pt", weights_only=True))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        lenet = MLP(784, (300, 100), 10)
    comparison = prune_comparison({"digits MLP 64-128-64-10 (trained)": trained,
                                   "LeNet-300-100 on 784 inputs (initialised)": lenet})
    write_section("flow", f"""## Flow wall time and the prune step

`make flow` on the default config (`configs/digits_mlp.toml`: digits, MLP 64-128-64-10, global
magnitude pruning to density 0.1, int8, CSC r = 4, P = 4, D = 4; the whole test split of
{summary['hardware_samples']} images on the sparse and dense RTL, SAIF toggles, and the report's
density sweep with {len(summary['density_sweep'])} points each built and run on the sparse RTL).
Measured from an empty run folder with the Verilator builds not cached; load average
{load:.1f} on 2 cores at the start.

{timing}

Global magnitude pruning to density {DENSITY}: our `prune(model, density=…, score="magnitude",
scope="global")` (masks as parametrizations) beside `torch.nn.utils.prune.global_unstructured`
with `L1Unstructured` on copies of the same model, median of {REPEATS} runs each, same process.

{comparison}
""")


if __name__ == "__main__":
    main()
