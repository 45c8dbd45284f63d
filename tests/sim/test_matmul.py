"""``sim matmul`` under Verilator: one layer as a one-layer accumulator-readout network, outputs
exactly ``X @ W.T`` and cycles exactly ``sw.cycles.network_cycles``.

Each distinct W and design is a build (the weights are ROMs), so the cases are few and small
(P = 2, D = 2): ten builds in all. The dense twin walks every weight whatever they are, so it
runs on the random layer and the 1 x 1 one; the edge shapes and payloads run on the sparse
engine, where they change what is walked. N:M and codebooks on the dense twin are proved by
the CLI's tests (tests/flow/test_cli.py).
"""

import numpy as np
import pytest

from secateurs.config import HardwareConfig
from secateurs.sim.matmul import run_matmul

pytestmark = pytest.mark.rtl

HW = HardwareConfig(pes=2, queue_depth=2)
BOTH, SPARSE = ("sparse", "dense"), ("sparse",)


def _layer(rng, rows, cols, density):
    """A random int8 matrix, about ``density`` of it nonzero."""
    values = rng.integers(-128, 128, (rows, cols))
    values[values == 0] = 1
    return values * (rng.random((rows, cols)) < density)


def _inputs(rng, cols, batch=5):
    """A sparse sample, an all-zero one, one of extremes, then random ones."""
    x = rng.integers(-128, 128, (batch, cols)) * (rng.random((batch, cols)) < 0.6)
    x[1] = 0
    x[2] = rng.choice([-128, 127], cols)
    return x


def _cases():
    rng = np.random.default_rng(11)
    w = _layer(rng, 24, 20, 0.5)
    w[4] = rng.choice([-128, 127], 20)  # a row of extremes, dense but for the empty columns
    w[:, [0, 9, 19]] = 0  # empty columns, the first and last among them
    w[:, 5] = 0
    w[22, 5] = -128  # past a gap of 11 local rows: filler words at a narrow index width
    w[3] = 0  # an all-zero row
    nm = _layer(rng, 10, 16, 1.0)
    nm[:, 2::4] = nm[:, 3::4] = 0  # 2 of every 4 (a pair): inferred as 2:4, not 1:2
    book = rng.choice([-100, -3, 5, 60, 127], (9, 12)) * (rng.random((9, 12)) < 0.5)
    return {
        # name: (W, X, format, payload, designs)
        "random": (w, _inputs(rng, 20), "csc", "int8", BOTH),
        "1 x 1": (np.array([[-128]]), np.array([[3], [0], [-128], [127]]), "csc", "int8", BOTH),
        "1 x N": (_layer(rng, 1, 13, 0.5), _inputs(rng, 13), "csc", "int8", SPARSE),
        "N x 1": (_layer(rng, 9, 1, 0.6), _inputs(rng, 1), "csc", "int8", SPARSE),
        "all zero": (np.zeros((6, 7), dtype=int), _inputs(rng, 7), "csc", "int8", SPARSE),
        "fully dense extremes": (np.full((5, 8), -128), np.full((3, 8), -128), "csc", "int8",
                                 SPARSE),
        "nm int4": (np.clip(nm, -8, 7), _inputs(rng, 16), "nm", "int4", SPARSE),
        "codebook": (book, _inputs(rng, 12), "csc", "codebook", SPARSE),
    }


CASES = _cases()


@pytest.fixture(scope="module")
def results(build_cache):
    return {name: run_matmul(w, x, hw=HW, build_root=build_cache, fmt=fmt, payload=payload,
                             kinds=kinds)
            for name, (w, x, fmt, payload, kinds) in CASES.items()}


@pytest.mark.parametrize("case", CASES)
def test_outputs_are_exactly_x_times_w(results, case):
    w, x, *_ = CASES[case]
    result = results[case]
    assert result.layer.exact
    np.testing.assert_array_equal(result.outputs, x.astype(np.int64) @ w.astype(np.int64).T)


@pytest.mark.parametrize("case", CASES)
def test_cycles_are_the_model(results, case):
    result = results[case]
    for kind, cycles in result.cycles.items():
        np.testing.assert_array_equal(cycles, result.expected_cycles[kind], err_msg=kind)


def test_the_cases_are_what_they_claim(results):
    """Fillers and empty columns in the random layer, 2:4 inferred, 5 levels in the codebook."""
    csc = results["random"].layer.packed.layers[0]
    assert csc.n_fillers() > 0 and not csc.counts().any(axis=0)[[0, 9, 19]].any()
    assert results["nm int4"].layer.nm == (2, 4)
    assert results["codebook"].layer.packed.layers[0].codebook is not None


def test_sparse_skips_what_dense_walks(results):
    """The half-dense random layer: the sparse engine's whole runs are shorter, by the model."""
    result = results["random"]
    assert result.cycles["sparse"].sum() < result.cycles["dense"].sum()
    # The all-zero sample: no work, only the drain of the 24 rows and the argmax.
    assert result.cycles["sparse"][1] < result.cycles["sparse"][0]


def test_idle_and_held_cycles_on_the_streams(results, build_cache):
    """Idle input cycles and outputs held back (32-bit accumulators through the feeder): the
    same outputs, and cycles the model's plus exactly the cycles held."""
    w, x, fmt, payload, _ = CASES["random"]
    held = run_matmul(w, x, hw=HW, build_root=build_cache, kinds=SPARSE, idle_seed=3)
    np.testing.assert_array_equal(held.outputs, results["random"].outputs)
    assert (held.cycles["sparse"] > results["random"].cycles["sparse"]).any()
    np.testing.assert_array_equal(held.cycles["sparse"], held.expected_cycles["sparse"])
