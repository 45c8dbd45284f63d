"""Schedules by hand: AGP's cubic at t0, the midpoint and the end; iterative density sequences."""

import pytest

from secateurs.errors import ConfigError
from secateurs.sw.prune.schedules import SCHEDULES, agp_sparsity, densities


def test_agp_at_start_midpoint_and_end():
    kw = dict(t0=10, n=4, dt=5, initial=0.1, final=0.9)
    assert agp_sparsity(10, **kw) == pytest.approx(0.1)                    # s_i at t0
    assert agp_sparsity(20, **kw) == pytest.approx(0.9 - 0.8 / 8)          # (1 - 1/2)^3 = 1/8 left
    assert agp_sparsity(30, **kw) == pytest.approx(0.9)                    # s_f at t0 + n dt
    assert agp_sparsity(0, **kw) == pytest.approx(0.1)                     # held before t0
    assert agp_sparsity(99, **kw) == pytest.approx(0.9)                    # and after the end


@pytest.mark.parametrize("name,density,steps,expected", [
    ("oneshot", 0.1, 1, [0.1]),
    ("linear", 0.1, 3, [0.7, 0.4, 0.1]),
    ("geometric", 0.125, 3, [0.5, 0.25, 0.125]),
    ("agp", 0.2, 2, [0.3, 0.2]),          # s_1 = 0.8 (1 - 0.5^3) = 0.7
])
def test_density_sequences(name, density, steps, expected):
    assert densities(name, density, steps) == pytest.approx(expected)


def test_steps_must_be_positive_and_names_known():
    with pytest.raises(ConfigError, match="positive integer"):
        densities("linear", 0.1, 0)
    with pytest.raises(ConfigError, match="agp, geometric, linear, oneshot"):
        densities("cubic", 0.1, 2)
    assert all(s.description and s.citation for s in SCHEDULES.values())
