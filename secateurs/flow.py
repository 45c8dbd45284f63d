"""The flow: named steps over one frozen config, from data to cycles on the RTL.

train → prune (+ fine-tune) → quantize → pack → rtl → simulate → summary. Each step reads what
earlier steps left in a shared :class:`Run` and writes its artifacts into the run folder
atomically, so an interrupted flow never leaves a half-written file behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import atomic
from .config import FlowConfig, to_dict
from .errors import SimulationError
from .hw.export import write_verilog
from .sim.layer import build_array
from .sw import metrics, prune
from .sw.data import Dataset, load_dataset
from .sw.formats import container
from .sw.models import build_model
from .sw.quantize import quantize
from .sw.reference import accumulate, classify, quantize_input, requantize
from .sw.train import accuracy, train

#: Keys of summary.json other tools rely on (DESIGN.md); the flow fails rather than omit one.
SUMMARY_KEYS = (
    "dense_accuracy", "pruned_accuracy", "quantized_accuracy", "hardware_accuracy",
    "hardware_samples", "density", "compression_ratio", "theoretical_speedup", "cycles_sparse",
    "cycles_dense", "expected_cycles_sparse", "expected_cycles_dense", "realised_speedup",
)
ARRAYS = ("sparse", "dense")


@dataclass
class Run:
    """What the steps share: the config, the output folder, and each step's results."""

    cfg: FlowConfig
    out: Path
    #: Where Verilator builds are cached (keyed by their parameters, so it may be shared).
    build_root: Path
    log: Callable[[str], None] = print
    data: Dataset | None = None
    model: torch.nn.Module | None = None
    packed: container.PackedModel | None = None
    summary: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def step_train(run: Run) -> None:
    cfg = run.cfg
    run.data = load_dataset(cfg.data, cfg.seed)
    run.model = build_model(cfg.model, run.data.features, run.data.classes, cfg.seed)
    result = train(run.model, run.data, epochs=cfg.train.epochs, lr=cfg.train.lr,
                   weight_decay=cfg.train.weight_decay, batch_size=cfg.train.batch_size,
                   seed=cfg.seed)
    run.summary["dense_accuracy"] = accuracy(run.model, run.data.test)
    run.summary["dense_val_accuracy"] = result.best_val_accuracy


def step_prune(run: Run) -> None:
    """Score, structure, scope, schedule and retraining exactly as ``[prune]`` says."""
    from .sw.prune.retrain import Recipe, prune_and_retrain, replay_checkpoints

    cfg, model = run.cfg, run.model
    recipe = Recipe(epochs=cfg.train.epochs, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                    batch_size=cfg.train.batch_size)
    init, rewind = replay_checkpoints(
        cfg.prune, lambda: build_model(cfg.model, run.data.features, run.data.classes, cfg.seed),
        run.data, recipe, seed=cfg.seed)
    result = prune_and_retrain(model, run.data, cfg.prune, recipe, seed=cfg.seed, init=init,
                               rewind=rewind, pes=cfg.hardware.pes)
    prune.squash(prune.prunable(model))
    run.summary["pruned_accuracy"] = accuracy(model, run.data.test)
    run.summary["pruned_val_accuracy"] = result.val_accuracy[-1]
    run.summary["density"] = prune.density_of(model)
    atomic.write_bytes(run.out / "model.pt", _state_dict_bytes(model))


def _state_dict_bytes(model: torch.nn.Module) -> bytes:
    import io
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def step_quantize_pack(run: Run) -> None:
    cfg = run.cfg
    quantized = quantize(run.model, run.data, cfg.quant, seed=cfg.seed,
                         batch_size=cfg.train.batch_size)
    index_bits = cfg.pack.index_bits or container.common_index_bits(quantized.model,
                                                                    pes=cfg.hardware.pes)
    size = container.save(run.out / "model.bin", quantized.model, pes=cfg.hardware.pes,
                          index_bits=index_bits, fmt=cfg.pack.format, n=cfg.prune.n, m=cfg.prune.m)
    # Everything downstream reads the file back, exactly as hw/ and sim/ would.
    run.packed = container.load(run.out / "model.bin")
    layers = run.packed.model.layers
    test = run.data.test
    predictions = classify(_reference_logits(run.packed, test.x))
    run.summary.update(quantized.steps)
    run.summary["quantized_accuracy"] = float((predictions == test.y).mean())
    run.summary["model_bytes"] = size
    run.summary["compression_ratio"] = metrics.compression_ratio(layers, size)
    run.summary["theoretical_speedup"] = metrics.theoretical_speedup(layers)
    run.summary["quantized_density"] = metrics.density(layers)


def _reference_logits(packed: container.PackedModel, x: np.ndarray) -> np.ndarray:
    a = quantize_input(x, packed.model.input_scale)
    for layer in packed.model.layers:
        a = requantize(accumulate(layer.weight, a), layer.bias, layer.multiplier, layer.shift,
                       layer.relu)
    return a


def _array_shape(packed: container.PackedModel) -> tuple[int, int]:
    """The array is built once, big enough for the largest layer of the network."""
    return (max(l.rows for l in packed.model.layers), max(l.cols for l in packed.model.layers))


def step_rtl(run: Run) -> None:
    rows, cols = _array_shape(run.packed)
    for kind in ARRAYS:
        write_verilog(run.out / "rtl" / f"{kind}_array.v", kind=kind, hw=run.cfg.hardware,
                      rows=rows, cols=cols, index_bits=run.packed.index_bits)


def step_simulate(run: Run) -> None:
    """Run the test images layer by layer on both RTL arrays; every layer checked bit-exact."""
    packed, test, hw = run.packed, run.data.test, run.cfg.hardware
    n = len(test) if run.cfg.sim.samples == 0 else min(run.cfg.sim.samples, len(test))
    rows, cols = _array_shape(packed)
    arrays = {kind: build_array(kind, rows=rows, cols=cols, hw=hw, index_bits=packed.index_bits,
                                build_root=run.build_root) for kind in ARRAYS}
    x = quantize_input(test.x[:n], packed.model.input_scale)
    cycles = {kind: 0 for kind in ARRAYS}
    expected = {kind: 0 for kind in ARRAYS}
    per_layer = []
    for i, (layer, csc) in enumerate(zip(packed.model.layers, packed.layers)):
        acc = accumulate(layer.weight, x)
        entry = {"layer": i, "rows": layer.rows, "cols": layer.cols}
        for kind, array in arrays.items():
            result = array.run(csc, x)
            _check_layer(kind, i, result.outputs, acc)
            model_cycles = array.expected_cycles(csc, x)
            cycles[kind] += int(result.cycles.sum())
            expected[kind] += int(model_cycles.sum())
            entry[f"cycles_{kind}"] = int(result.cycles.sum())
            entry[f"expected_cycles_{kind}"] = int(model_cycles.sum())
        per_layer.append(entry)
        x = requantize(acc, layer.bias, layer.multiplier, layer.shift, layer.relu)
    run.summary["hardware_accuracy"] = float((classify(x) == test.y[:n]).mean())
    run.summary["hardware_samples"] = n
    reference = classify(_reference_logits(packed, test.x[:n]))
    run.summary["quantized_accuracy_on_hardware_samples"] = float((reference == test.y[:n]).mean())
    for kind in ARRAYS:
        run.summary[f"cycles_{kind}"] = cycles[kind]
        run.summary[f"expected_cycles_{kind}"] = expected[kind]
    run.summary["realised_speedup"] = cycles["dense"] / max(cycles["sparse"], 1)
    run.summary["layers"] = per_layer


def _check_layer(kind: str, layer: int, got: np.ndarray, want: np.ndarray) -> None:
    bad = np.argwhere(got != want)
    if len(bad):
        sample, row = bad[0]
        raise SimulationError(f"{kind} RTL differs from the reference at sample {sample}, layer "
                              f"{layer}, neuron {row}: got {got[sample, row]}, want {want[sample, row]}")


STEPS: tuple[tuple[str, Callable[[Run], None]], ...] = (
    ("train", step_train),
    ("prune", step_prune),
    ("quantize+pack", step_quantize_pack),
    ("rtl", step_rtl),
    ("simulate", step_simulate),
)


def run_flow(cfg: FlowConfig, out: str | Path, log: Callable[[str], None] = print,
             build_root: str | Path | None = None) -> dict:
    """Run every step into ``out``; returns (and writes) summary.json.

    ``build_root`` defaults to ``out/sim/build``; point several runs at one folder to share builds.
    """
    out = Path(out)
    run = Run(cfg=cfg, out=out, build_root=Path(build_root or out / "sim" / "build"), log=log)
    run.out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(run.out / "config.json", to_dict(cfg))
    for name, fn in STEPS:
        start = time.perf_counter()
        log(f"[{name}] …")
        fn(run)
        run.timings[name] = round(time.perf_counter() - start, 2)
    missing = [k for k in SUMMARY_KEYS if k not in run.summary]
    assert not missing, f"flow left summary keys unset: {missing}"
    run.summary["step_seconds"] = run.timings
    atomic.write_json(run.out / "summary.json", run.summary)
    return run.summary
