"""A batch feeder for the whole-network accelerator, in the Verilog wrapper that clocks it.

Streaming 64 input values from Python costs an await per value, more than the ~600 cycles of a
sparse inference cost the simulator. The feeder does the host's work inside the simulator: it
first streams the model's load words (:mod:`secateurs.hw.load`) from a text file the testbench
writes into the ``load`` port, so one build serves every model that fits its capacity; then it
reads each input word from a second file, streams it in (honouring ``ready``
and the idle gaps the file asks for), pulses ``start``, takes the values of the output stream
(int8 logits, or raw accumulators of any width), keeping each waiting for the cycles a second
file asks for (back-pressure), counts the clock edges until ``done``, reads the class and every
counter, and appends all of it as one line to a results file. A whole batch is then one
``feed_go`` and one await of ``feed_done``.

While the feeder is idle the wrapper passes the host ports through unchanged, so the Python
drivers (one await per value, or one per edge) run on the same build. The accelerator's RTL is
untouched: the feeder exists only in simulation. The feeder is a checked-in, parameterised
Verilog-2005 module (``sim/feeder.v``); only the wrapper, whose ports are the design's, is
generated here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import SimulationError
from ..hw.params import ACT_BITS, LOAD_WORD_BITS
from .clock import CLOCK_PORT, clock_source, top_ports

__all__ = ["LOAD_FILE", "INPUTS_FILE", "HOLDS_FILE", "RESULTS_FILE", "GO", "COUNT", "DONE", "HUNG",
           "HANG_CYCLES", "FEEDER_MODULE", "feeder_verilog", "fed_wrapper", "write_load",
           "write_inputs", "write_holds", "read_results"]

#: Files the feeder reads and writes, relative to the simulator's working folder (the test's).
LOAD_FILE = "feed_load.txt"
INPUTS_FILE = "feed_inputs.txt"
HOLDS_FILE = "feed_holds.txt"
RESULTS_FILE = "feed_results.txt"
#: Wrapper ports: a level that starts the batch, its size, and two levels it raises at the end.
GO, COUNT, DONE, HUNG = "feed_go", "feed_count", "feed_done", "feed_hung"
#: An inference counts as hung after this many cycles from its first input word (a dense
#: digits inference takes about 5000).
HANG_CYCLES = 2_000_000
#: The checked-in feeder (``sim/feeder.v``, package data) and the module it defines.
FEEDER_FILE = "feeder.v"
FEEDER_MODULE = "secateurs_feeder"
#: Host ports the feeder drives while it runs: ``(port, feeder output)``.
_DRIVEN = (("input__valid", "f_valid"), ("input__payload", "f_payload"), ("start", "f_start"),
           ("output__ready", "f_ready"), ("load__valid", "f_lvalid"),
           ("load__payload", "f_lpayload"))
#: Design ports the feeder reads: ``(port, feeder input)``; ``predicted`` is absent from a
#: one-output design (its class index has no bits), and the feeder then records 0.
_READ = (("input__ready", "in_ready"), ("output__valid", "out_valid"),
         ("output__payload", "out_payload"), ("done", "dut_done"), ("load__ready", "l_ready"))


def feeder_verilog() -> str:
    """The text of ``sim/feeder.v``."""
    return resources.files(__package__).joinpath(FEEDER_FILE).read_text()


def _verilog_string(text: str) -> str:
    if any(c in text for c in '"\\\n'):
        raise ValueError(f"{text!r} cannot be a Verilog string parameter")
    return f'"{text}"'


def fed_wrapper(verilog: str, toplevel: str, *, counters: tuple[str, ...],
                hang_cycles: int = HANG_CYCLES,
                wrapper: str | None = None) -> tuple[str, str]:
    """``(verilog, wrapper name)``: the design, the feeder, and a top module that clocks the
    design and instantiates the feeder beside it.

    The wrapper has every port of ``toplevel`` but ``clk`` under its own name, and the feeder's
    ``feed_go``, ``feed_count`` (inferences in the batch), ``feed_done`` and ``feed_hung`` (set
    with ``feed_done`` when an inference ran ``hang_cycles`` from its first input word). The
    output stream may be any width (int8 logits, or raw accumulators). Nothing in it depends on
    a model: the feature and output counts come with the inputs (:func:`write_inputs`).
    """
    wrapper = wrapper or f"{toplevel}_clocked"
    ports = top_ports(verilog, toplevel)
    clock = clock_source(ports, toplevel)
    names = {p.name: p for p in ports}
    for needed in [*(p for p, _ in _DRIVEN), *(p for p, _ in _READ),
                   *(f"counters__{c}" for c in counters)]:
        if needed not in names:
            raise ValueError(f"module {toplevel!r} has no {needed!r} port to feed or read")
    if names["input__payload"].width != ACT_BITS:
        raise ValueError(f"the feeder streams int8 inputs; {toplevel!r} takes "
                         f"{names['input__payload'].width}-bit ones")
    counter_bits = {names[f"counters__{c}"].width for c in counters}
    if len(counter_bits) > 1:
        raise ValueError(f"the counters of {toplevel!r} differ in width: {sorted(counter_bits)}")
    predicted = names.get("predicted")
    parameters = {
        "VALUE_BITS": names["output__payload"].width,
        "ACT_BITS": ACT_BITS, "PREDICTED_BITS": predicted.width if predicted else 1,
        "COUNTERS": len(counters), "COUNTER_BITS": counter_bits.pop() if counters else 32,
        "HANG_CYCLES": hang_cycles, "LOAD_FILE": _verilog_string(LOAD_FILE),
        "INPUTS_FILE": _verilog_string(INPUTS_FILE),
        "HOLDS_FILE": _verilog_string(HOLDS_FILE), "RESULTS_FILE": _verilog_string(RESULTS_FILE),
    }
    driven = dict(_DRIVEN)
    # The first counter in the lowest bits: the feeder records them in order.
    bus = ("{" + ", ".join(f"counters__{c}" for c in reversed(counters)) + "}" if counters
           else "1'b0")
    connections = [(CLOCK_PORT, CLOCK_PORT), ("go", GO), ("count", COUNT), ("done", DONE),
                   ("hung", HUNG), ("feeding", "feeding"), *((f, f) for _, f in _DRIVEN),
                   *((f, p) for p, f in _READ),
                   ("predicted", "predicted" if predicted else "1'b0"), ("counters", bus)]
    lines = [
        "",
        f"module {wrapper}(",
        ",\n".join([*(f"  {p.declaration()}" for p in ports if p.name != CLOCK_PORT),
                    f"  input wire {GO}", f"  input wire [31:0] {COUNT}",
                    f"  output wire {DONE}", f"  output wire {HUNG}"]),
        ");",
        *clock,
        "  wire feeding, f_valid, f_start, f_ready, f_lvalid;",
        f"  wire [{ACT_BITS - 1}:0] f_payload;",
        f"  wire [{LOAD_WORD_BITS - 1}:0] f_lpayload;",
        f"  {FEEDER_MODULE} #(",
        ",\n".join(f"    .{k}({v})" for k, v in parameters.items()),
        "  ) feeder (",
        ",\n".join(f"    .{port}({signal})" for port, signal in connections),
        "  );",
        f"  {toplevel} dut (",
        ",\n".join(f"    .{p.name}(feeding ? {driven[p.name]} : {p.name})" if p.name in driven
                   else f"    .{p.name}({p.name})" for p in ports),
        "  );",
        "endmodule",
        "",
    ]
    return "\n".join([verilog, feeder_verilog(), *lines]), wrapper


def write_load(path: str | Path, words) -> None:
    """A load file: one 32-bit load word a line, 8 hex digits (``$readmemh`` reads it too)."""
    Path(path).write_text("".join(f"{int(w):08x}\n" for w in words))


def write_inputs(path: str | Path, inputs: np.ndarray, gaps: np.ndarray, junk: np.ndarray,
                 outputs: int) -> None:
    """The feeder's input file: a ``features outputs`` line (the loaded model's counts), then one
    ``gap junk value`` line per input word, samples in order.

    ``gaps`` idle cycles (with ``junk`` on the payload) come before each word; values are
    written as their int8 bit patterns.
    """
    inputs = np.asarray(inputs)
    mask = (1 << ACT_BITS) - 1
    words = np.stack([np.asarray(gaps).ravel(), np.asarray(junk).ravel() & mask,
                      inputs.ravel() & mask], axis=1)
    # Formatted in one pass (np.savetxt formats row by row: ~5x slower, timed in the batch).
    lines = "".join(f"{gap} {noise} {value}\n" for gap, noise, value in words.tolist())
    Path(path).write_text(f"{inputs.shape[-1]} {outputs}\n{lines}")


def write_holds(path: str | Path, holds: np.ndarray) -> None:
    """The feeder's hold file: cycles each logit of each sample is kept waiting, in order."""
    values = np.asarray(holds, dtype=np.int64).ravel().tolist()
    Path(path).write_text("".join(f"{h}\n" for h in values))


def read_results(path: str | Path, batch: int, counters: tuple[str, ...], outputs: int):
    """``(cycles timed by the feeder, predicted, {counter: values}, streamed logits)`` of a
    finished batch.

    Only complete lines count: a hung batch yields the samples before the hang. A value with
    undefined bits (Icarus writes X or Z as ``x``/``z``) is a SimulationError naming it.
    """
    width = outputs + 2 + len(counters)
    fields = [*(f"output {i}" for i in range(outputs)), "cycles", "predicted",
              *(f"counter {c}" for c in counters)]
    lines = [line.split() for line in Path(path).read_text().splitlines()]
    lines = [line for line in lines if len(line) == width][:batch]
    for sample, line in enumerate(lines):
        for name, value in zip(fields, line):
            if not value.lstrip("-").isdigit():
                raise SimulationError(f"sample {sample}: {name} is {value!r}, not a number "
                                      f"(undefined bits reached the host ports)")
    rows = [[int(v) for v in line] for line in lines]
    table = np.array(rows, dtype=np.int64)
    table = table.reshape(-1, width)
    timed, predicted = table[:, outputs], table[:, outputs + 1]
    values = {name: table[:, outputs + 2 + i] for i, name in enumerate(counters)}
    return timed, predicted, values, table[:, :outputs]
