"""Verilog out of the Amaranth accelerator, for Verilator and the FPGA flow.

The top module's ports are the component's signature members (structured ones flattened to
plain vectors) plus ``clk`` and ``rst`` of its ``sync`` domain.
"""

import os
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from ...atomic import write_text

__all__ = ["export_verilog", "write_accelerators"]

LINT_WAIVERS = "lint_waivers.vlt"  # Verilator control file written beside the accelerators' RTL


def export_verilog(component: wiring.Component, *, name: str) -> str:
    """Verilog text of ``component`` with top module ``name``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"Module name must be a Verilog identifier, not {name!r}")
    return verilog.convert(component, name=name, emit_src=False, strip_internal_attrs=True)


def write_accelerators(out: str | os.PathLike, image, *, queue_depth: int, issue_width: int,
                       acc_bits: int) -> dict:
    """Write ``sparse_accelerator.v``, ``dense_accelerator.v``, ``accelerators.json`` (what each
    was generated from) and the lint waivers (:mod:`.lint`) into ``out``; returns the JSON."""
    import json

    from ..accelerator import Accelerator
    from ..params import KINDS
    from .lint import waiver_text

    out = Path(out)
    write_text(out / LINT_WAIVERS, waiver_text())
    described = {"lint_waivers": LINT_WAIVERS}
    for kind in KINDS:
        design = Accelerator(image, kind=kind, queue_depth=queue_depth,
                             issue_width=issue_width, acc_bits=acc_bits)
        name = f"{kind}_accelerator"
        write_text(out / f"{name}.v", export_verilog(design, name=name))
        described[kind] = {"file": f"{name}.v", "top": name, **design.parameters()}
    write_text(out / "accelerators.json", json.dumps(described, indent=2) + "\n")
    return described
