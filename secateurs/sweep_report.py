"""A sweep's results as a tidy CSV, the two ShrinkBench figures, and a markdown table.

Figures: accuracy against compression ratio and against theoretical speedup, one panel per model,
one line per strategy (mean over seeds) with a band from the worst to the best seed.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import atomic

FIGURES = {
    "accuracy_vs_compression.png": ("compression_ratio", "compression ratio (all parameters / nonzero)"),
    "accuracy_vs_speedup.png": ("theoretical_speedup", "theoretical speedup (dense MACs / remaining MACs)"),
}


def write_csv(rows: list[dict], path: str | Path) -> None:
    """One row per run; columns are the union of all keys, config first, in first-seen order."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buffer.getvalue())


def _grouped(rows: list[dict]) -> dict[str, dict[str, dict[float, list[dict]]]]:
    """rows by model label → strategy → nominal compression."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for row in rows:
        out[row["model_label"]][row["strategy"]][float(row["compression"])].append(row)
    return out


def plot(rows: list[dict], out: str | Path) -> list[Path]:
    """Write both figures into ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _grouped(rows)
    paths = []
    for filename, (x_key, x_label) in FIGURES.items():
        fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.5), squeeze=False)
        for ax, (model, strategies) in zip(axes[0], groups.items()):
            for strategy, by_c in strategies.items():
                cs = sorted(by_c)
                x = [np.mean([r[x_key] for r in by_c[c]]) for c in cs]
                acc = [[r["accuracy"] for r in by_c[c]] for c in cs]
                line, = ax.plot(x, [np.mean(a) for a in acc], marker="o", ms=3, label=strategy)
                ax.fill_between(x, [min(a) for a in acc], [max(a) for a in acc],
                                color=line.get_color(), alpha=0.2, linewidth=0)
            dense = [r["dense_accuracy"] for s in strategies.values() for rs in s.values() for r in rs]
            ax.axhline(np.mean(dense), color="grey", linestyle="--", linewidth=1, label="dense")
            ax.set_xscale("log", base=2)
            ax.set_xlabel(x_label)
            ax.set_ylabel("top-1 test accuracy")
            ax.set_title(model)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        plt.close(fig)
        path = Path(out) / filename
        atomic.write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths


def metric_table(rows: list[dict], model: str, key: str = "accuracy", digits: int = 3) -> str:
    """Markdown: mean ± std of ``key`` over seeds, strategy × compression, for one model."""
    strategies = _grouped(rows)[model]
    cs = sorted({c for by_c in strategies.values() for c in by_c})
    lines = ["| strategy | " + " | ".join(f"{c:g}×" for c in cs) + " |",
             "|---|" + "---:|" * len(cs)]
    for strategy, by_c in strategies.items():
        cells = []
        for c in cs:
            values = [float(r[key]) for r in by_c.get(c, [])]
            cells.append(f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}" if values else "")
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def accuracy_table(rows: list[dict], model: str) -> str:
    """Markdown: mean ± std of top-1 accuracy over seeds, strategy × compression, for one model."""
    return metric_table(rows, model, "accuracy")


def mean_accuracy(rows: list[dict], model: str, strategy: str, compression: float) -> float:
    acc = [r["accuracy"] for r in rows if r["model_label"] == model and r["strategy"] == strategy
           and float(r["compression"]) == compression]
    return float(np.mean(acc)) if acc else float("nan")


def write_report(rows: list[dict], out: str | Path) -> list[Path]:
    """results.csv and both figures in ``out``."""
    out = Path(out)
    write_csv(rows, out / "results.csv")
    return [out / "results.csv", *plot(rows, out)]
