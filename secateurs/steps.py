"""The flow's steps, in order. Each reads its inputs from the run folder and returns summary fields.

Retraining happens inside ``prune``: a schedule interleaves its prune and retrain rounds (one
round for one-shot pruning, k for iterative pruning, pruning inside training for AGP).
"""

from __future__ import annotations

import io

from . import atomic
from .errors import ConfigError
from .flow import Run, Step


def _save_model(run: Run, name: str, model) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    atomic.write_bytes(run.path(name), buffer.getvalue())


def _recipe(run: Run):
    from .sw.prune.retrain import Recipe

    t = run.cfg.train
    return Recipe(epochs=t.epochs, lr=t.lr, weight_decay=t.weight_decay, batch_size=t.batch_size,
                  lr_schedule=t.lr_schedule)


def train(run: Run) -> dict:
    from .sw.train import accuracy
    from .sw.train import train as fit

    t = run.cfg.train
    model = run.fresh_model()
    with run.reporter.track("train (epochs)", t.epochs) as advance:
        result = fit(model, run.data, epochs=t.epochs, lr=t.lr, weight_decay=t.weight_decay,
                     batch_size=t.batch_size, seed=run.cfg.seed, lr_schedule=t.lr_schedule,
                     on_epoch=lambda epoch, val: advance(1))
    _save_model(run, "dense.pt", model)
    return {"dense_accuracy": accuracy(model, run.data.test),
            "dense_val_accuracy": result.best_val_accuracy, "dense_best_epoch": result.best_epoch}


def prune(run: Run) -> dict:
    """Score, structure, scope, schedule and retraining exactly as ``[prune]`` says."""
    from .sw import prune as pruning
    from .sw.prune.retrain import prune_and_retrain, replay_checkpoints
    from .sw.train import accuracy

    cfg = run.cfg
    model = run.load_model("dense.pt")
    init, rewind = replay_checkpoints(cfg.prune, run.fresh_model, run.data, _recipe(run), seed=cfg.seed)
    result = prune_and_retrain(model, run.data, cfg.prune, _recipe(run), seed=cfg.seed, init=init,
                               rewind=rewind, pes=cfg.hardware.pes)
    pruning.squash(pruning.prunable(model))
    _save_model(run, "model.pt", model)
    return {"pruned_accuracy": accuracy(model, run.data.test),
            "pruned_val_accuracy": result.val_accuracy[-1],
            "density": pruning.density_of(model), "prune_steps": result.densities}


def _reference_accuracy(qmodel, split) -> float:
    from .sw.reference import predict

    return float((predict(qmodel, split.x) == split.y).mean())


def quantize(run: Run) -> dict:
    from .sw.checkpoint import save_quant_model
    from .sw.quantize import quantize as quantize_model

    cfg = run.cfg
    quantized = quantize_model(run.load_model("model.pt"), run.data, cfg.quant, seed=cfg.seed,
                               batch_size=cfg.train.batch_size)
    save_quant_model(run.path("quantized.npz"), quantized.model)
    return {**quantized.steps, "quantized_accuracy": _reference_accuracy(quantized.model, run.data.test)}


def pack(run: Run) -> dict:
    """model.bin, read back and checked to compute exactly what the quantized model computes."""
    from .sw import metrics
    from .sw.balance import balance_rows
    from .sw.checkpoint import load_quant_model
    from .sw.formats import container
    from .sw.reference import quantize_input

    cfg = run.cfg
    qmodel = load_quant_model(run.path("quantized.npz"))
    if cfg.pack.balance_rows:
        calibration = quantize_input(run.data.train.x, qmodel.input_scale)
        qmodel = balance_rows(qmodel, cfg.hardware.pes, calibration)
    index_bits = cfg.pack.index_bits or container.common_index_bits(qmodel, pes=cfg.hardware.pes)
    size = container.save(run.path("model.bin"), qmodel, pes=cfg.hardware.pes, index_bits=index_bits,
                          fmt=cfg.pack.format, n=cfg.prune.n, m=cfg.prune.m)
    layers = run.packed().model.layers
    return {"format": cfg.pack.format, "index_bits": index_bits, "model_bytes": size,
            "compression_ratio": metrics.compression_ratio(layers, size),
            "theoretical_speedup": metrics.theoretical_speedup(layers),
            "quantized_density": metrics.density(layers)}


def rtl(run: Run) -> dict:
    from .hw.build.lint import write_checked_accelerators
    from .hw.image import network_image

    try:
        described = write_checked_accelerators(run.path("rtl"), network_image(run.packed()),
                                               **run.cfg.hardware.design())
    except ValueError as e:
        raise ConfigError(f"cannot generate or check the accelerators: {e}") from None
    return {"rtl": {kind: described[kind]["file"] for kind in ("sparse", "dense")}}


def simulate(run: Run) -> dict:
    """The test split through both accelerators: bit-exact logits, cycles equal to the model."""
    from .sim.inference import simulate as simulate_run

    samples = run.cfg.sim.samples or None
    s = simulate_run(run.out, samples=samples, build_root=run.build_root, power=False,
                     log=run.reporter.log)
    layers = []
    for entry in s["layers"]:
        # Per layer: the accelerator's share by the cycle model (whose sum the RTL total
        # matches exactly), and the layer on its own on the single-layer arrays (RTL).
        row = {"layer": entry["layer"], "rows": entry["rows"], "cols": entry["cols"]}
        for kind in ("sparse", "dense"):
            row[f"cycles_{kind}"] = entry[kind]["cycles"]["total"]
            if "array_cycles" in entry[kind]:
                row[f"array_cycles_{kind}"] = entry[kind]["array_cycles"]["total"]
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
    p = measure_power(run.out, samples=samples, build_root=run.build_root, log=run.reporter.log)
    return {
        "energy": {k: p[k]["energy_pj"]["by_event"] for k in ("sparse", "dense")},
        "energy_pj_per_inference": {k: p[k]["energy_pj"]["total"] for k in ("sparse", "dense")},
        "toggles": {k: {b: v["toggles"] for b, v in p[k]["toggles"]["by_block"].items()}
                    for k in ("sparse", "dense")},
        "activity_factor": {k: p[k]["toggles"]["alpha"] for k in ("sparse", "dense")},
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
    Step("rtl", rtl, ("hardware",), ("rtl/sparse_accelerator.v", "rtl/dense_accelerator.v"),
         "Verilog of the accelerator and its dense twin, linted and parsed"),
    Step("simulate", simulate, ("sim",), ("sim/summary.json",),
         "the test split on the RTL under Verilator, sparse and dense"),
    Step("power", power, ("sim",), ("sim/power.json",), "switching activity and event energy"),
    Step("sweep", sweep, ("report",), ("sweep.json",),
         "densities pruned, packed and run on the sparse RTL for the report's curves"),
    Step("report", report, (), ("report.md", "report.html"), "report.md and report.html"),
)
