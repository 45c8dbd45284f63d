"""Verilog out of the Amaranth arrays, for Verilator and the FPGA flow.

The top module's ports are the component's signature members (structured ones flattened to
plain vectors) plus ``clk`` and ``rst`` of its ``sync`` domain.
"""

import os
import tempfile
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from ..config import HardwareConfig
from .dense_array import DenseArray
from .sparse_array import SparseArray

__all__ = ["ARRAY_KINDS", "export_verilog", "layer_array", "write_atomic", "write_verilog",
           "write_accelerators"]

ARRAY_KINDS = ("sparse", "dense")
VALUE_BITS = 8  # the arrays multiply int8 weights by int8 activations
LINT_WAIVERS = "lint_waivers.vlt"  # Verilator control file written beside the accelerators' RTL
FILE_MODE = 0o644  # temp files are created private; the written RTL is an ordinary artifact


def export_verilog(component: wiring.Component, *, name: str) -> str:
    """Verilog text of ``component`` with top module ``name``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"Module name must be a Verilog identifier, not {name!r}")
    return verilog.convert(component, name=name, emit_src=False, strip_internal_attrs=True)


def layer_array(kind: str, *, hw: HardwareConfig, rows: int, cols: int, index_bits: int,
                bank_depth: int | None = None) -> wiring.Component:
    """The ``kind`` array ("sparse" or "dense") for layers up to ``rows`` x ``cols``."""
    common = dict(pes=hw.pes, rows=rows, cols=cols, value_bits=VALUE_BITS, index_bits=index_bits,
                  acc_bits=hw.acc_bits, bank_depth=bank_depth)
    if kind == "sparse":
        return SparseArray(queue_depth=hw.queue_depth, issue_width=hw.issue_width, **common)
    if kind == "dense":
        return DenseArray(**common)
    raise ValueError(f"Array kind must be one of {', '.join(ARRAY_KINDS)}, not {kind!r}")


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` (creating its folder) through a temp file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def write_verilog(path: str | os.PathLike, *, kind: str, hw: HardwareConfig, rows: int, cols: int,
                  index_bits: int, bank_depth: int | None = None) -> Path:
    """Write the ``kind`` array as Verilog (top module ``{kind}_array``) to ``path``, atomically."""
    component = layer_array(kind, hw=hw, rows=rows, cols=cols, index_bits=index_bits,
                            bank_depth=bank_depth)
    return write_atomic(path, export_verilog(component, name=f"{kind}_array"))


def write_accelerators(out: str | os.PathLike, image, *, hw: HardwareConfig) -> dict:
    """Write ``sparse_accelerator.v``, ``dense_accelerator.v``, ``accelerators.json`` (what each
    was generated from) and the lint waivers (:mod:`.lint`) into ``out``; returns the JSON."""
    import json

    from .accelerator import KINDS, Accelerator

    from .lint import waiver_text

    out = Path(out)
    write_atomic(out / LINT_WAIVERS, waiver_text())
    described = {"lint_waivers": LINT_WAIVERS}
    for kind in KINDS:
        design = Accelerator(image, kind=kind, queue_depth=hw.queue_depth,
                             issue_width=hw.issue_width, acc_bits=hw.acc_bits)
        name = f"{kind}_accelerator"
        write_atomic(out / f"{name}.v", export_verilog(design, name=name))
        described[kind] = {"file": f"{name}.v", "top": name, **design.parameters()}
    write_atomic(out / "accelerators.json", json.dumps(described, indent=2) + "\n")
    return described
