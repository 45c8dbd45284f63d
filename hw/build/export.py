"""Verilog out of the Amaranth accelerator, for Verilator and the FPGA flow.

The top module's ports are the component's signature members (structured ones flattened to
plain vectors) plus ``clk`` and ``rst`` of its ``sync`` domain.
"""

import os
import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from ...atomic import write_text
from ..params import LOADED_ATTR

__all__ = ["export_verilog", "write_accelerators"]

LINT_WAIVERS = "lint_waivers.vlt"  # Verilator control file written beside the accelerators' RTL


def export_verilog(component: wiring.Component, *, name: str) -> str:
    """Verilog text of ``component`` with top module ``name``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"Module name must be a Verilog identifier, not {name!r}")
    text = verilog.convert(component, name=name, emit_src=False, strip_internal_attrs=True)
    return _drop_loaded_contents(text)


# A memory declaration under its attributes, then the initial block Yosys writes for it.
_LOADED = re.compile(r'^  \(\* (?:[^\n]*? )?%s = "%s"(?: [^\n]*?)? \*\)\n'
                     r'  reg \[\d+:0\] (\S+|\\\S+ ) \[\d+:0\];\n'
                     r'(  initial begin\n(?:    [^\n]*\n)*?  end\n)' % LOADED_ATTR,
                     re.MULTILINE)


def _drop_loaded_contents(text: str) -> str:
    """``text`` without the initial contents of the memories the load port fills
    (:data:`~..params.LOADED_ATTR`): Amaranth gives every memory contents, zeros where none are
    asked for, and Yosys writes them one word a line."""
    def drop(match: re.Match) -> str:
        declaration = match.group(0)[:match.start(2) - match.start(0)]
        return declaration
    return _LOADED.sub(drop, text)


def write_accelerators(out: str | os.PathLike, capacity, *, image=None, **design) -> dict:
    """Write ``sparse_accelerator.v``, ``dense_accelerator.v``, ``accelerators.json`` (what each
    was generated from: :meth:`~..accelerator.Accelerator.parameters`) and the lint waivers
    (:mod:`.lint`) into ``out``; returns the JSON.

    Parameters
    ----------
    capacity : Capacity
        What both designs hold; the host loads a model through the load port (:mod:`..load`).
        In its place, a :class:`~..image.NetworkImage` with ``design`` keywords (queue_depth,
        issue_width, acc_bits) builds the smallest capacity that holds it and bakes it in (the
        former one-build-per-model call).
    image : NetworkImage or None
        A model to bake into both designs (ROM-initialised memories, a self-contained
        bitstream); it must fit ``capacity``.
    """
    import json

    from ..accelerator import Accelerator
    from ..capacity import Capacity
    from ..image import NetworkImage
    from ..params import KINDS
    from .lint import waiver_text

    if isinstance(capacity, NetworkImage):
        if image is not None:
            raise TypeError("Give a capacity and an image to bake, or an image alone")
        capacity, image = Capacity.of(capacity, **design), capacity
    elif design:
        raise TypeError(f"Unexpected keywords {', '.join(sorted(design))}: they belong to the "
                        f"capacity")
    out = Path(out)
    designs = {kind: Accelerator(capacity, kind=kind, image=image) for kind in KINDS}
    write_text(out / LINT_WAIVERS, waiver_text())
    described = {"lint_waivers": LINT_WAIVERS}
    for kind, design in designs.items():
        name = f"{kind}_accelerator"
        write_text(out / f"{name}.v", export_verilog(design, name=name))
        described[kind] = {"file": f"{name}.v", "top": name, **design.parameters()}
    write_text(out / "accelerators.json", json.dumps(described, indent=2) + "\n")
    return described
