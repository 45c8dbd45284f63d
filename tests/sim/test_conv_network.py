"""Conv networks under Verilator: conv and pool layers after conv layers, then Linear layers
(a LeNet-5 shape at reduced channel counts on 28x28 maps; conv -> pool -> conv -> pool ->
Linear -> Linear with max and avg pools, padding 0, 1 and 2, stride 1 and 2, densities 0 to 1,
an all-zero input and a fully dense layer), loaded into the one conv capacity of ``sim conv``'s
tests (the same two builds): logits and class equal the integer reference, cycles the
whole-network model plus the cycles the host held the output, every predicted event counter
its model, on the sparse design and its dense twin (:func:`~secateurs.sim.network.prove`)."""

import numpy as np
import pytest

from secateurs.config import HardwareConfig
from secateurs.sim.network import prove
from secateurs.sw.reference import classify, forward
from tests.helpers.conv_models import (RTL_CAPACITY, RTL_ISSUE_WIDTH, RTL_PES, RTL_QUEUE_DEPTH,
                                       Conv, Linear, packed, random_conv_model, random_maps)

HW = HardwareConfig(pes=RTL_PES, queue_depth=RTL_QUEUE_DEPTH, issue_width=RTL_ISSUE_WIDTH)

#: name: (input map (C, H, W), layers, input density)
NETWORKS = {
    "LeNet-5 at 3 and 6 channels": (
        (1, 28, 28), [Conv(3, 5, pool="max", density=0.3), Conv(6, 5, pool="max", density=0.2),
                      Linear(12, density=0.3), Linear(10, density=0.5)], 0.2),
    "max then avg, padding 1 and 2": (
        (2, 10, 10), [Conv(4, 3, padding=1, pool="max", density=0.5),
                      Conv(5, 3, padding=2, pool="avg", density=0.4), Linear(8), Linear(4)],
        0.5),
    "stride 2, then a fully dense conv and 3x3 avg": (
        (3, 13, 13), [Conv(4, 3, stride=2, density=0.6),
                      Conv(6, 1, pool="avg", pool_size=3, density=1.0), Linear(5, density=1.0)],
        1.0),
    "all-zero weights, then max": (
        (1, 9, 9), [Conv(2, 3, density=0.0), Conv(3, 3, padding=1, pool="max", density=0.5),
                    Linear(4)], 0.6),
}


def case(name, batch=3):
    shape, spec, density = NETWORKS[name]
    rng = np.random.default_rng(sorted(NETWORKS).index(name))
    x = random_maps(rng, batch, shape, density)
    if density == 1.0:
        x[x == 0] = -128
    x[0] = 0  # an all-zero input map
    return packed(random_conv_model(rng, shape, spec, x), pes=RTL_PES), x


@pytest.fixture(scope="module")
def proofs(build_cache):
    """Every network proved on both designs of the one capacity (the checks inside ``prove``
    raise at the first output, class, cycle count or event counter off its reference)."""
    return {name: (prove(*case(name), hw=HW, build_root=build_cache, capacity=RTL_CAPACITY,
                         idle_seed=sorted(NETWORKS).index(name), events=True), case(name))
            for name in NETWORKS}


@pytest.mark.rtl
@pytest.mark.parametrize("name", NETWORKS)
def test_logits_and_class_are_the_reference(proofs, name):
    runs, (p, x) = proofs[name]
    logits = forward(p.model, x)[-1]
    for kind in ("sparse", "dense"):
        np.testing.assert_array_equal(runs[kind].result.logits, logits)
        np.testing.assert_array_equal(runs[kind].result.predicted, classify(logits))


@pytest.mark.rtl
@pytest.mark.parametrize("name", NETWORKS)
def test_cycles_are_the_model_s(proofs, name):
    runs, _ = proofs[name]
    for kind in ("sparse", "dense"):
        proof = runs[kind]
        np.testing.assert_array_equal(proof.cycles, proof.expected + proof.result.held_cycles)
    # an all-zero input map costs the sparse design its scans and idle positions only
    assert runs["sparse"].expected[0] < runs["dense"].expected[0]
