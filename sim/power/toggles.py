"""Switching activity from the RTL: per-net toggle counts out of a SAIF file, per block.

Verilator's ``--trace-saif`` writes, for every net bit of the design, how often it toggled
(``TC``) over the whole simulation. :func:`read_saif` reads that into ``{net path: toggles}``;
:func:`subtract` takes one run's counts from another's (a run of N inferences minus a run that
stops before the first, so only the inferences remain); :func:`by_block` sums nets into the
blocks of the design, following naming rules (:data:`BLOCK_RULES`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ...errors import SimulationError

__all__ = ["BLOCKS", "BLOCK_RULES", "CLOCK", "Toggles", "read_saif", "subtract", "block_of", "by_block",
           "activity"]

_TOKEN = re.compile(r'\(|\)|"[^"]*"|[^\s()]+')
_ESCAPE = re.compile(r"\\(.)")

#: The blocks toggles are reported by.
BLOCKS = ("pes", "weight_memories", "activation_buffers", "accumulators", "control")
#: ``(regex on the net's path below the design's top, block)``, first match wins. The names are
#: those Amaranth gives the submodules and signals of ``hw/`` (PE ``pe3`` with its ``weight`` bank
#: read port and ``acc`` RAM; a walker's activation ``queue``; the ``activations`` buffer). A net
#: Verilator traces under several names (a port and the parent's wire on it) counts under each.
BLOCK_RULES: tuple[tuple[str, str], ...] = (
    (r"(^|/)acc(umulators?)?(_(read|write)__\w+)?(\$\d+)?($|[.\[/])", "accumulators"),
    (r"(^|/)(bank|weight|read__\w+|this_\w+|next_\w+)(\$\d+)?($|[.\[/])", "weight_memories"),
    (r"(^|/)(acts|activations|queue|act_\w+)(\$\d+)?($|[.\[/])", "activation_buffers"),
    (r"(^|/)((pe|walker)\d+/|(issue|column|columns__\d+)__)", "pes"),
)
#: The clock toggles twice a cycle in every module whatever the design does: it is clock-tree
#: power, the same per cycle for both designs, and is left out of the blocks.
CLOCK = re.compile(r"(^|/)clk$")
_RULES = tuple((re.compile(pattern), block) for pattern, block in BLOCK_RULES)


@dataclass(frozen=True)
class Toggles:
    """Toggle counts per net bit, and the simulated time they were counted over."""

    #: ``{"inst/.../net[bit]": toggles}`` below the top instance.
    nets: dict[str, int]
    #: Simulated time of the trace, in the simulator's time unit (its precision).
    duration: int


def _instance(tokens: list[str], i: int, prefix: str, nets: dict[str, int]) -> int:
    """Parse ``(INSTANCE name ...)`` from ``tokens[i]`` (just past its ``(INSTANCE``)."""
    name = _ESCAPE.sub(r"\1", tokens[i])
    path = f"{prefix}{name}/"
    i += 1
    while tokens[i] != ")":
        assert tokens[i] == "(", tokens[i]
        head = tokens[i + 1]
        if head == "INSTANCE":
            i = _instance(tokens, i + 2, path, nets)
        elif head == "NET":
            i += 2
            while tokens[i] != ")":
                net = _ESCAPE.sub(r"\1", tokens[i + 1])
                i += 2
                toggles = 0
                while tokens[i] != ")":
                    if tokens[i + 1] == "TC":
                        toggles = int(tokens[i + 2])
                    i += 4  # ( KEY value )
                nets[path + net] = toggles
                i += 1
            i += 1
        else:  # a section this reader has no use for: skip it, nested parentheses included
            depth = 0
            while True:
                depth += {"(": 1, ")": -1}.get(tokens[i], 0)
                i += 1
                if depth == 0:
                    break
    return i + 1


def read_saif(path: str | Path, *, top: int = 2) -> Toggles:
    """Per-net toggle counts of a SAIF file, with the first ``top`` instance levels dropped.

    The default drops the clock wrapper and the design instance (:mod:`.clock`), so paths start
    at the design's own submodules and nets; nets above that (the simulator's own view of the
    top ports, the wrapper's clock) are left out.
    """
    try:
        tokens = _TOKEN.findall(Path(path).read_text())
    except OSError as e:
        raise SimulationError(f"cannot read the SAIF file {str(path)!r}: {e.strerror}") from None
    nets: dict[str, int] = {}
    duration = 0
    try:
        i = 0
        while i < len(tokens) - 1:
            if tokens[i] == "(" and tokens[i + 1] == "DURATION":
                duration = int(tokens[i + 2])
            if tokens[i] == "(" and tokens[i + 1] == "INSTANCE":
                i = _instance(tokens, i + 2, "", nets)  # top-level instances, one after another
            else:
                i += 1
    except (IndexError, ValueError, AssertionError):
        raise SimulationError(f"the SAIF file {str(path)!r} is malformed") from None
    if not nets:
        raise SimulationError(f"the SAIF file {str(path)!r} lists no nets")
    strip = re.compile(r"^(?:[^/]*/){%d}" % top)
    return Toggles({strip.sub("", name): count for name, count in nets.items()
                    if name.count("/") >= top}, duration)


def subtract(after: Toggles, before: Toggles) -> Toggles:
    """The toggles ``after`` counted beyond ``before`` (a prefix of the same simulation)."""
    if after.nets.keys() != before.nets.keys():
        raise SimulationError("the two SAIF files are of different designs")
    nets = {name: after.nets[name] - before.nets[name] for name in after.nets}
    if any(v < 0 for v in nets.values()):
        raise SimulationError("a net toggled less in the longer run: the runs are not a prefix "
                              "of one another")
    return Toggles(nets, after.duration - before.duration)


def block_of(net: str) -> str:
    """The block a net (path below the design's top) belongs to."""
    for pattern, block in _RULES:
        if pattern.search(net):
            return block
    return "control"


def by_block(toggles: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """``{block: {"toggles": sum, "nets": count}}`` over every block in ``BLOCKS`` (clock nets
    left out)."""
    out = {block: {"toggles": 0, "nets": 0} for block in BLOCKS}
    for net, count in toggles.items():
        if CLOCK.search(net):
            continue
        entry = out[block_of(net)]
        entry["toggles"] += count
        entry["nets"] += 1
    return out


def activity(toggles: int, nets: int, cycles: int) -> float:
    """Activity factor alpha: toggles per net per clock cycle."""
    return toggles / (nets * cycles) if nets and cycles else 0.0
