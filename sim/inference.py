"""``secateurs simulate``: a run's test split through the sparse and the dense RTL, judged.

For each design (the whole-network accelerator, sparse and its dense twin) the test split of the
run is regenerated from its config, quantized and streamed through the generated RTL under
Verilator (or Icarus Verilog, ``simulator="icarus"``). The scoreboard demands bit-exact logits and classes, cycles equal to the analytic
model, and event counters equal to the counts the reference predicts (:func:`.network.prove`).
Each layer also runs alone on the same engine, as a one-layer network that streams out its raw
accumulators (whatever its format and payload), where its accumulators and cycles are checked
on their own. Then the two power proxies are measured: toggles from SAIF-traced runs, and
counters x the energy table. Everything lands in ``RUN/sim/summary.json``. Toggles and waves
are traced by Verilator: on Icarus neither is available (:data:`VERILATOR_ONLY`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from .. import atomic, config
from ..errors import InputError
from ..sw import metrics
from ..sw.data import load_dataset
from ..hw.image import ConvGeometry
from ..hw.params import ARGMAX_LATENCY, DRAIN_LATENCY
from ..sw.formats import container
from ..sw.reference import QuantModel, quantize_input
from .network import KINDS, build_accelerator, capacity_for, model_words, prove
from .power.energy import energy, load_table
from .power.measure import event_energy, switching_activity
from .runner import SIMULATORS
from .tb.scoreboard import Scoreboard, cycle_stats

__all__ = ["SUMMARY", "POWER", "load_run", "simulate", "measure_power"]

#: Where the summary lands, relative to the run folder.
SUMMARY = Path("sim") / "summary.json"
#: Where the flow's power step writes both proxies, relative to the run folder.
POWER = Path("sim") / "power.json"
#: Waveform files, per design, relative to the run folder. VCD, which GTKWave and Surfer open;
#: Verilator's FST writer needs the LZ4 headers, which a bare machine lacks.
WAVES = Path("sim") / "waves"
WAVE_FORMAT = "vcd"
#: What only a Verilator build traces: the switching activity (SAIF) and the waves.
VERILATOR_ONLY = "switching activity (SAIF) and waves are traced by Verilator only"


def load_run(run_dir: str | Path):
    """``(FlowConfig, PackedModel)`` of a run folder written by ``secateurs flow``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"run folder {str(run_dir)!r} does not exist")
    try:
        values = json.loads((run_dir / "config.json").read_text())
    except FileNotFoundError:
        raise InputError(f"{str(run_dir)!r} has no config.json: is it a run folder of "
                         f"'secateurs flow'?") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{str(run_dir / 'config.json')!r} is not valid JSON: {e}") from None
    cfg = config.from_dict(config.FlowConfig, values)
    if not (run_dir / "model.bin").exists():
        raise InputError(f"{str(run_dir)!r} has no model.bin: the flow did not reach packing")
    return cfg, container.load(run_dir / "model.bin")


def single_layer(packed, layer: int):
    """Layer ``layer`` of ``packed`` alone, as a one-layer model.bin whose readout is its
    accumulators: its packed words as they are, bias 0, multiplier 1, shift 0, no ReLU (the raw
    readout ignores the last three; a zero bias makes what it streams ``W x`` itself), and no
    pool (a pool works on requantized values: the raw readout streams every position)."""
    q = packed.model.layers[layer]
    geometry = None if q.geometry is None else dataclasses.replace(q.geometry, pool=None)
    alone = dataclasses.replace(q, bias=np.zeros(q.rows, dtype=np.int32),
                                multiplier=np.ones(q.rows, dtype=np.int64), shift=0, relu=False,
                                geometry=geometry)
    return container.PackedModel(QuantModel(packed.model.input_scale, (alone,)),
                                 (packed.layers[layer],))


def compute_cycles(cycles: np.ndarray, rows: int, positions: int = 1) -> np.ndarray:
    """A one-layer run's compute cycles, from its whole cycles: what is left when its drains
    (``rows`` reads, the last written ``DRAIN_LATENCY`` later, once per computed position of a
    conv layer) and the argmax's cycle are taken off (``sw.cycles.network_cycles``)."""
    drain = positions * (rows + DRAIN_LATENCY)
    return np.asarray(cycles, dtype=np.int64) - drain - ARGMAX_LATENCY


def describe_layer(q) -> dict:
    """A layer's kind and shape for the summary and the report: a Linear's ``rows x cols``, a
    conv layer's kernel, channels, input map, stride, padding and pool."""
    g = q.geometry
    if g is None:
        return {"kind": "linear", "shape": f"linear {q.cols}→{q.rows}"}
    shape = (f"conv {g.kernel[0]}×{g.kernel[1]} {g.in_channels}→{q.rows} on "
             f"{g.in_height}×{g.in_width}")
    if g.stride != (1, 1):
        shape += f", stride {g.stride[0]}" if g.stride[0] == g.stride[1] else f", stride {g.stride}"
    if g.padding != (0, 0):
        shape += (f", padding {g.padding[0]}" if g.padding[0] == g.padding[1]
                  else f", padding {g.padding}")
    if g.pool is not None:
        shape += f", {g.pool.kind} pool {g.pool.size[0]}×{g.pool.size[1]}"
    return {"kind": "conv", "shape": shape}


def _layers_alone(packed, board: Scoreboard, hw, build_root: Path, simulator: str,
                  log: Callable[[str], None]) -> list[dict]:
    """Every layer alone on both designs, fed the reference's activations of the layer before:
    its accumulators checked bit-exact and its cycles against the model, and its compute cycles
    (``array_cycles``) derived from the measured run. Each layer is loaded into the whole
    network's build of each design (the raw readout is loaded too): no build of its own. A
    pooled conv layer runs unpooled, every position of its map (what a window drops too); one
    whose unpooled map the build cannot hold is not run alone (``alone`` says why)."""
    capacity = capacity_for(packed, hw)
    per_layer = []
    for i, q in enumerate(packed.model.layers):
        entry = {"layer": i, "rows": q.rows, "cols": q.cols, **describe_layer(q),
                 "sparse": {}, "dense": {}}
        per_layer.append(entry)
        alone = single_layer(packed, i)
        try:
            for kind in KINDS:
                model_words(alone, capacity, kind, "accumulators")
        except InputError as e:
            entry["alone"] = f"not run alone: {e}"
            log(f"[simulate] layer {i} is not run alone: {e}")
            continue
        walked = alone.model.layers[0].geometry
        positions = 1 if walked is None else ConvGeometry.of(walked).positions
        proofs = prove(alone, hw=hw, build_root=build_root, readout="accumulators",
                       board=Scoreboard(alone, board.activations[i]), capacity=capacity,
                       simulator=simulator,
                       log=lambda m, i=i: log(m.replace("[prove]", f"[simulate] layer {i}")))
        for kind, proof in proofs.items():
            compute = compute_cycles(proof.cycles, q.rows, positions)
            board.check_cycles(f"{kind} layer {i} alone (compute)", compute, proof.model.compute[0])
            entry[kind]["array_cycles"] = cycle_stats(compute)
    return per_layer


def _whole_network(kind: str, packed, hw, board: Scoreboard, table, build_root: Path,
                   simulator: str, log: Callable[[str], None]) -> tuple[dict, object, list]:
    """One design over the batch, judged; ``(summary entry, cycle model, modelled events)``."""
    proof = prove(packed, hw=hw, build_root=build_root, kinds=(kind,), board=board,
                  events=True, simulator=simulator,
                  log=lambda m: log(m.replace("[prove]", "[simulate]")))[kind]
    ran = proof.result
    entry = {
        "accuracy": board.accuracy(ran.predicted),
        "cycles": cycle_stats(ran.counters["cycles"]),
        "expected_cycles": cycle_stats(proof.expected),
        "events": {k: float(v.mean()) for k, v in ran.counters.items()},
        "energy_pj": event_energy(ran.counters, table),
        "wall_seconds": proof.seconds,
        "simulated_cycles": ran.total_cycles,
        "cycles_per_second": ran.total_cycles / max(ran.total_seconds, 1e-9),
    }
    return entry, proof.model, proof.events


def _modelled_layer(model, events: dict, layer: int, table) -> dict:
    """A layer's share of an inference on the accelerator: cycles, events and their energy."""
    per_event = energy(events, table)
    return {
        "cycles": cycle_stats(model.compute[layer] + model.drain[layer]),
        "compute_cycles": cycle_stats(model.compute[layer]),
        "events": {k: float(v.mean()) for k, v in events.items()},
        "energy_pj": {"by_event": {k: float(v.mean()) for k, v in per_event.items()},
                      "total": float(sum(v.mean() for v in per_event.values()))},
    }


def _waves(packed, hw, x: np.ndarray, run_dir: Path, build_root: Path,
           log: Callable[[str], None]) -> dict[str, str]:
    """Trace the batch on both designs into ``RUN/sim/waves/<kind>.vcd``."""
    written = {}
    for kind in KINDS:
        log(f"[simulate] {kind}: waves")
        traced = build_accelerator(capacity_for(packed, hw), kind=kind, hw=hw,
                                   build_root=build_root, trace=WAVE_FORMAT)
        work = build_root / f"waves-{kind}"
        traced.run(packed, x, run_dir=work, trace=True)
        target = WAVES / f"{kind}.{WAVE_FORMAT}"
        (run_dir / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(work / traced.built.trace_file, run_dir / target)
        shutil.rmtree(work, ignore_errors=True)
        written[kind] = str(target)
    return written


def _batch(run_dir: Path, samples: int | None):
    """``(cfg, packed, board)`` for the first ``samples`` test images (None: all) of the run."""
    cfg, packed = load_run(run_dir)
    if samples is not None and samples < 1:
        raise InputError(f"samples must be a positive number or 'all', not {samples}")
    test = load_dataset(cfg.data, cfg.seed).test
    n = len(test) if samples is None else min(samples, len(test))
    x = quantize_input(test.x[:n].reshape(n, -1), packed.model.input_scale).astype(np.int64)
    return cfg, packed, Scoreboard(packed, x, test.y[:n])


def _switching(packed, hw, x: np.ndarray, build_root: Path, log: Callable[[str], None]) -> dict:
    """Toggles per inference by block, from SAIF-traced runs of each design on the build
    that simulated it (SAIF compiled in, :data:`~.network.POWER_TRACE`)."""
    toggles = {}
    for kind in KINDS:
        log(f"[power] {kind}: switching activity (SAIF)")
        traced = build_accelerator(capacity_for(packed, hw), kind=kind, hw=hw,
                                   build_root=build_root)
        toggles[kind] = switching_activity(traced, x, model=packed, work_dir=build_root).as_dict()
    return toggles


def simulate(run_dir: str | Path, *, samples: int | None = None, waves: bool = False,
             energy_table: str | Path | None = None, build_root: str | Path | None = None,
             power: bool = True, simulator: str = "verilator",
             log: Callable[[str], None] = print) -> dict:
    """Simulate ``samples`` test images (None: all) of the run; writes and returns the summary.

    ``power=False`` leaves out the switching activity (its SAIF-traced runs are the slow
    part); the flow measures it in its own step with :func:`measure_power`. ``simulator`` is one of
    :data:`~.runner.SIMULATORS`; on Icarus, ``power`` and ``waves`` must be False (InputError).
    """
    if simulator not in SIMULATORS:
        raise InputError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    if simulator != "verilator" and (power or waves):
        raise InputError(f"{VERILATOR_ONLY}, not by {simulator}")
    run_dir = Path(run_dir)
    cfg, packed, board = _batch(run_dir, samples)
    table = load_table(energy_table)
    build_root = Path(build_root) if build_root else run_dir / "sim" / "build"
    hw = cfg.hardware
    summary: dict = {
        "samples": len(board.inputs), "simulator": simulator, "pes": hw.pes,
        "queue_depth": hw.queue_depth,
        "issue_width": hw.issue_width,
        "reference_accuracy": board.accuracy(board.classes),
        "theoretical_speedup": metrics.theoretical_speedup(packed.model.layers),
        "energy_table": {"citation": table.citation, "process": table.process, "pj": table.pj},
    }
    modelled = {}
    for kind in KINDS:
        entry, model, events = _whole_network(kind, packed, hw, board, table, build_root,
                                              simulator, log)
        summary[kind], modelled[kind] = entry, (model, events)
    summary["hardware_accuracy"] = summary["sparse"]["accuracy"]
    summary["bit_exact"] = True
    summary["realised_speedup"] = (summary["dense"]["cycles"]["total"]
                                   / max(summary["sparse"]["cycles"]["total"], 1))

    log("[simulate] each layer alone (accumulator readout)")
    summary["layers"] = _layers_alone(packed, board, hw, build_root, simulator, log)
    for kind, (model, events) in modelled.items():
        for i, entry in enumerate(summary["layers"]):
            entry[kind].update(_modelled_layer(model, events[i], i, table))

    if power:
        for kind, toggles in _switching(packed, hw, board.inputs, build_root, log).items():
            summary[kind]["toggles"] = toggles
    if waves:
        summary["waves"] = _waves(packed, hw, board.inputs, run_dir, build_root, log)

    atomic.write_json(run_dir / SUMMARY, summary)
    return summary


def measure_power(run_dir: str | Path, *, samples: int | None = None,
                  activity_samples: int | None = None, build_root: str | Path | None = None,
                  log: Callable[[str], None] = print) -> dict:
    """Both power proxies of a simulated run: event energy (from ``sim/summary.json``, the
    hardware counters x the energy table, over its ``samples``) and switching activity, per
    inference over the first ``activity_samples`` of them (None: all); writes
    ``sim/power.json``."""
    run_dir = Path(run_dir)
    try:
        simulated = json.loads((run_dir / SUMMARY).read_text())
    except FileNotFoundError:
        raise InputError(f"{str(run_dir)!r} has no {SUMMARY}: simulate the run first") from None
    cfg, packed, board = _batch(run_dir, samples)
    if simulated["samples"] != len(board.inputs):
        raise InputError(f"{SUMMARY} holds {simulated['samples']} inferences, not {len(board.inputs)}")
    if activity_samples is not None and activity_samples < 1:
        raise InputError(f"activity samples must be a positive number, not {activity_samples}")
    traced = board.inputs[:activity_samples]
    build_root = Path(build_root) if build_root else run_dir / "sim" / "build"
    toggles = _switching(packed, cfg.hardware, traced, build_root, log)
    result = {kind: {"energy_pj": simulated[kind]["energy_pj"], "toggles": toggles[kind]}
              for kind in KINDS}
    result["samples"] = len(board.inputs)
    result["activity_samples"] = len(traced)
    atomic.write_json(run_dir / POWER, result)
    return result
