"""report.md and a self-contained report.html (tables + embedded PNG plots) from a run's summary."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import atomic, plots


@dataclass(frozen=True)
class Figure:
    name: str  #: file name stem of the PNG in the run folder
    caption: str
    png: bytes


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _int(x: float) -> str:
    return f"{int(x):,}"


def headline_table(s: Mapping) -> Table:
    n = s["hardware_samples"]
    rows = [
        ("dense accuracy (float)", _pct(s["dense_accuracy"])),
        ("pruned accuracy (float)", _pct(s["pruned_accuracy"])),
        ("quantized accuracy (integer reference)", _pct(s["quantized_accuracy"])),
        (f"hardware accuracy (RTL, {n} images)", _pct(s["hardware_accuracy"])),
        ("density", f"{s['density']:.4f}"),
        ("compression ratio (fp32 dense / model.bin)", f"{s['compression_ratio']:.2f}×"),
        ("theoretical speedup (dense / nonzero MACs)", f"{s['theoretical_speedup']:.2f}×"),
        ("cycles sparse: RTL / model", f"{_int(s['cycles_sparse'])} / {_int(s['expected_cycles_sparse'])}"),
        ("cycles dense: RTL / model", f"{_int(s['cycles_dense'])} / {_int(s['expected_cycles_dense'])}"),
        ("realised speedup (RTL cycles dense / sparse)", f"{s['realised_speedup']:.2f}×"),
    ]
    return Table("Headline", ("metric", "value"), tuple(rows))


def _layer_shape(l: Mapping) -> str:
    """A layer's shape as the summary describes it (older summaries: ``rows×cols``)."""
    return l.get("shape", f"{l['rows']}×{l['cols']}")


def layer_table(layers) -> Table:
    """Per layer, sparse vs dense vs model: the compute cycles the layer took alone on the RTL
    ("—" for a layer not run alone) beside the cycle model's compute share of the whole
    inference, then the layer's share with its drains (model; the RTL total matches it exactly)
    and the realised speedup."""
    arrays = any("array_cycles_sparse" in l for l in layers)
    computes = all("compute_cycles_sparse" in l for l in layers)
    rows = []
    for l in layers:
        row = [str(l["layer"]), _layer_shape(l)]
        for kind in ("sparse", "dense"):
            if arrays:
                alone = l.get(f"array_cycles_{kind}")
                row.append("—" if alone is None else _int(alone))
            if computes:
                row.append(_int(l[f"compute_cycles_{kind}"]))
        row += [_int(l["cycles_sparse"]), _int(l["cycles_dense"]),
                f"{l['cycles_dense'] / max(l['cycles_sparse'], 1):.2f}×"]
        rows.append(tuple(row))
    header = ["layer", "shape"]
    for kind in ("sparse", "dense"):
        if arrays:
            header.append(f"{kind}: RTL compute (layer alone)")
        if computes:
            header.append(f"{kind}: model compute")
    header += ["accelerator sparse", "accelerator dense", "speedup"]
    return Table("Cycles per layer, summed over the simulated images (accelerator: compute and "
                 "drain by the cycle model, whose total the RTL matches exactly; a pooled conv "
                 "layer runs alone unpooled)", tuple(header), tuple(rows))


def sweep_table(points) -> Table:
    rows = tuple((f"{p['density']:.3f}", _pct(p["pruned_accuracy"]), _pct(p["quantized_accuracy"]),
                  f"{p['compression_ratio']:.1f}×", f"{p['theoretical_speedup']:.1f}×",
                  f"{p['realised_speedup']:.2f}×") for p in sorted(points, key=lambda p: -p["density"]))
    return Table("Density sweep", ("density", "pruned acc.", "int8 acc.", "compression",
                                   "theoretical speedup", "realised speedup (RTL)"), rows)


def breakdown_table(title: str, unit: str, breakdown: Mapping[str, Mapping[str, float]]) -> Table:
    designs = list(breakdown)
    categories = sorted({c for parts in breakdown.values() for c in parts})
    rows = [(c, *(f"{breakdown[d].get(c, 0.0):,.1f}" for d in designs)) for c in categories]
    rows.append(("total", *(f"{sum(breakdown[d].values()):,.1f}" for d in designs)))
    return Table(title, (unit, *designs), tuple(rows))


def build(summary: Mapping) -> tuple[list[Table], list[Figure]]:
    """Tables and figures for whatever the summary holds; the flow's summary holds them all."""
    tables, figures = [headline_table(summary)], []
    sweep = summary.get("density_sweep")
    if sweep:
        tables.append(sweep_table(sweep))
        figures += [
            Figure("accuracy_vs_compression", "Accuracy vs compression ratio (the operating point dotted).",
                   plots.accuracy_vs(sweep, "compression_ratio", "compression ratio",
                                     chosen=summary["compression_ratio"])),
            Figure("accuracy_vs_speedup", "Accuracy vs theoretical speedup.",
                   plots.accuracy_vs(sweep, "theoretical_speedup", "theoretical speedup",
                                     chosen=summary["theoretical_speedup"])),
            Figure("realised_vs_theoretical", "Realised RTL speedup vs theoretical, beside the ideal 1/density.",
                   plots.realised_vs_theoretical(sweep)),
        ]
    if summary.get("layers"):
        tables.append(layer_table(summary["layers"]))
        figures.append(Figure("layer_cycles", "Cycles per layer, sparse vs dense vs model.",
                              plots.layer_cycles(summary["layers"])))
    if summary.get("energy"):
        tables.append(breakdown_table("Energy per inference by event (pJ)", "event", summary["energy"]))
        figures.append(Figure("energy", "Event energy per inference by event type.",
                              plots.stacked_by_design(summary["energy"], ylabel="pJ per inference",
                                                      title="Energy per inference")))
    if summary.get("toggles"):
        over = (f" (SAIF, first {summary['activity_samples']} test images)"
                if summary.get("activity_samples") else "")
        tables.append(breakdown_table(f"Toggles per inference by block{over}", "block",
                                      summary["toggles"]))
        figures.append(Figure("toggles", f"Switching activity (toggles per inference) by block{over}.",
                              plots.stacked_by_design(summary["toggles"], ylabel="toggles per inference",
                                                      title="Switching activity")))
    return tables, figures


def _markdown_table(t: Table) -> str:
    lines = [f"### {t.title}", "", "| " + " | ".join(t.header) + " |",
             "|" + "|".join("---" for _ in t.header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in t.rows]
    return "\n".join(lines)


def to_markdown(title: str, tables: list[Table], figures: list[Figure]) -> str:
    parts = [f"# {title}", ""]
    parts += [_markdown_table(t) + "\n" for t in tables]
    parts += [f"![{f.caption}]({f.name}.png)\n\n*{f.caption}*\n" for f in figures]
    return "\n".join(parts)


STYLE = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0 0 1.5em}td,th{border:1px solid #ccc;padding:4px 10px}
td:not(:first-child){text-align:right}th{background:#f3f3f3}
figure{display:inline-block;margin:0 1em 1.5em 0;vertical-align:top}
figure img{max-width:460px;border:1px solid #ddd}figcaption{font-size:.85em;color:#555;max-width:460px}"""


def to_html(title: str, tables: list[Table], figures: list[Figure]) -> str:
    esc = html.escape
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>",
           f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>"]
    for t in tables:
        out.append(f"<h3>{esc(t.title)}</h3><table><tr>"
                   + "".join(f"<th>{esc(h)}</th>" for h in t.header) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in t.rows]
        out.append("</table>")
    for f in figures:
        data = base64.b64encode(f.png).decode()
        out.append(f"<figure id='{f.name}'><img alt='{esc(f.caption)}' src='data:image/png;base64,{data}'>"
                   f"<figcaption>{esc(f.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(out: str | Path, summary: Mapping, title: str | None = None) -> list[str]:
    """Write report.md, report.html and one PNG per figure into ``out``; returns figure names."""
    out = Path(out)
    title = title or f"secateurs — {summary.get('name', out.name)}"
    tables, figures = build(summary)
    for f in figures:
        atomic.write_bytes(out / f"{f.name}.png", f.png)
    atomic.write_text(out / "report.md", to_markdown(title, tables, figures))
    atomic.write_text(out / "report.html", to_html(title, tables, figures))
    return [f.name for f in figures]
