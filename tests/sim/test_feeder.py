"""The feeder's wrapper (no RTL): the checked-in feeder.v instantiated with the design's widths
(nothing of a model: its feature and output counts and load words come in files), the design's
ports passed through, and the clock's port parser it relies on."""

import numpy as np
import pytest

from secateurs.sim.clock import top_ports
from secateurs.sim.feeder import (FEEDER_MODULE, GO, HUNG, fed_wrapper, feeder_verilog,
                                  write_holds, write_inputs)


def _design(outputs_bits: int, predicted: bool) -> str:
    ports = [("input", 1, "clk"), ("input", 1, "rst"), ("input", 1, "input__valid"),
             ("input", 8, "input__payload"), ("output", 1, "input__ready"), ("input", 1, "start"),
             ("output", 1, "done"), ("output", 1, "output__valid"),
             ("output", outputs_bits, "output__payload"), ("input", 1, "output__ready"),
             ("output", 32, "counters__cycles"), ("output", 32, "counters__macs"),
             ("input", 1, "load__valid"), ("input", 32, "load__payload"),
             ("output", 1, "load__ready"),
             *([("output", 3, "predicted")] if predicted else [])]
    lines = [f"module acc({', '.join(name for _, _, name in ports)});"]
    lines += [f"  {d} {f'[{w - 1}:0] ' if w > 1 else ''}{name};" for d, w, name in ports]
    return "\n".join([*lines, "endmodule", ""])


def test_the_feeder_is_package_data():
    text = feeder_verilog()
    assert f"module {FEEDER_MODULE} #(" in text and "parameter VALUE_BITS" in text


def test_the_wrapper_carries_accumulator_wide_outputs():
    verilog, top = fed_wrapper(_design(32, predicted=True), "acc", counters=("cycles", "macs"),
                               hang_cycles=99)
    assert top == "acc_clocked"
    assert verilog.count(f"module {FEEDER_MODULE} #(") == 1
    assert ".FEATURES(" not in verilog and ".OUTPUTS(" not in verilog
    for parameter in (".VALUE_BITS(32)", ".PREDICTED_BITS(3)",
                      ".COUNTERS(2)", ".COUNTER_BITS(32)", ".HANG_CYCLES(99)",
                      '.RESULTS_FILE("feed_results.txt")', '.LOAD_FILE("feed_load.txt")'):
        assert parameter in verilog
    assert ".counters({counters__macs, counters__cycles})" in verilog  # the first lowest
    assert ".input__valid(feeding ? f_valid : input__valid)" in verilog
    assert ".output__payload(output__payload)" in verilog
    assert ".load__payload(feeding ? f_lpayload : load__payload)" in verilog
    assert ".l_ready(load__ready)" in verilog
    assert {p.name for p in top_ports(verilog, "acc")} == {
        p.name for p in top_ports(_design(32, True), "acc")}


def test_a_one_output_design_has_no_class_port():
    verilog, _ = fed_wrapper(_design(8, predicted=False), "acc", counters=("cycles",))
    assert ".predicted(1'b0)" in verilog and ".PREDICTED_BITS(1)" in verilog
    assert f"input wire {GO}" in verilog and f"output wire {HUNG}" in verilog


def test_a_design_without_the_ports_is_refused():
    with pytest.raises(ValueError, match="no 'counters__stalls' port"):
        fed_wrapper(_design(8, True), "acc", counters=("stalls",))


def test_ports_are_parsed_from_the_declarations():
    verilog = ("module top(a, clk, y);\n  input [3:0] a;\n  input clk;\n  output signed [7:0] y;\n"
               "endmodule\n")
    assert [(p.name, p.direction, p.width, p.signed) for p in top_ports(verilog, "top")] == [
        ("a", "input", 4, False), ("clk", "input", 1, False), ("y", "output", 8, True)]
    assert top_ports(verilog, "top")[2].declaration() == "output wire signed [7:0] y"


def test_the_input_and_hold_files_are_what_the_feeder_scans(tmp_path):
    """A ``features outputs`` line, then ``gap junk value`` per word (int8 as bit patterns, junk
    masked to the payload), samples in order; holds one a line; an empty batch is the header."""
    inputs = np.array([[1, -1, 0], [-128, 127, 5]])
    gaps = np.array([[0, 2, 0], [1, 0, 0]])
    junk = np.array([[0, 300, 0], [-3, 0, 0]])
    write_inputs(tmp_path / "in.txt", inputs, gaps, junk, outputs=4)
    assert (tmp_path / "in.txt").read_text() == ("3 4\n0 0 1\n2 44 255\n0 0 0\n"
                                                 "1 253 128\n0 0 127\n0 0 5\n")
    write_inputs(tmp_path / "none.txt", inputs[:0], gaps[:0], junk[:0], outputs=4)
    assert (tmp_path / "none.txt").read_text() == "3 4\n"
    write_holds(tmp_path / "holds.txt", np.array([[0, 3], [1, 0]]))
    assert (tmp_path / "holds.txt").read_text() == "0\n3\n1\n0\n"
