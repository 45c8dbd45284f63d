"""A batch feeder for the whole-network accelerator, in the Verilog wrapper that clocks it.

Streaming 64 input values from Python costs an await per value, more than the ~600 cycles of a
sparse inference cost the simulator. The feeder does the host's work inside the simulator: it
reads each input word from a text file the testbench writes, streams it in (honouring ``ready``
and the idle gaps the file asks for), pulses ``start``, takes the logits from the output stream
(keeping each waiting for the cycles a second file asks for: back-pressure), counts the clock
edges until ``done``, reads the class and every counter, and appends all of it as one line to a
results file. A whole batch is then one ``feed_go`` and one await of ``feed_done``.

While the feeder is idle the wrapper passes the host ports through unchanged, so the Python
drivers (one await per value, or one per edge) run on the same build. The accelerator's RTL is
untouched: the feeder exists only in simulation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..hw.params import ACT_BITS
from .clock import CLOCK_PORT, clock_source, top_ports

__all__ = ["INPUTS_FILE", "HOLDS_FILE", "RESULTS_FILE", "GO", "COUNT", "DONE", "HUNG",
           "HANG_CYCLES", "fed_wrapper", "write_inputs", "write_holds", "read_results"]

#: Files the feeder reads and writes, relative to the simulator's working folder (the test's).
INPUTS_FILE = "feed_inputs.txt"
HOLDS_FILE = "feed_holds.txt"
RESULTS_FILE = "feed_results.txt"
#: Wrapper ports: a level that starts the batch, its size, and two levels it raises at the end.
GO, COUNT, DONE, HUNG = "feed_go", "feed_count", "feed_done", "feed_hung"
#: An inference counts as hung after this many cycles from its first input word (a dense
#: digits inference takes about 5000).
HANG_CYCLES = 2_000_000
#: Host ports the feeder drives while it runs: ``(port, feeder register)``.
_DRIVEN = (("input__valid", "f_valid"), ("input__payload", "f_payload"), ("start", "f_start"),
           ("output__ready", "f_ready"))
_MSB = ACT_BITS - 1  # top bit of an input word
#: Feeder states.
_IDLE, _GAP, _STREAM, _START, _WAIT = range(5)


def _load_word(first: bool) -> list[str]:
    """Read the next ``gap junk value`` line; present junk for ``gap`` idle cycles, or the value."""
    return [
        "      if ($fscanf(f_in, \"%d %d %d\\n\", w_gap, w_junk, w_value) != 3)",
        f"        $fatal(1, \"feeder: {INPUTS_FILE} ends before sample %0d\", f_sample);",
        *(["      f_elapsed <= 0;"] if first else []),
        f"      f_value <= w_value[{_MSB}:0];",
        "      if (w_gap != 0) begin",
        f"        f_valid <= 0; f_payload <= w_junk[{_MSB}:0]; f_gap <= w_gap; f_state <= {_GAP};",
        "      end else begin",
        f"        f_valid <= 1; f_payload <= w_value[{_MSB}:0]; f_state <= {_STREAM};",
        "      end",
    ]


def _load_hold() -> list[str]:
    """Read how long the next logit is kept waiting (``ready`` is high while nothing is owed)."""
    return [
        "      if ($fscanf(f_holds, \"%d\\n\", w_hold) != 1)",
        f"        $fatal(1, \"feeder: {HOLDS_FILE} ends before sample %0d\", f_sample);",
        "      f_hold <= w_hold;",
    ]


def _finish(hung: bool) -> list[str]:
    """Close the files and raise ``feed_done`` (and ``feed_hung`` if the batch gave up)."""
    return ["      $fclose(f_in); $fclose(f_holds); $fclose(f_out);",
            f"      {DONE} <= 1; {HUNG} <= {int(hung)}; f_state <= {_IDLE};"]


def fed_wrapper(verilog: str, toplevel: str, *, features: int, outputs: int,
                counters: tuple[str, ...], hang_cycles: int = HANG_CYCLES,
                wrapper: str | None = None) -> tuple[str, str]:
    """``(verilog, wrapper name)``: the accelerator plus a top module that clocks and feeds it.

    The wrapper has every port of ``toplevel`` but ``clk`` under its own name, and the feeder's
    ``feed_go``, ``feed_count`` (inferences in the batch), ``feed_done`` and ``feed_hung`` (set
    with ``feed_done`` when an inference ran ``hang_cycles`` from its first input word).
    """
    wrapper = wrapper or f"{toplevel}_clocked"
    ports = top_ports(verilog, toplevel)
    clock = clock_source(ports, toplevel)
    names = {p.name: p for p in ports}
    for needed in [*(p for p, _ in _DRIVEN), "input__ready", "output__valid", "output__payload",
                   "done", "predicted", *(f"counters__{c}" for c in counters)]:
        if needed not in names:
            raise ValueError(f"module {toplevel!r} has no {needed!r} port to feed or read")
    if names["input__payload"].width != ACT_BITS:
        raise ValueError(f"the feeder streams int8 inputs; {toplevel!r} takes "
                         f"{names['input__payload'].width}-bit ones")
    driven = dict(_DRIVEN)
    record = " ".join(["%0d"] * (2 + len(counters)))
    record_args = ", ".join(["f_cycles", "predicted", *(f"counters__{c}" for c in counters)])
    lines = [
        "",
        f"module {wrapper}(",
        ",\n".join([*(f"  {p.declaration()}" for p in ports if p.name != CLOCK_PORT),
                    f"  input wire {GO}", f"  input wire [31:0] {COUNT}",
                    f"  output reg {DONE} = 1'b0", f"  output reg {HUNG} = 1'b0"]),
        ");",
        *clock,
        f"  reg [2:0] f_state = {_IDLE};",
        "  reg f_valid = 0, f_start = 0;",
        f"  reg [{_MSB}:0] f_payload = 0, f_value = 0;",
        "  reg [31:0] f_sample = 0, f_word = 0, f_gap = 0, f_cycles = 0, f_elapsed = 0;",
        "  reg [31:0] f_hold = 0, f_taken = 0;",
        "  reg [31:0] w_gap, w_junk, w_value, w_hold;",
        "  integer f_in = 0, f_holds = 0, f_out = 0;",
        f"  wire feeding = f_state != {_IDLE};",
        "  wire f_ready = f_hold == 0;",
        f"  {toplevel} dut (",
        ",\n".join(f"    .{p.name}(feeding ? {driven[p.name]} : {p.name})" if p.name in driven
                   else f"    .{p.name}({p.name})" for p in ports),
        "  );",
        f"  always @(posedge {CLOCK_PORT}) begin",
        "    if (feeding) f_elapsed <= f_elapsed + 1;",
        # A logit offered while owed a hold waits a cycle; one taken goes on the sample's line.
        f"    if (f_state == {_WAIT} && output__valid) begin",
        "      if (f_hold != 0) f_hold <= f_hold - 1;",
        "      else begin",
        "        $fwrite(f_out, \"%0d \", $signed(output__payload));",
        "        f_taken <= f_taken + 1;",
        f"        if (f_taken + 1 != {outputs}) begin",
        *("    " + line for line in _load_hold()),
        "        end",
        "      end",
        "    end",
        "    case (f_state)",
        f"    {_IDLE}: if (!{GO}) {DONE} <= 0;",
        f"    else if (!{DONE}) begin",
        f"      f_in = $fopen(\"{INPUTS_FILE}\", \"r\");",
        f"      f_holds = $fopen(\"{HOLDS_FILE}\", \"r\");",
        f"      f_out = $fopen(\"{RESULTS_FILE}\", \"w\");",
        "      if (f_in == 0 || f_holds == 0 || f_out == 0)",
        "        $fatal(1, \"feeder: cannot open its files\");",
        "      f_sample <= 0; f_word <= 0;",
        f"      if ({COUNT} == 0) begin",
        *("  " + line for line in _finish(hung=False)),
        "      end else begin",
        *("  " + line for line in _load_word(first=True)),
        "      end",
        "    end",
        f"    {_GAP}: begin",
        "      f_gap <= f_gap - 1;",
        "      if (f_gap == 1) begin",
        f"        f_valid <= 1; f_payload <= f_value; f_state <= {_STREAM};",
        "      end",
        "    end",
        f"    {_STREAM}: if (input__ready) begin",
        f"      if (f_word == {features - 1}) begin",
        f"        f_word <= 0; f_valid <= 0; f_start <= 1; f_state <= {_START};",
        "      end else begin",
        "        f_word <= f_word + 1;",
        *("  " + line for line in _load_word(first=False)),
        "      end",
        "    end",
        # The edge that samples start launches the run; the design counts it as cycle 1.
        f"    {_START}: begin",
        f"      f_start <= 0; f_cycles <= 1; f_taken <= 0; f_state <= {_WAIT};",
        *_load_hold(),
        "    end",
        f"    {_WAIT}: if (!done) f_cycles <= f_cycles + 1;",
        "    else begin",
        f"      $fwrite(f_out, \"{record}\\n\", {record_args});",
        "      f_sample <= f_sample + 1;",
        f"      if (f_sample + 1 == {COUNT}) begin",
        *("  " + line for line in _finish(hung=False)),
        "      end else begin",
        *("  " + line for line in _load_word(first=True)),
        "      end",
        "    end",
        "    default: ;",
        "    endcase",
        f"    if (feeding && f_elapsed == {hang_cycles}) begin",
        *("  " + line for line in _finish(hung=True)),
        "    end",
        "  end",
        "endmodule",
        "",
    ]
    return verilog + "\n".join(lines), wrapper


def write_inputs(path: str | Path, inputs: np.ndarray, gaps: np.ndarray, junk: np.ndarray) -> None:
    """The feeder's input file: one ``gap junk value`` line per input word, samples in order.

    ``gaps`` idle cycles (with ``junk`` on the payload) come before each word; values are
    written as their int8 bit patterns.
    """
    mask = (1 << ACT_BITS) - 1
    words = np.stack([np.asarray(gaps).ravel(), np.asarray(junk).ravel() & mask,
                      np.asarray(inputs).ravel() & mask], axis=1)
    np.savetxt(path, words, fmt="%d")


def write_holds(path: str | Path, holds: np.ndarray) -> None:
    """The feeder's hold file: cycles each logit of each sample is kept waiting, in order."""
    np.savetxt(path, np.asarray(holds, dtype=np.int64).ravel(), fmt="%d")


def read_results(path: str | Path, batch: int, counters: tuple[str, ...], outputs: int):
    """``(cycles timed by the feeder, predicted, {counter: values}, streamed logits)`` of a
    finished batch.

    Only complete lines count: a hung batch yields the samples before the hang.
    """
    width = outputs + 2 + len(counters)
    rows = [[int(v) for v in line.split()] for line in Path(path).read_text().splitlines()]
    table = np.array([r for r in rows if len(r) == width][:batch], dtype=np.int64)
    table = table.reshape(-1, width)
    timed, predicted = table[:, outputs], table[:, outputs + 1]
    values = {name: table[:, outputs + 2 + i] for i, name in enumerate(counters)}
    return timed, predicted, values, table[:, :outputs]
