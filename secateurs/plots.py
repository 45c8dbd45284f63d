"""The report's figures: each function takes plain data and returns PNG bytes."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402

DPI = 110
COLORS = {"sparse": "tab:green", "dense": "tab:gray"}


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def accuracy_vs(points: Sequence[Mapping], x_key: str, x_label: str, *, chosen: float | None = None,
                title: str = "") -> bytes:
    """Accuracy of each pruning stage against compression ratio or theoretical speedup.

    ``points`` carry ``x_key`` and accuracies ``pruned_accuracy`` and ``quantized_accuracy``;
    ``chosen`` marks the flow's operating point on the x axis.
    """
    ordered = sorted(points, key=lambda p: p[x_key])
    xs = [p[x_key] for p in ordered]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for key, label, style in (("pruned_accuracy", "pruned (float)", "o-"),
                              ("quantized_accuracy", "int8 (integer reference)", "s--")):
        if all(key in p for p in ordered):
            ax.plot(xs, [p[key] for p in ordered], style, label=label)
    if chosen is not None:
        ax.axvline(chosen, color="tab:red", lw=1, ls=":", label="this run")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(x_label)
    ax.set_ylabel("top-1 accuracy (test)")
    ax.set_title(title or f"Accuracy vs {x_label}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def realised_vs_theoretical(points: Sequence[Mapping]) -> bytes:
    """RTL speedup over the dense twin against dense MACs / nonzero MACs, beside the ideal."""
    ordered = sorted(points, key=lambda p: p["theoretical_speedup"])
    xs = [p["theoretical_speedup"] for p in ordered]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    top = max(xs + [p["realised_speedup"] for p in ordered])
    ax.plot([1, top], [1, top], color="black", lw=1, ls="--", label="ideal: 1 / density")
    ax.plot(xs, [p["realised_speedup"] for p in ordered], "o-", color=COLORS["sparse"],
            label="realised on the RTL (cycles dense / sparse)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("theoretical speedup (dense MACs / nonzero MACs)")
    ax.set_ylabel("realised speedup")
    ax.set_title("What pruning buys on the hardware")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _png(fig)


def _grouped_bars(ax, groups: Sequence[str], series: Mapping[str, Sequence[float]]) -> None:
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        offsets = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(offsets, values, width, label=name, color=COLORS.get(name.split()[0]))
    ax.set_xticks(range(len(groups)), groups)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")


def layer_cycles(layers: Sequence[Mapping]) -> bytes:
    """Cycles per layer (summed over the simulated images), sparse vs dense."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    groups = [f"layer {l['layer']}\n" + " ".join([*([l["kind"]] if "kind" in l else []),
                                                   f"{l['rows']}×{l['cols']}"]) for l in layers]
    series = {"dense (accelerator)": [l["cycles_dense"] for l in layers],
              "sparse (accelerator)": [l["cycles_sparse"] for l in layers]}
    if any("array_cycles_sparse" in l for l in layers):  # no bar: not run alone
        series["sparse (layer alone, RTL compute)"] = [l.get("array_cycles_sparse", math.nan)
                                                       for l in layers]
    _grouped_bars(ax, groups, series)
    ax.set_yscale("log")
    ax.set_ylabel("cycles")
    ax.set_title("Cycles per layer")
    return _png(fig)


def stacked_by_design(breakdown: Mapping[str, Mapping[str, float]], *, ylabel: str,
                      title: str) -> bytes:
    """One stacked bar per design (sparse, dense), split by category (event type or block)."""
    designs = list(breakdown)
    categories = sorted({c for parts in breakdown.values() for c in parts})
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    bottom = [0.0] * len(designs)
    for category in categories:
        values = [breakdown[d].get(category, 0.0) for d in designs]
        ax.bar(designs, values, bottom=bottom, label=category)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def speedup_by_structure(rows: Sequence[Mapping], *, title: str) -> bytes:
    """Realised speedup (dense twin / sparse cycles) against 1 / density, one line per structure."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    top = 1.0
    for structure in sorted({r["structure"] for r in rows}):
        ordered = sorted((r for r in rows if r["structure"] == structure), key=lambda r: -r["density"])
        xs = [1 / r["density"] for r in ordered]
        ys = [r["realised_speedup"] for r in ordered]
        ax.plot(xs, ys, "o-", label=structure)
        top = max(top, *xs, *ys)
    ax.plot([1, top], [1, top], color="black", lw=1, ls="--", label="ideal: 1 / density")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("1 / weight density")
    ax.set_ylabel("realised speedup over the dense twin")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _png(fig)


def efficiency_vs_depth(rows: Sequence[Mapping], *, title: str) -> bytes:
    """Load-balance efficiency η against activation-queue depth, one line per structure × density."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for structure in sorted({r["structure"] for r in rows}):
        for density in sorted({r["density"] for r in rows}, reverse=True):
            sel = sorted((r for r in rows if r["structure"] == structure and r["density"] == density),
                         key=lambda r: r["queue_depth"])
            if sel:
                ax.plot([r["queue_depth"] for r in sel], [r["efficiency"] for r in sel], "o-",
                        label=f"{structure}, d = {density:g}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("activation queue depth D")
    ax.set_ylabel("η = ⌈useful MACs / P⌉ / compute cycles")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    return _png(fig)
