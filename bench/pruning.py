"""Pruning benchmark: the ShrinkBench comparison and the retraining comparison on digits.

Each sweep runs from scratch (its folder is emptied first) so the wall time is a full run's. The
section reports the accuracy tables, the figures, the time, and checks ShrinkBench's qualitative
conclusions against the numbers, whichever way they come out.
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from pathlib import Path

import numpy as np

from secateurs.atomic import write_bytes
from secateurs.sweep import load_sweep, run_sweep
from secateurs.sweep_report import FIGURES, accuracy_table, mean_accuracy, write_report

from .sections import write_section

ROOT = Path(__file__).resolve().parent.parent
SWEEPS = {"shrinkbench": ROOT / "configs" / "shrinkbench_digits.toml",
          "retrain": ROOT / "configs" / "retrain_digits.toml"}
OUT = ROOT / "runs" / "bench"
FIGURE_DIR = Path(__file__).resolve().parent / "figures"
#: Compressions at which "random is worst" is checked (below them every method is near dense).
HIGH_COMPRESSION = (16.0, 32.0, 64.0)
#: Accuracy differences smaller than this count as a tie (about one test image in 360 is 0.003).
TIE = 0.005


def _run(name: str) -> dict:
    cfg = load_sweep(SWEEPS[name])
    out = OUT / cfg.settings.name
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    rows = run_sweep(cfg, out, progress=lambda done, total, task: print(
        f"\r[{name}] {done}/{total}", end="", flush=True))
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    print()
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    write_report(rows, out)
    figures = []
    for filename in FIGURES:
        target = FIGURE_DIR / f"{name}_{filename}"
        write_bytes(target, (out / filename).read_bytes())
        figures.append(target)
    return dict(cfg=cfg, rows=rows, wall=wall, cpu=cpu, load=load, figures=figures)


def _compare(rows, model, a, b, compressions) -> tuple[int, int, list[str]]:
    """How often strategy ``a`` is at least as accurate as ``b`` (ties within TIE count)."""
    wins, cases = 0, []
    for c in compressions:
        x, y = mean_accuracy(rows, model, a, c), mean_accuracy(rows, model, b, c)
        wins += x >= y - TIE
        cases.append(f"{c:g}×: {x:.3f} vs {y:.3f}")
    return wins, len(compressions), cases


def _verdicts(rows: list[dict], models: list[str], compressions: list[float]) -> list[str]:
    """One line per model and conclusion with every number, preceded by a tally of all of them."""
    pruned = [c for c in compressions if c > 1]
    tally = {"random is the worst strategy at ≥16×": [0, 0], "magnitude ≥ gradient": [0, 0],
             "global ≥ layer-wise": [0, 0]}
    lines = []
    for model in models:
        strategies = sorted({r["strategy"] for r in rows if r["model_label"] == model})
        worst = []
        for c in [c for c in HIGH_COMPRESSION if c in compressions]:
            means = {s: mean_accuracy(rows, model, s, c) for s in strategies}
            others = min(v for s, v in means.items() if s != "random")
            held = means["random"] <= others + TIE
            tally["random is the worst strategy at ≥16×"][0] += held
            tally["random is the worst strategy at ≥16×"][1] += 1
            worst.append(f"{'✔' if held else '✘'} {c:g}×: random {means['random']:.3f}, "
                         f"lowest other {others:.3f}")
        lines.append(f"- **{model}, random worst at high compression**: " + "; ".join(worst))
        for label, pairs in (("magnitude ≥ gradient", [("global_magnitude", "global_gradient"),
                                                        ("layer_magnitude", "layer_gradient")]),
                             ("global ≥ layer-wise", [("global_magnitude", "layer_magnitude"),
                                                      ("global_gradient", "layer_gradient")])):
            parts = []
            for a, b in pairs:
                wins, n, cases = _compare(rows, model, a, b, pruned)
                tally[label][0] += wins
                tally[label][1] += n
                parts.append(f"{a} vs {b} holds at {wins}/{n} compressions ({'; '.join(cases)})")
            lines.append(f"- **{model}, {label}**: " + " — ".join(parts))
    summary = "; ".join(f"{label}: {held} of {n} cases" for label, (held, n) in tally.items())
    return [f"**In short** — {summary}.", "", *lines]


CUT_OFF_NOTE = ("A class is unreachable when no live weight feeds its logit (its output row, or a "
                "whole layer before it, was pruned away); it is then never predicted, whatever the "
                "fine-tuning does, which caps accuracy at the share of reachable classes.")


def _cut_off_classes(rows: list[dict], model: str) -> str:
    """Where pruning left some class with no live weight into its logit (it can never win)."""
    cases = []
    for strategy in sorted({r["strategy"] for r in rows if r["model_label"] == model}):
        for c in sorted({float(r["compression"]) for r in rows}):
            values = [r["classes_reachable"] for r in rows if r["model_label"] == model
                      and r["strategy"] == strategy and float(r["compression"]) == c]
            if values and np.mean(values) < 10:
                cases.append(f"{strategy} {c:g}×: {np.mean(values):.1f}")
    return (f"- **{model}, classes still reachable** (of 10, mean over seeds; only where below 10): "
            + ("; ".join(cases) if cases else "all 10 everywhere"))


def _timing(result: dict) -> str:
    s = result["cfg"].settings
    runs = len(result["rows"])
    return (f"{runs} runs + {len(result['cfg'].models) * len(s.seeds)} dense trainings on "
            f"{s.workers} worker processes: **{result['wall'] / 60:.1f} min wall**, "
            f"{result['cpu'] / 60:.1f} CPU-min in the workers "
            f"(1-min load average {result['load']:.1f} at the start on {os.cpu_count()} cores)")


def _figures(result: dict) -> str:
    return "\n".join(f"![{p.stem}](bench/figures/{p.name})" for p in result["figures"])


def render(results: dict[str, dict]) -> str:
    """The markdown section from both sweeps' measurements."""
    sb, rt = results["shrinkbench"], results["retrain"]
    sb_models = list(sb["cfg"].models)
    parts = [
        "## Pruning (digits)",
        "",
        "### ShrinkBench comparison — `secateurs sweep --config configs/shrinkbench_digits.toml`",
        "",
        "Five strategies × compressions 1–64× × 3 seeds on LeNet-300-100 (MLP) and a LeNet-5-like "
        "CNN, one-shot pruning then 40 epochs of fine-tuning at lr 1e-3. Compression c prunes the "
        "Linear/Conv weights to density 1/c; the figures' x-axis is the measured ratio over all "
        "parameters (biases stay), and theoretical speedup = dense MACs / remaining MACs. Table: "
        "top-1 test accuracy, mean ± std over seeds.",
        "",
        _timing(sb) + ".",
        "",
    ]
    for model in sb_models:
        dense = np.mean([r["dense_accuracy"] for r in sb["rows"] if r["model_label"] == model])
        parts += [f"**{model}** (dense {dense:.3f})", "", accuracy_table(sb["rows"], model), ""]
    parts += ["Does the seed's reading of ShrinkBench hold here? (a tie is within "
              f"{TIE}; ✔/✘ per compression)", ""]
    parts += _verdicts(sb["rows"], sb_models, list(sb["cfg"].settings.compressions))
    parts += [_cut_off_classes(sb["rows"], model) for model in sb_models]
    parts += ["", CUT_OFF_NOTE]
    parts += ["", _figures(sb), "",
              "### Retraining and init/movement scores — `secateurs sweep --config configs/retrain_digits.toml`",
              "",
              "Global magnitude pruning unless the strategy says otherwise; rewinding returns to "
              "epoch 2 of the 40-epoch cosine schedule; IMP = 3 geometric rounds; AGP = 4 cubic "
              "steps 10 epochs apart inside one 40-epoch fine-tuning run.",
              "",
              _timing(rt) + ".",
              ""]
    for model in rt["cfg"].models:
        parts += [f"**{model}**", "", accuracy_table(rt["rows"], model), ""]
    parts += [_cut_off_classes(rt["rows"], model) for model in rt["cfg"].models]
    parts += ["", _figures(rt)]
    return "\n".join(parts)


def main() -> None:
    write_section("pruning", render({name: _run(name) for name in SWEEPS}))


if __name__ == "__main__":
    main()
