"""The whole-network cycle model is the composition of the per-layer models plus drain and argmax."""

import numpy as np

from secateurs.sw.cycles import (ARGMAX_LATENCY, DRAIN_LATENCY, IDLE_CYCLES, dense_cycles,
                                 network_cycles, nm_cycles, sparse_cycles)
from secateurs.sw.reference import forward
from tests.helpers.models import packed, random_inputs, random_model


def test_sum_of_layers_drains_and_argmax():
    rng = np.random.default_rng(0)
    p = packed(random_model(rng, [16, 24, 10], 0.3), pes=4)
    x = random_inputs(rng, 7, 16)
    acts = [x, *forward(p.model, x)[:-1]]
    for depth in (1, 4):
        got = network_cycles(p, x, queue_depth=depth, array="sparse")
        want = sum(sparse_cycles(c.counts(), a != 0, queue_depth=depth) + q.rows + DRAIN_LATENCY
                   for q, c, a in zip(p.model.layers, p.layers, acts)) + ARGMAX_LATENCY
        np.testing.assert_array_equal(got.total, want)
    dense = network_cycles(p, x, queue_depth=1, array="dense").total
    assert (dense == dense_cycles(24, 16, 4) + dense_cycles(10, 24, 4) + 24 + 10
            + 2 * DRAIN_LATENCY + ARGMAX_LATENCY).all()


def test_zero_input_costs_idle_layers():
    rng = np.random.default_rng(1)
    model = random_model(rng, [8, 6, 3], 0.5)
    for layer in model.layers:
        layer.bias[:] = -5000  # every hidden output is 0 after ReLU
    p = packed(model, pes=2)
    got = network_cycles(p, np.zeros((1, 8), dtype=int), queue_depth=2, array="sparse").total
    assert got[0] == 2 * IDLE_CYCLES + 6 + 3 + 2 * DRAIN_LATENCY + ARGMAX_LATENCY


def test_deeper_queues_never_cost_cycles():
    rng = np.random.default_rng(2)
    p = packed(random_model(rng, [40, 64, 10], 0.15), pes=8)
    x = random_inputs(rng, 20, 40)
    totals = [network_cycles(p, x, queue_depth=d, array="sparse").total for d in (1, 2, 4, 8, 16)]
    for shallow, deep in zip(totals, totals[1:]):
        assert (deep <= shallow).all()


def test_nm_layers_cost_n_of_m_of_the_dense_walk():
    # 64 x 128 at P = 4: 32 groups of 4 inputs, 16 local rows; a 2:4 group takes 32 cycles.
    # Launch + 3, M reads, then each group W = N * 16 cycles, the last one's MACs land 3 later.
    for n, walk in ((2, 32), (1, 16)):
        assert nm_cycles(64, 128, 4, n, 4) == 3 + 4 + 31 * walk + walk - 1 + 4
    assert abs(dense_cycles(64, 128, 4) / nm_cycles(64, 128, 4, 2, 4) - 2) < 0.02
    # Short groups wait for the next group's activations: max(W, M + 2) per group.
    assert nm_cycles(8, 16, 8, 1, 4) == 3 + 4 + 3 * 6 + 1 - 1 + 4
    # Only groups holding a nonzero activation are walked; none: the idle latency.
    np.testing.assert_array_equal(nm_cycles(64, 128, 4, 2, 4, np.array([32, 5, 1, 0])),
                                  [nm_cycles(64, 128, 4, 2, 4), 3 + 4 + 4 * 32 + 31 + 4,
                                   3 + 4 + 31 + 4, IDLE_CYCLES])


def test_nm_layers_skip_groups_of_zeros():
    rng = np.random.default_rng(3)
    model = random_model(rng, [16, 12, 6], 1.0)
    for q in model.layers:  # keep 2 of every 4
        q.weight[:, np.arange(q.cols) % 4 >= 2] = 0
    p = packed(model, pes=2, fmt="nm")
    assert (p.layers[0].n, p.layers[0].m) == (2, 4)
    x = random_inputs(rng, 3, 16)
    x[0, :8], x[0, 8:] = 0, np.arange(1, 9)
    acts = [x, *forward(p.model, x)[:-1]]
    got = network_cycles(p, x, queue_depth=1, array="sparse").compute
    for layer, (q, a) in enumerate(zip(p.model.layers, acts)):
        groups = (a != 0).reshape(len(x), -1, 4).any(axis=2).sum(axis=1)
        np.testing.assert_array_equal(got[layer], nm_cycles(q.rows, q.cols, 2, 2, 4, groups))
    assert got[0, 0] == nm_cycles(12, 16, 2, 2, 4, 2)  # the first two groups skipped
