"""The simulation clock, generated inside the simulator by a small Verilog wrapper.

A clock driven from Python costs a callback per edge; one toggled by ``always #`` in Verilog
(Verilator ``--timing``) costs nothing outside the compiled model, so a testbench that only awaits
``done`` runs at the simulator's own speed. The wrapper keeps the design's port names, so the
testbench sees the same ``dut`` either way; ``clk`` becomes a register of the wrapper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CLOCK_PERIOD_NS", "CLOCK_PORT", "Port", "top_ports", "clock_source"]

#: Clock period of every simulation; only ratios of times matter, and 10 ns keeps edges on whole ns.
CLOCK_PERIOD_NS = 10
#: Name of the clock input every generated design has (Amaranth's ``sync`` domain).
CLOCK_PORT = "clk"

_PORT = re.compile(r"^\s*(input|output)\s+(signed\s+)?(?:\[(\d+):(\d+)\]\s+)?(\w+)\s*;", re.M)


@dataclass(frozen=True)
class Port:
    """One port of the top module as declared in its Verilog."""

    name: str
    direction: str
    width: int
    signed: bool = False

    def declaration(self) -> str:
        sign = "signed " if self.signed else ""
        span = f"[{self.width - 1}:0] " if self.width > 1 else ""
        kind = "input wire" if self.direction == "input" else "output wire"
        return f"{kind} {sign}{span}{self.name}"


def _module_body(verilog: str, toplevel: str) -> str:
    match = re.search(rf"^module\s+\\?{re.escape(toplevel)}\s*\(", verilog, re.M)
    if match is None:
        raise ValueError(f"no module {toplevel!r} in the Verilog")
    end = verilog.find("endmodule", match.end())
    return verilog[match.end():end]


def top_ports(verilog: str, toplevel: str) -> list[Port]:
    """Ports of ``toplevel`` from its non-ANSI declarations (as Yosys writes them)."""
    ports = []
    for direction, signed, msb, lsb, name in _PORT.findall(_module_body(verilog, toplevel)):
        width = int(msb) - int(lsb) + 1 if msb else 1
        ports.append(Port(name, direction, width, bool(signed)))
    if not ports:
        raise ValueError(f"module {toplevel!r} declares no ports")
    return ports


def clock_source(ports: list[Port], toplevel: str) -> list[str]:
    """Verilog lines of a wrapper that make ``clk``: low at time 0, toggled every half period,
    so its first rising edge is at half a period."""
    if not any(p.name == CLOCK_PORT and p.direction == "input" for p in ports):
        raise ValueError(f"module {toplevel!r} has no {CLOCK_PORT!r} input to drive")
    return [f"  reg {CLOCK_PORT} = 1'b0;",
            f"  always #({CLOCK_PERIOD_NS / 2}) {CLOCK_PORT} = ~{CLOCK_PORT};"]
