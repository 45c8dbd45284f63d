"""The generated arrays under Verilator: bit-exact outputs and exactly the modelled cycles.

One sparse and one dense array are built once, big enough for every case; each case then runs at
its own size through the run-time ``n_rows``/``n_cols``. All cases of an array share one
simulator process, so the module costs two builds and a few simulator starts.
"""

import numpy as np
import pytest

from secateurs.config import HardwareConfig
from secateurs.errors import InputError, SimulationError
from secateurs.sim import runner
from secateurs.sim.layer import build_array
from secateurs.sim.tb.checker import check_cycles, check_outputs
from secateurs.sim.tb.model import reference_outputs

pytestmark = pytest.mark.rtl

HW = HardwareConfig(pes=4, queue_depth=2)
INDEX_BITS = 4
#: Built size: 18 local rows per PE, so a gap of 16+ rows needs a filler word at 4 index bits.
ROWS, COLS = 72, 40
BATCH = 6
KINDS = ("sparse", "dense")


def _layer(rng, rows, cols, density):
    """A random int8 matrix with about ``density`` of its entries nonzero (never -0 or 0 kept)."""
    values = rng.integers(-128, 128, (rows, cols))
    values[values == 0] = 1
    return values * (rng.random((rows, cols)) < density)


def _inputs(rng, cols, zero_fraction=0.3):
    x = rng.integers(-128, 128, (BATCH, cols))
    return x * (rng.random((BATCH, cols)) >= zero_fraction)


def _cases():
    rng = np.random.default_rng(2024)
    cases = {
        "density 0": (np.zeros((ROWS, COLS), dtype=int), _inputs(rng, COLS)),
        "density 0.1": (_layer(rng, ROWS, COLS, 0.1), _inputs(rng, COLS)),
        "density 0.5": (_layer(rng, ROWS, COLS, 0.5), _inputs(rng, COLS)),
        "density 1.0": (_layer(rng, ROWS, COLS, 1.0), _inputs(rng, COLS, 0.0)),
        "smaller than built": (_layer(rng, 29, 17, 0.3), _inputs(rng, 17)),
        "1 x N": (_layer(rng, 1, COLS, 0.5), _inputs(rng, COLS)),
        "N x 1": (_layer(rng, ROWS, 1, 0.5), _inputs(rng, 1)),
        "1 x 1": (np.array([[-7]]), np.array([[3], [0], [-128], [127], [1], [-1]])),
        "extremes": (np.full((ROWS, COLS), -128), np.full((BATCH, COLS), -128)),
    }
    w = _layer(rng, ROWS, COLS, 0.4)
    w[:, [0, 13, COLS - 1]] = 0  # empty columns, the first and last among them
    cases["empty columns"] = (w, _inputs(rng, COLS))
    x = _inputs(rng, COLS, 0.6)
    x[0] = 0  # a sample with no nonzero activation
    x[1, ::2] = 0
    cases["zero activations"] = (_layer(rng, ROWS, COLS, 0.5), x)
    w = np.zeros((ROWS, COLS), dtype=int)
    w[ROWS - 1, :] = 5  # local row 17 of PE 3: one filler, then the word
    w[ROWS - 5, 3] = -9
    w[0, 7] = 11
    cases["filler words"] = (w, _inputs(rng, COLS, 0.0))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def build_root(request, tmp_path_factory):
    """Builds are cached across sessions (a changed design rebuilds: the key is its Verilog)."""
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return tmp_path_factory.mktemp("rtl-builds")
    return cache.mkdir("rtl-builds")


@pytest.fixture(scope="module")
def arrays(build_root):
    return {kind: build_array(kind, rows=ROWS, cols=COLS, hw=HW, index_bits=INDEX_BITS,
                              build_root=build_root) for kind in KINDS}


@pytest.fixture(scope="module")
def results(arrays):
    """Every case on each array, one simulator process per array: ``{kind: {case: LayerResult}}``."""
    return {kind: dict(zip(CASES, array.run_many(list(CASES.values()))))
            for kind, array in arrays.items()}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", KINDS)
def test_outputs_are_exact(results, kind, case):
    w, x = CASES[case]
    check_outputs(results[kind][case].outputs, reference_outputs(w, x), label=f"{kind} {case}")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", KINDS)
def test_cycles_match_the_model(arrays, results, kind, case):
    w, x = CASES[case]
    check_cycles(results[kind][case].cycles, arrays[kind].expected_cycles(w, x),
                 label=f"{kind} {case}")


def test_sparse_skips_what_dense_walks(results):
    """On a 10%-dense layer the sparse array takes well under a third of the dense cycles."""
    sparse, dense = (results[kind]["density 0.1"].cycles for kind in KINDS)
    assert (3 * sparse < dense).all(), (sparse, dense)


@pytest.mark.parametrize("kind", KINDS)
def test_idle_host_cycles_change_nothing(arrays, results, kind):
    """Random idle cycles between host writes: same outputs, same cycles (loading is not timed)."""
    chosen = ["density 0.5", "smaller than built", "zero activations"]
    idle = arrays[kind].run_many([CASES[c] for c in chosen], idle_seed=7)
    for case, result in zip(chosen, idle):
        np.testing.assert_array_equal(result.outputs, results[kind][case].outputs)
        np.testing.assert_array_equal(result.cycles, results[kind][case].cycles)


def test_layer_larger_than_built_is_refused(arrays):
    with pytest.raises(InputError, match="does not fit"):
        arrays["sparse"].run(np.ones((ROWS + 1, COLS), dtype=int), np.ones((1, COLS), dtype=int))


def test_checker_names_the_first_mismatch():
    expected = np.arange(12).reshape(3, 4)
    actual = expected.copy()
    actual[1, 2] = 99
    actual[2, 0] = 98
    with pytest.raises(SimulationError, match="sample 1 row 2 is 99, expected 6 .2 of 12"):
        check_outputs(actual, expected)
    with pytest.raises(SimulationError, match="sample 2 took 5 cycles, the model says 4"):
        check_cycles(np.array([1, 2, 5]), np.array([1, 2, 4]))


def test_failed_build_reports_the_error_line(tmp_path):
    broken = "module broken(input clk, input rst);\n  wire w = ;\nendmodule\n"
    with pytest.raises(SimulationError, match=r"broken\.v:2:.*syntax error"):
        runner.build(broken, toplevel="broken", parameters={}, build_root=tmp_path)


@pytest.mark.parametrize("kind", KINDS)
def test_per_cycle_monitor_sees_the_same_runs(arrays, results, kind):
    """The naive monitor (a Python step per edge) and the fast one (one trigger) agree."""
    chosen = ["density 0.5", "zero activations"]
    slow = arrays[kind].run_many([CASES[c] for c in chosen], per_cycle=True)
    for case, result in zip(chosen, slow):
        np.testing.assert_array_equal(result.outputs, results[kind][case].outputs)
        np.testing.assert_array_equal(result.cycles, results[kind][case].cycles)


def test_clock_wrapper_keeps_the_ports():
    from secateurs.sim.clock import self_clocked, top_ports

    verilog = ("module top(a, clk, y);\n  input [3:0] a;\n  input clk;\n  output signed [7:0] y;\n"
               "endmodule\n")
    wrapped, name = self_clocked(verilog, "top")
    assert name == "top_clocked"
    assert [(p.name, p.direction, p.width, p.signed) for p in top_ports(verilog, "top")] == [
        ("a", "input", 4, False), ("clk", "input", 1, False), ("y", "output", 8, True)]
    assert "input wire [3:0] a" in wrapped and "output wire signed [7:0] y" in wrapped
    assert "always #(5.0) clk = ~clk;" in wrapped and ".clk(clk)" in wrapped
    with pytest.raises(ValueError, match="no 'clk' input"):
        self_clocked("module top(a);\n  input a;\nendmodule\n", "top")
