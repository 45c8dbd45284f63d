"""Verilog out of an Amaranth component, for Verilator and the FPGA flow.

The top module's ports are the component's signature members (structured ones flattened to
plain vectors) plus ``clk`` and ``rst`` of its ``sync`` domain.
"""

import os
import tempfile
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

__all__ = ["export_verilog", "write_verilog"]

FILE_MODE = 0o644  # temp files are created private; the written RTL is an ordinary artifact


def export_verilog(component: wiring.Component, *, name: str) -> str:
    """Verilog text of ``component`` with top module ``name``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"Module name must be a Verilog identifier, not {name!r}")
    return verilog.convert(component, name=name, emit_src=False, strip_internal_attrs=True)


def write_verilog(component: wiring.Component, path: str | os.PathLike, *, name: str) -> Path:
    """Write ``component`` as Verilog to ``path`` atomically (temp file, then rename)."""
    path = Path(path)
    text = export_verilog(component, name=name)
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
