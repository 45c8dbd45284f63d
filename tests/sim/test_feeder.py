"""The feeder's wrapper (no RTL): the checked-in feeder.v instantiated with the design's widths
(nothing of a model: its feature and output counts and load words come in files), the design's
ports passed through, and the clock's port parser it relies on."""

import pytest

from secateurs.sim.clock import top_ports
from secateurs.sim.feeder import FEEDER_MODULE, GO, HUNG, fed_wrapper, feeder_verilog


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
