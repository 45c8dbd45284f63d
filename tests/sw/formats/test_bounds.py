"""The analytic costs against packings of large random matrices (the law of large numbers as oracle)."""

import numpy as np
import pytest

from secateurs.sw.formats import FORMATS, INT4, Options, bounds


@pytest.mark.parametrize("density", [0.5, 0.1, 0.02])
@pytest.mark.parametrize("index_bits", [2, 4])
def test_csc_fillers_match_the_expectation(density, index_bits):
    rng = np.random.default_rng(0)
    rows, cols = 400, 300
    w = (rng.random((rows, cols)) < density).astype(np.int64)
    layer = FORMATS["csc"].pack(w, INT4, Options(index_bits=index_bits))
    measured = layer.n_fillers() / int(w.sum())
    expected = bounds.csc_fillers(density, index_bits, rows)
    assert measured == pytest.approx(expected, rel=0.1, abs=0.005)
    assert expected <= bounds.csc_fillers(density, index_bits)  # unbounded columns cost more


def test_unbounded_filler_formula_by_hand():
    # r = 1, d = 1/2: q = 1/4, q / (1 - q) = 1/3
    assert bounds.csc_fillers(0.5, 1) == pytest.approx(1 / 3)
    # a column of 2 rows, r = 1: only a nonzero on row 1... can't have a gap of 2: no fillers
    assert bounds.csc_fillers(0.5, 1, 2) == 0


@pytest.mark.parametrize("density", [0.25, 0.05])
def test_bitmap_and_csr_match_measured(density):
    rng = np.random.default_rng(1)
    w = (rng.random((300, 200)) < density).astype(np.int64)
    nonzeros = int(w.sum())
    d = nonzeros / w.size
    bitmap = FORMATS["bitmap"].size_bits(FORMATS["bitmap"].pack(w, INT4)).total / nonzeros
    assert bitmap == pytest.approx(bounds.bitmap_bits(d, 4))
    csr = FORMATS["csr"].size_bits(FORMATS["csr"].pack(w, INT4)).total / nonzeros
    assert csr == pytest.approx(bounds.csr_bits(d, 300, 200, 4), rel=0.05)


def test_best_width_grows_as_density_falls():
    widths = [bounds.best_csc_bits(d, 1000, 4)[1] for d in (0.5, 0.1, 0.01)]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    assert bounds.best_csc_bits(0.1, 1000, 4)[0] < bounds.bitmap_bits(0.1, 4)
