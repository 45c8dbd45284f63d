"""The report's curves: the run's recipe at several densities, each proved on the sparse RTL.

Every point starts from the run's dense model and repeats its prune → quantize → pack steps
at another density (the run's own density is its model.bin, made by the same steps); its realised speedup is measured on the RTL of the sparse accelerator
(logits bit-exact, cycles equal to the model) over the first ``report.rtl_samples`` test
images, against the dense twin, whose cycles per inference do not depend on the input.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import atomic, pipeline
from .errors import SimulationError
from .flow import Run


def _point(run: Run, density: float, images: np.ndarray, labels: np.ndarray,
           dense_cycles: float) -> dict:
    from .sim.network import build_accelerator
    from .sim.tb.scoreboard import Scoreboard
    from .sw import metrics
    from .sw.cycles import network_cycles
    from .sw.formats import container
    from .sw.reference import quantize_input
    from .sw.train import accuracy

    cfg = dataclasses.replace(run.cfg, prune=dataclasses.replace(run.cfg.prune, density=density))
    if density == run.cfg.prune.density:  # the run's own point: its steps made this model
        data = run.path("model.bin").read_bytes()
        pruned_accuracy = run.summary["pruned_accuracy"]
    else:
        model = run.load_model("dense.pt")
        pipeline.prune_model(cfg, run.data, model)
        pruned_accuracy = accuracy(model, run.data.test)
        qmodel = pipeline.quantize_model(cfg, run.data, model).model
        data = pipeline.pack_model(cfg, run.data, qmodel).data
    packed = container.decode(data)
    layers = packed.model.layers
    x = quantize_input(images.reshape(len(images), -1), packed.model.input_scale).astype(np.int64)

    design = build_accelerator(packed, kind="sparse", hw=cfg.hardware, build_root=run.build_root)
    ran = design.run(packed, x)
    board = Scoreboard(packed, x, labels)
    board.check_logits(f"sparse (density {density:g})", ran.logits, ran.predicted)
    model_cycles = network_cycles(packed, x, queue_depth=cfg.hardware.queue_depth,
                                  issue_width=cfg.hardware.issue_width, array="sparse")
    board.check_cycles(f"sparse (density {density:g})", ran.counters["cycles"], model_cycles.total)
    sparse_cycles = float(np.mean(ran.counters["cycles"]))
    return {
        "density": metrics.density(layers), "target_density": density,
        "pruned_accuracy": pruned_accuracy,
        "quantized_accuracy": pipeline.reference_accuracy(packed.model, run.data.test),
        "compression_ratio": metrics.compression_ratio(layers, len(data)),
        "theoretical_speedup": metrics.theoretical_speedup(layers),
        "cycles_per_inference_sparse": sparse_cycles,
        "cycles_per_inference_dense": dense_cycles,
        "realised_speedup": dense_cycles / sparse_cycles,
        "rtl_samples": len(x),
    }


def density_sweep(run: Run) -> list[dict]:
    """One point per density of ``report.densities`` plus the run's own; writes sweep.json."""
    cfg = run.cfg
    dense = run.summary["cycles_per_inference_dense"]
    if dense["min"] != dense["max"]:
        raise SimulationError("the dense twin's cycles per inference depend on the input; "
                              "the sweep's realised speedups would not be comparable")
    test = run.data.test
    n = cfg.report.rtl_samples or len(test)
    densities = sorted({*cfg.report.densities, cfg.prune.density}, reverse=True)
    points = []
    with run.reporter.track("density sweep", len(densities)) as advance:
        for d in densities:
            run.reporter.log(f"[sweep] density {d:g}")
            points.append(_point(run, d, test.x[:n], test.y[:n], float(dense["mean"])))
            advance(1)
    atomic.write_json(run.path("sweep.json"), points)
    return points
