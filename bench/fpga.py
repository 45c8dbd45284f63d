"""FPGA capacity benchmark: the largest loadable design that places and routes on each target.

The Verilog depends only on a :class:`~secateurs.hw.capacity.Capacity`, so each target has one
bitstream per hardware configuration and the UART shell loads any model that fits. For the
default configuration (sparse CSC, P = 4, D and W the defaults) this starts from the capacity
that holds every digits MLP (64-128-64-10, :meth:`Capacity.for_shape`) and doubles each PE's
weight bank until YoWASP's Yosys + nextpnr cannot place and route it, one ladder per target
(the iCE40 UP5K's banks in its SPRAM, the ECP5's in EBR). Each point's outcome (resources and
Fmax, or the tool's reason) goes to the "FPGA capacity" section of BENCHMARKS.md, with the time
per inference of the default digits model (cycle model, test split) at each point's Fmax.
"""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from secateurs import config
from secateurs.atomic import write_text
from secateurs.config import HardwareConfig
from secateurs.hw.accelerator import Accelerator
from secateurs.hw.build.export import export_verilog
from secateurs.hw.capacity import Capacity
from secateurs.sw.cycles import network_cycles
from secateurs.sw.formats import container
from secateurs.sw.reference import quantize_input

from .sections import write_section

#: nextpnr's utilisation lines: cell type, used, available.
_UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)", re.MULTILINE)

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "digits_mlp.toml"
DEFAULT = HardwareConfig()
SHAPES = [(128, 64), (64, 128), (10, 64)]  #: the digits MLP's layers, (rows, cols)
#: Designs searched, in order: the sparse engine, then its dense twin (same memories and port).
KINDS = ("sparse",)
#: Bank depths per PE tried on each target, in order (None: the base capacity's); a ladder stops
#: at its first failure. The UP5K's SPRAMs are 16k words deep (one per PE up to 16384 words:
#: four in all); on the ECP5 12288 sits between the last doubling that fits and the first that
#: does not.
LADDERS = {"ice40-up5k": (None, 8192, 16384, 32768), "ecp5-25k": (None, 8192, 12288, 16384)}
SEED = 0
FPGA_JOBS = 2  #: place-and-route runs at once (one per core)
#: Where the builds stay (runs/ is the project's ignored output folder).
OUT = Path(__file__).resolve().parent.parent / "runs" / "bench-fpga"


def base_capacity() -> Capacity:
    """The capacity that holds any digits MLP in the default configuration."""
    return Capacity.for_shape(SHAPES, pes=DEFAULT.pes, index_bits=4,
                              queue_depth=DEFAULT.queue_depth, issue_width=DEFAULT.issue_width,
                              acc_bits=DEFAULT.acc_bits)


def _build(target: str, kind: str, capacity: Capacity, build_dir: Path) -> dict:
    """One place-and-route run: its figures, or the tool's error (a build this benchmark finished
    before from the same Verilog is read back, not rebuilt)."""
    from secateurs.hw.build.fpga import build_bitstream, read_report

    design = Accelerator(capacity, kind=kind)
    stamp, seconds = build_dir / "design.sha256", build_dir / "seconds"
    digest = hashlib.sha256(export_verilog(design, name="top").encode()).hexdigest()
    point = {"target": target, "kind": kind, "bank_depth": capacity.bank_depth}
    try:
        finished = (build_dir / "top.tim").exists() and any(build_dir.glob("top.bi[tn]"))
        if finished and stamp.exists() and stamp.read_text() == digest:
            r = read_report(target, build_dir, seconds=float(seconds.read_text()))
        else:
            build_dir.mkdir(parents=True, exist_ok=True)
            r = build_bitstream(design, target=target, build_dir=build_dir)
            write_text(seconds, f"{r.seconds:.1f}")
            write_text(stamp, digest)
    except (RuntimeError, ValueError) as e:
        log = build_dir / "top.tim"
        over = [f"{name} {used}/{total}" for name, used, total in
                _UTILISATION.findall(log.read_text() if log.exists() else "")
                if int(used) > int(total)]
        reason = str(e).split("ERROR: ")[-1].split(";")[0]
        reason = " ".join(reason.replace("|", "/").split())[:160]
        return {**point, "error": (f"needs {', '.join(over)}; " if over else "") + reason}
    return {**point, "fmax": r.fmax_mhz, "luts": r.luts, "ffs": r.flip_flops,
            "seconds": r.seconds,
            **{kind: (r.used(kind), r.available(kind)) for kind in ("logic", "dsp", "bram",
                                                                    "spram")}}


def ladder(job: tuple[str, str]) -> list[dict]:
    """Build the points of ``(target, kind)`` in order, stopping after the first that fails."""
    target, kind = job
    base = base_capacity()
    points = []
    for depth in LADDERS[target]:
        capacity = base if depth is None else replace(base, bank_depth=depth)
        build_dir = OUT / f"{target}-{kind}-bank{capacity.bank_depth}"
        points.append(_build(target, kind, capacity, build_dir))
        if "error" in points[-1]:
            break
    return points


def digits_cycles() -> dict[str, float]:
    """Mean cycles per inference of the default digits model (trained, pruned, int8) over its
    test split, on each kind of the default design."""
    from secateurs import pipeline
    from secateurs.sw.data import load_dataset

    cfg = config.load(CONFIG, [f"seed={SEED}"])
    data = load_dataset(cfg.data, cfg.seed)
    model, _ = pipeline.train_model(cfg, data)
    pipeline.prune_model(cfg, data, model)
    qmodel = pipeline.quantize_model(cfg, data, model).model
    packed = container.decode(container.encode(qmodel, pes=DEFAULT.pes, index_bits=4, fmt="csc"))
    x = quantize_input(data.test.x.reshape(len(data.test), -1), qmodel.input_scale)
    return {kind: float(network_cycles(packed, x, queue_depth=DEFAULT.queue_depth,
                                       issue_width=DEFAULT.issue_width, array=kind).total.mean())
            for kind in KINDS}


def _row(r: dict, cycles: float) -> str:
    head = (f"| {r['target']} | {r['kind']} | {r['bank_depth']} | "
            f"{r['bank_depth'] * DEFAULT.pes} |")
    if "error" in r:
        return f"{head} **does not fit**: {r['error']} | | | | | | | |"
    cells = " | ".join(f"{r[k][0]}/{r[k][1]}" for k in ("logic", "dsp", "bram", "spram"))
    return (f"{head} fits | {r['luts']} | {r['ffs']} | {cells} | {r['fmax']:.1f} | "
            f"{cycles:.0f} × {1e3 / r['fmax']:.1f} ns = {cycles / r['fmax']:.1f} µs |")


def render(points: dict[tuple[str, str], list[dict]], cycles: dict[str, float]) -> str:
    base = base_capacity()
    lines = [
        "## FPGA capacity: the largest loadable design per target",
        "",
        f"`python -m bench fpga`: the {' and '.join(KINDS)} design, with the load port (no model baked in: "
        f"the UART shell loads model.bin), P = {base.pes}, D = {base.queue_depth}, "
        f"W = {base.issue_width}, {base.acc_bits}-bit accumulators, "
        f"{base.describe_words()}; layer table of {base.max_layers} layers, "
        f"≤ {base.max_rows} rows and ≤ {base.max_cols} columns a layer, {base.pointer_depth} "
        f"pointer and {base.param_depth} parameter words (what any 64-128-64-10 MLP needs). "
        "Each PE's weight bank is doubled from the depth that holds the dense digits MLP until "
        "place and route fails (YoWASP Yosys + nextpnr, `--seed 1`). Time per inference: the "
        "default digits model's (10 % density) mean cycles (cycle model over the test split; "
        + ", ".join(f"{kind} {n:.0f}" for kind, n in cycles.items())
        + ", the same at every bank depth) × the point's clock period.",
        "",
        "| target | design | bank words / PE | weight words | outcome | LUT4 | FF | logic cells "
        "| DSP | BRAM | SPRAM | Fmax (MHz) | cycles × period = time |",
        "|---|---|---:|---:|---|---:|---:|---|---|---|---|---:|---|",
    ]
    for (target, kind), rows in points.items():
        lines += [_row(r, cycles[kind]) for r in rows]
    lines.append("")
    for (target, kind), rows in points.items():
        fits = [r for r in rows if "error" not in r]
        if fits:
            best = fits[-1]
            lines.append(f"**{target}, {kind}**: the largest point that fits holds "
                         f"{best['bank_depth']} "
                         f"words per PE ({best['bank_depth'] * base.pes} weights in all) at "
                         f"{best['fmax']:.1f} MHz.")
        else:
            lines.append(f"**{target}, {kind}**: no point fits.")
    lines += ["", "BRAM counts EBR (iCE40: 4 kbit, ECP5: 18 kbit); SPRAM the UP5K's 256 kbit "
              "single-port RAMs. Build seconds: " + ", ".join(
                  f"{r['target']} {r['kind']} {r['bank_depth']}: {r['seconds']:.0f} s"
                  for rows in points.values() for r in rows if "error" not in r) + "."]
    return "\n".join(lines)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    jobs = [(target, kind) for kind in KINDS for target in LADDERS]
    with ProcessPoolExecutor(FPGA_JOBS) as pool:
        runs = pool.map(ladder, jobs)
        cycles = digits_cycles()
        points = dict(zip(jobs, runs))
    write_section("fpga", render(points, cycles))


if __name__ == "__main__":
    main()
