"""The Verilator runner's build cache: a second build of the same design is a hit, and a cached
build keeps only the simulator executable, not the object files and precompiled headers. A run
switches on only a trace its build has compiled in."""

import pytest

from secateurs.errors import SimulationError
from secateurs.sim import runner

pytestmark = pytest.mark.rtl

#: A tiny clocked design (a counter), enough for Verilator and cocotb's simulator main.
COUNTER = """
module counter(input wire clk, input wire rst, output reg [7:0] count);
  always @(posedge clk) count <= rst ? 8'd0 : count + 8'd1;
endmodule
"""
#: What a cached build may weigh: the executable (well under 2 MB) and the small text files.
MAX_BUILD_BYTES = 4 << 20


def _size(folder):
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_build_twice_is_a_cache_hit_and_small(tmp_path):
    first = runner.build(COUNTER, toplevel="counter", parameters={"width": 8},
                         build_root=tmp_path)
    assert first.executable.is_file()
    assert [p.name for p in first.objects.iterdir()] == ["counter"]
    assert _size(first.directory) < MAX_BUILD_BYTES
    built_at = first.executable.stat().st_mtime_ns
    second = runner.build(COUNTER, toplevel="counter", parameters={"width": 8},
                          build_root=tmp_path)
    assert second == first
    assert second.executable.stat().st_mtime_ns == built_at  # not rebuilt


def test_changed_verilog_rebuilds(tmp_path):
    first = runner.build(COUNTER, toplevel="counter", parameters={}, build_root=tmp_path)
    built_at = first.executable.stat().st_mtime_ns
    second = runner.build(COUNTER.replace("8'd1", "8'd2"), toplevel="counter", parameters={},
                          build_root=tmp_path)
    assert second.directory == first.directory
    assert second.executable.stat().st_mtime_ns != built_at


def test_a_run_cannot_trace_what_its_build_did_not_compile_in(tmp_path):
    untraced = runner.Build(tmp_path / "build", "counter")
    with pytest.raises(SimulationError) as error:
        runner.run_test(untraced, "any_module", test_dir=tmp_path / "run", trace=True)
    assert str(error.value) == "the verilator build of counter has no trace compiled in"
    assert not (tmp_path / "run").exists()  # refused before anything ran
