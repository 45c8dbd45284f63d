"""The whole-network cycle and event models of conv networks (conv and pool layers, then Linear
ones): each conv layer costs its computed positions' scans, compute phases and drains, composed
with the Linear layers as the hardware runs them; checked against per-position loops, hand
counts and torch."""

import dataclasses

import numpy as np
import pytest
import torch

from secateurs.errors import InputError
from secateurs.hw.image import ConvGeometry as HwGeometry
from secateurs.sim.events import PREDICTED, network_events
from secateurs.sw.conv import Pool
from secateurs.sw.cycles import (ARGMAX_LATENCY, DRAIN_LATENCY, IDLE_CYCLES, dense_cycles,
                                 network_cycles, sparse_cycles)
from secateurs.sw.reference import QuantModel, forward
from tests.helpers.conv_models import Conv, Linear, packed, random_conv_model, random_maps

SPEC = [Conv(3, 3, padding=1, pool="max"), Conv(4, 3, stride=1, padding=2, pool="avg"),
        Linear(6), Linear(5)]
SHAPE = (2, 8, 7)


def network(seed=0, spec=SPEC, shape=SHAPE, pes=2, batch=4):
    rng = np.random.default_rng(seed)
    x = random_maps(rng, batch, shape, 0.6)
    x[0] = 0
    return packed(random_conv_model(rng, shape, spec, x), pes=pes), x


def kept_positions(g):
    """(oy, ox) of every conv output some pool window keeps, by loops over the map."""
    oh = (g.in_height + 2 * g.padding[0] - g.kernel[0]) // g.stride[0] + 1
    ow = (g.in_width + 2 * g.padding[1] - g.kernel[1]) // g.stride[1] + 1
    ph, pw = (1, 1) if g.pool is None else g.pool.size
    return [(oy, ox) for oy in range(oh // ph * ph) for ox in range(ow // pw * pw)]


def patch_at(a, g, oy, ox):
    """The (c, ky, kx) patch of flat map ``a`` at output (oy, ox), 0 on the padding."""
    m = a.reshape(g.in_channels, g.in_height, g.in_width)
    out = []
    for c in range(g.in_channels):
        for ky in range(g.kernel[0]):
            for kx in range(g.kernel[1]):
                iy, ix = oy * g.stride[0] - g.padding[0] + ky, ox * g.stride[1] - g.padding[1] + kx
                inside = 0 <= iy < g.in_height and 0 <= ix < g.in_width
                out.append(m[c, iy, ix] if inside else 0)
    return np.array(out)


def loop_model(p, x, *, depth, width, array):
    """Per-sample cycles summed layer by layer, position by position."""
    acts = [x, *(a.reshape(len(x), -1) for a in forward(p.model, x)[:-1])]
    total = np.full(len(x), ARGMAX_LATENCY, dtype=np.int64)
    for q, c, a in zip(p.model.layers, p.layers, acts):
        g = q.geometry
        if g is None:
            if array == "dense":
                total += dense_cycles(q.rows, q.cols, p.pes)
            else:
                total += sparse_cycles(c.counts(), a != 0, queue_depth=depth, issue_width=width)
            total += q.rows + DRAIN_LATENCY
            continue
        for n in range(len(x)):
            for oy, ox in kept_positions(g):
                if array == "dense":
                    total[n] += dense_cycles(q.rows, q.cols, p.pes)
                else:
                    active = patch_at(a[n], g, oy, ox)[None, :] != 0
                    total[n] += sparse_cycles(c.counts(), active, queue_depth=depth,
                                              issue_width=width)[0]
                    total[n] += g.in_channels * g.kernel[0]  # the scan, a patch row a cycle
                total[n] += q.rows + DRAIN_LATENCY
    return total


@pytest.mark.parametrize("array", ["sparse", "dense"])
@pytest.mark.parametrize("depth, width", [(1, 1), (2, 2), (4, 4)])
def test_conv_pool_conv_pool_linear_is_the_sum_of_positions_and_layers(array, depth, width):
    p, x = network()
    got = network_cycles(p, x, queue_depth=depth, issue_width=width, array=array)
    np.testing.assert_array_equal(got.total, loop_model(p, x, depth=depth, width=width,
                                                        array=array))
    assert got.compute.shape == got.drain.shape == (4, len(x))
    np.testing.assert_array_equal(got.total, got.compute.sum(0) + got.drain.sum(0)
                                  + ARGMAX_LATENCY)


def test_all_zero_input_costs_scans_and_idle_positions_only():
    """Bias -5000 with ReLU: every map is zero, so each sparse position costs its C*KH scan,
    the idle compute phase and its drain; the pools keep 8x6 of layer 0's 8x7 map (4x3
    windows of 2x2) and 6x4 of layer 1's 6x5 (3x4 input padded by 2)."""
    p, _ = network(spec=[Conv(3, 3, padding=1, pool="max"), Conv(4, 3, padding=2, pool="avg"),
                         Linear(5)])
    for q in p.model.layers:
        q.bias[:] = -5000
    x = np.zeros((1, int(np.prod(SHAPE))), dtype=np.int64)
    got = network_cycles(p, x, queue_depth=2, array="sparse").total[0]
    conv0 = 48 * (2 * 3 + IDLE_CYCLES + 3 + DRAIN_LATENCY)
    conv1 = 24 * (3 * 3 + IDLE_CYCLES + 4 + DRAIN_LATENCY)
    assert got == conv0 + conv1 + IDLE_CYCLES + 5 + DRAIN_LATENCY + ARGMAX_LATENCY


def test_dense_conv_network_hand_count():
    p, x = network(spec=[Conv(3, 3, padding=1, pool="max"), Linear(5)], pes=2)
    # 48 kept positions of 18 columns x 2 rows a PE, + MAC_LATENCY + 1 = 4; 3 rows drained
    # each; the Linear reads the 3x4x3 pooled map: 36 columns x 3 rows a PE
    conv = 48 * (18 * 2 + 4 + 3 + DRAIN_LATENCY)
    linear = 36 * 3 + 4 + 5 + DRAIN_LATENCY
    got = network_cycles(p, x, queue_depth=1, array="dense").total
    assert (got == conv + linear + ARGMAX_LATENCY).all()


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_events_of_a_conv_network(kind):
    """MACs from torch (conv of the nonzero masks, summed over kept positions); drains O per
    kept position; hidden writes the pooled maps; the rest layer by layer from the patches."""
    p, x = network(seed=3)
    events = network_events(p, x, kind=kind, issue_width=2)
    acts = [x, *(a.reshape(len(x), -1) for a in forward(p.model, x)[:-1])]
    for i, (q, a, e) in enumerate(zip(p.model.layers, acts, events)):
        assert set(PREDICTED) <= set(e)
        g = q.geometry
        if g is None:
            continue
        nz_w = torch.tensor((q.weight != 0).reshape(q.rows, g.in_channels, *g.kernel), dtype=torch.float64)
        nz_x = torch.tensor((a != 0).reshape(len(x), g.in_channels, g.in_height, g.in_width),
                            dtype=torch.float64)
        pairs = torch.nn.functional.conv2d(nz_x, nz_w, stride=g.stride, padding=g.padding).numpy()
        kept = kept_positions(g)
        want = sum(pairs[:, :, oy, ox].sum(axis=1) for oy, ox in kept)
        np.testing.assert_array_equal(e["macs"], want.astype(np.int64))
        np.testing.assert_array_equal(e["drains"], len(kept) * q.rows)
        pooled = int(np.prod(q.out_shape))
        np.testing.assert_array_equal(e["act_writes"], pooled + (a.shape[1] if i == 0 else 0))


def test_a_geometry_the_hardware_cannot_walk_is_one_line():
    p, x = network(spec=[Conv(3, 3, padding=1), Linear(5)])
    q = p.model.layers[0]
    dilated = dataclasses.replace(q.geometry, dilation=(2, 2), padding=(1, 1))
    p2 = dataclasses.replace(p, model=QuantModel(1.0, (dataclasses.replace(q, geometry=dilated),
                                                       p.model.layers[1])))
    with pytest.raises(InputError, match=r"^layer 0 \(conv\): The hardware walks dilation "
                                         r"\(1, 1\) only, not \(2, 2\)$"):
        network_cycles(p2, x, queue_depth=2, array="sparse")
    overlapping = dataclasses.replace(q.geometry, pool=Pool("max", (3, 3), (2, 2)))
    with pytest.raises(ValueError, match=r"^The hardware pools with stride = window size only"):
        HwGeometry.of(overlapping)


def test_walk_is_window_by_window():
    g = HwGeometry(1, 5, 5, 1, 1, pool="max", pool_h=2, pool_w=2)
    assert g.walk() == [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (0, 3), (1, 2), (1, 3),
                        (2, 0), (2, 1), (3, 0), (3, 1), (2, 2), (2, 3), (3, 2), (3, 3)]
    assert (g.pooled_h, g.pooled_w, g.positions, g.out_positions) == (2, 2, 16, 4)
