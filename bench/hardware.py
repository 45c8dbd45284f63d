"""Hardware benchmark: the whole-network accelerator beside its dense twin.

Measures, on the digits MLP (64-128-64-10, 10 % density, int8):

* cycles per inference on the Verilator RTL, sparse and dense, for P x D, against the model;
* load-balance efficiency η = ceil(useful MACs / P) / compute cycles at P = 8, D = 1, 2, 4, 8,
  for unstructured and PE-balanced pruning, and the realised speedup over the dense twin;
* LUT / FF / DSP / BRAM and Fmax after place and route (YoWASP Yosys + nextpnr), sparse vs
  dense at P = 1, 2, 4, 8 on an ECP5-25k, the default (P = 4) on an iCE40 UP5K, and the time
  per inference = cycles x clock period.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from secateurs import config
from secateurs.config import HardwareConfig
from secateurs.hw.accelerator import Accelerator
from secateurs.hw.image import network_image
from secateurs.sw.cycles import network_cycles
from secateurs.sw.formats import container
from secateurs.sw.reference import classify, forward, quantize_input

from .sections import write_section

SAMPLES = 100  #: test images per RTL run
PES = (1, 2, 4, 8)
QUEUE_DEPTHS = (1, 2, 4, 8)
RTL_GRID = [(p, d) for p in (1, 4, 8) for d in (1, 4, 8)]  #: (P, D) simulated on Verilator
ETA_PES = 8
FPGA_JOBS = 2  #: place-and-route runs at once (one per core)
DEFAULT_QUEUE_DEPTH = 4
SEED = 0
#: Where the bitstreams and builds stay (runs/ is the project's ignored output folder).
OUT = Path(__file__).resolve().parent.parent / "runs" / "bench-hardware"


def _train(structure: str, pes: int):
    """The default flow's model (full training), pruned with ``structure``; int8 QuantModel."""
    from secateurs.sw import prune
    from secateurs.sw.data import load_dataset
    from secateurs.sw.models import build_model
    from secateurs.sw.quantize import quantize_model
    from secateurs.sw.train import train

    cfg = config.load(Path(__file__).resolve().parent.parent / "configs" / "digits_mlp.toml")
    data = load_dataset(cfg.data, SEED)
    model = build_model(cfg.model, data.features, data.classes, SEED)
    train(model, data, epochs=cfg.train.epochs, lr=cfg.train.lr,
          weight_decay=cfg.train.weight_decay, batch_size=cfg.train.batch_size, seed=SEED)
    prune.prune(model, density=cfg.prune.density, structure=structure, seed=SEED,
                options=prune.options_of(cfg.prune, pes))
    train(model, data, epochs=cfg.prune.finetune_epochs, lr=cfg.prune.finetune_lr,
          batch_size=cfg.train.batch_size, seed=SEED + 1)
    prune.squash(prune.prunable(model))
    qmodel = quantize_model(model, data.train.x, cfg.quant)
    x = quantize_input(data.test.x, qmodel.input_scale)
    return qmodel, x, data.test.y


def _pack(qmodel, pes: int):
    return container.decode(container.encode(qmodel, pes=pes, index_bits=4, fmt="csc"))


def _useful_macs(packed, x) -> np.ndarray:
    acts = [x, *forward(packed.model, x)[:-1]]
    return sum(((a != 0).astype(np.int64) @ (q.weight != 0).T.astype(np.int64)).sum(axis=1)
               for q, a in zip(packed.model.layers, acts))


def _fpga(args):
    """One place-and-route run (in a worker process): its report as a dict, or the error."""
    from secateurs.hw.fpga import build_bitstream, read_report

    qmodel_bytes, kind, pes, target, build_dir = args
    packed = container.decode(qmodel_bytes)
    design = Accelerator(network_image(packed), kind=kind, queue_depth=DEFAULT_QUEUE_DEPTH)
    stamp = Path(build_dir) / "model.sha256"
    digest = hashlib.sha256(qmodel_bytes).hexdigest()
    try:
        finished = (Path(build_dir) / "top.tim").exists() and any(Path(build_dir).glob("top.bi[tn]"))
        if finished and (not stamp.exists() or stamp.read_text() == digest):
            # Built by an earlier run of this benchmark: same seeded training, same model.
            seconds = Path(build_dir) / "seconds"
            r = read_report(target, build_dir,
                            seconds=float(seconds.read_text()) if seconds.exists() else 0.0)
        else:
            r = build_bitstream(design, target=target, build_dir=build_dir)
            (Path(build_dir) / "seconds").write_text(f"{r.seconds:.1f}")
            stamp.write_text(digest)
    except (RuntimeError, ValueError) as e:
        return {"kind": kind, "pes": pes, "target": target, "error": str(e)[:300]}
    return {"kind": kind, "pes": pes, "target": target, "fmax": r.fmax_mhz, "luts": r.luts,
            "ffs": r.flip_flops, "logic": (r.used("logic"), r.available("logic")),
            "dsp": (r.used("dsp"), r.available("dsp")), "bram": (r.used("bram"), r.available("bram")),
            "bitstream": str(r.bitstream), "seconds": r.seconds,
            "bytes": r.bitstream.stat().st_size if r.bitstream.exists() else 0}


def _rtl_cycles(qmodel, x, build_root):
    """Mean cycles per inference on the RTL (checked bit-exact) and in the model, per (P, D)."""
    from secateurs.sim.network import run_network

    rows = []
    for pes, depth in RTL_GRID:
        packed = _pack(qmodel, pes)
        kinds = ("sparse", "dense") if depth == min(d for q, d in RTL_GRID if q == pes) \
            else ("sparse",)
        results = run_network(packed, x, hw=HardwareConfig(pes=pes, queue_depth=depth),
                              build_root=build_root, kinds=kinds)
        for kind, (result, model) in results.items():
            rows.append({"kind": kind, "pes": pes, "depth": depth if kind == "sparse" else None,
                         "rtl": float(result.cycles.mean()), "model": float(model.mean()),
                         "exact": bool((result.cycles == model).all()),
                         "accuracy": None})
    return rows


def _layer_balance(qmodel, x, pes, depth):
    """Per layer: mean ⌈useful MACs / P⌉, mean broadcast columns (at most one a cycle), mean
    compute cycles, from the cycle model."""
    packed = _pack(qmodel, pes)
    acts = [x, *forward(packed.model, x)[:-1]]
    cycles = network_cycles(packed, x, queue_depth=depth, array="sparse").compute
    rows = []
    for i, (q, csc, a) in enumerate(zip(packed.model.layers, packed.layers, acts)):
        useful = ((a != 0).astype(np.int64) @ (q.weight != 0).T.astype(np.int64)).sum(axis=1)
        sent = ((a != 0) & csc.counts().any(axis=0)).sum(axis=1)
        rows.append((i, q.cols, q.rows, float(np.mean(-(-useful // pes))), float(sent.mean()),
                     float(cycles[i].mean())))
    return rows


def _eta(qmodel, x, pes):
    packed = _pack(qmodel, pes)
    useful = _useful_macs(packed, x)
    dense = network_cycles(packed, x, queue_depth=1, array="dense").total
    out = {}
    for depth in QUEUE_DEPTHS:
        cycles = network_cycles(packed, x, queue_depth=depth, array="sparse")
        compute = cycles.compute.sum(axis=0)
        out[depth] = (float(np.mean(-(-useful // pes) / compute)), float(np.mean(dense / cycles.total)),
                      float(cycles.total.mean()))
    return out


def _fmt_fpga(r):
    if "error" in r:
        return f"| {r['target']} | {r['kind']} | {r['pes']} | did not build: {r['error'][:120]} | | | | | | |"
    return (f"| {r['target']} | {r['kind']} | {r['pes']} | {r['luts']} | {r['ffs']} | "
            f"{r['logic'][0]}/{r['logic'][1]} | "
            f"{r['dsp'][0]}/{r['dsp'][1]} | {r['bram'][0]}/{r['bram'][1]} | {r['fmax']:.1f} | "
            f"{r['cycles']:.0f} × {1e3 / r['fmax']:.1f} ns = {r['cycles'] / r['fmax']:.1f} µs |")


def main() -> None:
    qmodel, x_all, y = _train("unstructured", ETA_PES)
    balanced, xb_all, _ = _train("pe_balanced", ETA_PES)
    x, xb = x_all[:SAMPLES], xb_all[:SAMPLES]
    work = OUT
    work.mkdir(parents=True, exist_ok=True)

    jobs = [(container.encode(qmodel, pes=4, index_bits=4, fmt="csc"), "sparse", 4, "ice40-up5k",
             str(work / "up5k-sparse-4"))]
    jobs += [(container.encode(qmodel, pes=p, index_bits=4, fmt="csc"), kind, p, "ecp5-25k",
              str(work / f"ecp5-{kind}-{p}")) for p in PES for kind in ("sparse", "dense")]
    with ProcessPoolExecutor(FPGA_JOBS) as pool:
        fpga = list(pool.map(_fpga, jobs))

    rtl = _rtl_cycles(qmodel, x, work / "rtl")
    eta = {"unstructured": _eta(qmodel, x, ETA_PES), "PE-balanced": _eta(balanced, xb, ETA_PES)}
    modelled = {}
    for r in fpga:
        packed = _pack(qmodel, r["pes"])
        modelled[r["pes"], r["kind"]] = float(network_cycles(
            packed, x, queue_depth=DEFAULT_QUEUE_DEPTH, array=r["kind"]).total.mean())
        r["cycles"] = modelled[r["pes"], r["kind"]]
    accuracy = float((classify(forward(_pack(qmodel, 4).model, x_all)[-1]) == y).mean())

    lines = [
        "## Hardware: whole-network accelerator vs its dense twin",
        "",
        f"Digits MLP 64-128-64-10, global magnitude pruning to 10 % density, int8, CSC with 4-bit "
        f"relative indices (quantized test accuracy {accuracy:.3f}). Cycles are per inference, "
        f"averaged over {SAMPLES} test images; every RTL run below was bit-exact (logits and class) "
        f"against the integer reference.",
        "",
        "### Cycles on the RTL (Verilator) vs the cycle model",
        "",
        "| design | P | D | RTL cycles | model cycles | equal on every image |",
        "|---|---|---|---|---|---|",
        *(f"| {r['kind']} | {r['pes']} | {r['depth'] or '–'} | {r['rtl']:.1f} | {r['model']:.1f} | "
          f"{'yes' if r['exact'] else 'NO'} |" for r in rtl),
        "",
        f"### Load balance at P = {ETA_PES} (η = ⌈useful MACs / P⌉ ÷ compute cycles; speedup = "
        "dense cycles ÷ sparse cycles, whole inference)",
        "",
        "| pruning | D | η | cycles | speedup over dense |",
        "|---|---|---|---|---|",
        *(f"| {name} | {d} | {v[0]:.3f} | {v[2]:.1f} | {v[1]:.2f}× |"
          for name, table in eta.items() for d, v in table.items()),
        "",
        f"Where the time goes at P = {ETA_PES}, D = 8, unstructured (means per inference):",
        "",
        "| layer | inputs × outputs | ⌈useful MACs / P⌉ | columns broadcast | compute cycles |",
        "|---|---|---|---|---|",
        *(f"| {i} | {c} × {r} | {u:.1f} | {b:.1f} | {cyc:.1f} |"
          for i, c, r, u, b, cyc in _layer_balance(qmodel, x, ETA_PES, 8)),
        "",
        "A column costs at least one broadcast cycle, so a layer whose columns hold fewer than P "
        "useful MACs (the 10-output layer, and the 64-output one at 10 % density: 6.4 nonzeros "
        "per column over 8 PEs) is bound by the broadcast rate, not by the PEs; the queues can "
        "only balance the PEs. Its η is capped near (MACs per column) / P whatever D is.",
        "",
        "η comes from the cycle model, which the RTL table above shows exact on every image. "
        "Compute cycles exclude the drain (one row a cycle through the single requantizer, plus "
        "4 cycles of latency per layer), which both designs pay alike.",
        "",
        "### FPGA: resources, Fmax and time per inference (YoWASP Yosys + nextpnr, D = 4)",
        "",
        "| target | design | P | LUT4 | FF | logic cells | DSP | BRAM | Fmax (MHz) | "
        "cycles × period = time |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(_fmt_fpga(r) for r in fpga),
        "",
        f"LUT4 and FF are Yosys's counts after synthesis; logic cells are nextpnr's placed "
        f"ICESTORM_LC (a LUT4 and a FF each) or TRELLIS_COMB. "
        f"BRAM counts EBR (iCE40: 4 kbit, ECP5: 18 kbit); weights, pointers and requantization "
        f"parameters are ROMs initialised in the bitstream. Synthesis, place and route took "
        f"{sum(r.get('seconds', 0) for r in fpga):.0f} s over the {len(fpga)} runs, two at a "
        f"time (a build this run finds finished for the same model bytes is reused).",
    ]
    up5k = fpga[0]
    if "error" not in up5k:
        lines.append(f"The default design (sparse, P = 4) on the iCE40 UP5K: bitstream "
                     f"{Path(up5k['bitstream']).name}, {up5k['bytes']} bytes, built in "
                     f"{up5k['seconds']:.0f} s.")
    write_section("hardware", "\n".join(lines))
