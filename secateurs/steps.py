"""The flow's steps, in order. Each reads its inputs from the run folder and returns summary fields.

Retraining happens inside ``prune``: a schedule interleaves its prune and retrain rounds (one
round for one-shot pruning, k for iterative pruning, pruning inside training for AGP).
"""

from __future__ import annotations

import io

from . import atomic, pipeline
from .errors import ConfigError, InputError
from .flow import STEPS_FILE, Run, Step


def _save_model(run: Run, name: str, model) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    atomic.write_bytes(run.path(name), buffer.getvalue())


def train(run: Run) -> dict:
    from .sw.train import accuracy

    with run.reporter.track("train (epochs)", run.cfg.train.epochs) as advance:
        model, result = pipeline.train_model(run.cfg, run.data,
                                             on_epoch=lambda epoch, val: advance(1))
    _save_model(run, "dense.pt", model)
    return {"dense_accuracy": accuracy(model, run.data.test),
            "dense_val_accuracy": result.best_val_accuracy, "dense_best_epoch": result.best_epoch}


def prune(run: Run) -> dict:
    """Score, structure, scope, schedule and retraining exactly as ``[prune]`` says."""
    from .sw.prune import density_of
    from .sw.train import accuracy

    from .sw.prune import prunable

    model = run.load_model("dense.pt")
    result = pipeline.prune_model(run.cfg, run.data, model)
    _save_model(run, "model.pt", model)
    empty = [name for name, m in prunable(model).items() if not m.weight.count_nonzero()]
    for name in empty:
        run.reporter.log(f"[prune] warning: layer {name} is pruned empty (every weight is zero: "
                         f"its outputs are its bias alone)")
    return {"pruned_accuracy": accuracy(model, run.data.test),
            "pruned_val_accuracy": result.val_accuracy[-1],
            "density": density_of(model), "prune_steps": result.densities,
            "empty_layers": empty}


def quantize(run: Run) -> dict:
    from .sw.checkpoint import save_quant_model

    quantized = pipeline.quantize_model(run.cfg, run.data, run.load_model("model.pt"))
    save_quant_model(run.path("quantized.npz"), quantized.model)
    accuracy = pipeline.reference_accuracy(quantized.model, run.data.test)
    return {**quantized.steps, "quantized_accuracy": accuracy}


def pack(run: Run) -> dict:
    """model.bin, read back and checked to compute exactly what the quantized model computes."""
    from .sw import metrics
    from .sw.checkpoint import load_quant_model

    made = pipeline.pack_model(run.cfg, run.data, load_quant_model(run.path("quantized.npz")))
    atomic.write_bytes(run.path("model.bin"), made.data)
    layers = run.packed().model.layers
    empty = metrics.empty_layers(layers)
    for i in empty:
        run.reporter.log(f"[pack] warning: layer {i} of model.bin has no nonzero weight "
                         f"(quantized to zero or pruned empty)")
    return {"format": run.cfg.pack.format, "index_bits": made.index_bits,
            "empty_packed_layers": empty,
            "model_bytes": len(made.data),
            "compression_ratio": metrics.compression_ratio(layers, len(made.data)),
            "theoretical_speedup": metrics.theoretical_speedup(layers),
            "quantized_density": metrics.density(layers)}


def rtl(run: Run) -> dict:
    """The capacity's Verilog (model-independent) and the model's load words for each design;
    a layer the accelerator cannot run is refused in one line naming it."""
    from .rtl import hardware_image, write_rtl

    try:
        image = hardware_image(run.packed())
        described = write_rtl(run.path("rtl"), image, run.cfg.hardware)
    except InputError as e:
        raise ConfigError(f"{e}; train, prune, quantize and pack are done in {str(run.out)!r} "
                          f"(their figures in {STEPS_FILE})") from None
    except ValueError as e:
        raise ConfigError(f"cannot generate or check the accelerators: {e}") from None
    return {"rtl": {kind: described[kind]["file"] for kind in ("sparse", "dense")},
            "load": {kind: described[kind]["load"] for kind in ("sparse", "dense")},
            "capacity": described["capacity"]}


def simulate(run: Run) -> dict:
    """The test split through both accelerators: bit-exact logits, cycles equal to the model."""
    from .sim.inference import simulate as simulate_run

    samples = run.cfg.sim.samples or None
    s = simulate_run(run.out, samples=samples, build_root=run.build_root, power=False,
                     log=run.reporter.log)
    layers = []
    for entry in s["layers"]:
        # Per layer: the accelerator's share by the cycle model (whose sum the RTL total
        # matches exactly), its compute part, and the layer on its own as a one-layer network
        # on the same engine (RTL; its compute cycles).
        row = {key: entry[key] for key in ("layer", "kind", "shape", "rows", "cols")}
        for kind in ("sparse", "dense"):
            row[f"cycles_{kind}"] = entry[kind]["cycles"]["total"]
            row[f"compute_cycles_{kind}"] = entry[kind]["compute_cycles"]["total"]
            if "array_cycles" in entry[kind]:
                row[f"array_cycles_{kind}"] = entry[kind]["array_cycles"]["total"]
        if "alone" in entry:
            row["alone"] = entry["alone"]
        layers.append(row)
    return {
        "hardware_accuracy": s["hardware_accuracy"], "hardware_samples": s["samples"],
        "quantized_accuracy_on_hardware_samples": s["reference_accuracy"],
        **{f"cycles_{k}": s[k]["cycles"]["total"] for k in ("sparse", "dense")},
        **{f"expected_cycles_{k}": s[k]["expected_cycles"]["total"] for k in ("sparse", "dense")},
        **{f"cycles_per_inference_{k}": s[k]["cycles"] for k in ("sparse", "dense")},
        "realised_speedup": s["realised_speedup"], "layers": layers,
    }


def power(run: Run) -> dict:
    """Event energy and switching activity per inference, sparse vs dense."""
    from .sim.inference import measure_power

    samples = run.cfg.sim.samples or None
    p = measure_power(run.out, samples=samples,
                      activity_samples=run.cfg.sim.activity_samples or None,
                      build_root=run.build_root, log=run.reporter.log)
    return {
        "energy": {k: p[k]["energy_pj"]["by_event"] for k in ("sparse", "dense")},
        "energy_pj_per_inference": {k: p[k]["energy_pj"]["total"] for k in ("sparse", "dense")},
        "toggles": {k: {b: v["toggles"] for b, v in p[k]["toggles"]["by_block"].items()}
                    for k in ("sparse", "dense")},
        "activity_factor": {k: p[k]["toggles"]["alpha"] for k in ("sparse", "dense")},
        "activity_samples": p["activity_samples"],
    }


def sweep(run: Run) -> dict:
    from .density_sweep import density_sweep

    return {"density_sweep": density_sweep(run)}


def report(run: Run) -> dict:
    from .report import write_report

    return {"report_figures": write_report(run.out, run.summary)}


STEPS: tuple[Step, ...] = (
    Step("train", train, ("seed", "data", "model", "train"), ("dense.pt",),
         "dense training, best epoch on the validation split"),
    Step("prune", prune, ("prune", "hardware.pes"), ("model.pt",),
         "scores, structure, scope and schedule, with retraining rounds"),
    Step("quantize", quantize, ("quant",), ("quantized.npz",), "integer weights and requantization"),
    Step("pack", pack, ("pack", "hardware.pes", "prune.n", "prune.m"), ("model.bin",),
         "model.bin, read back and validated"),
    Step("rtl", rtl, ("hardware",), ("rtl/sparse_accelerator.v", "rtl/dense_accelerator.v",
                                     "rtl/model.sparse.load", "rtl/model.dense.load"),
         "Verilog of the accelerator and its dense twin, linted and parsed"),
    Step("simulate", simulate, ("sim",), ("sim/summary.json",),
         "the test split on the RTL under Verilator, sparse and dense"),
    Step("power", power, ("sim",), ("sim/power.json",), "switching activity and event energy"),
    Step("sweep", sweep, ("report",), ("sweep.json",),
         "densities pruned, packed and run on the sparse RTL for the report's curves"),
    Step("report", report, (), ("report.md", "report.html"), "report.md and report.html"),
)
