"""The analytic cycle model: hand-derived cases, a naive cycle-stepped machine, invariants."""

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from secateurs.config import HardwareConfig
from secateurs.errors import InputError
from secateurs.hw import pe, run_control, scheduler, walker
from secateurs.sw import cycles
from secateurs.sw.cycles import IDLE_CYCLES, dense_cycles, expected_cycles, sparse_cycles
from secateurs.sw.formats.csc import pack_csc


def stepped_sparse(counts, active, queue_depth):
    """One sample, one cycle at a time, the way the RTL's registers evolve (no recurrences)."""
    pes = counts.shape[0]
    pending = deque(j for j in np.flatnonzero(active) if counts[:, j].any())
    staged = None  # column in the broadcast stage
    queues = [deque() for _ in range(pes)]  # word counts of queued columns
    left = [0] * pes  # words the walker has still to issue of its current column
    issued_before = False
    t = 1  # the launch edge (end of cycle 0) latched the work list
    while pending or staged is not None or any(queues) or any(left) or issued_before:
        room = [len(q) < queue_depth for q in queues]  # queue levels at the start of the cycle
        issued = False
        for p in range(pes):
            if left[p]:
                left[p] -= 1
                issued = True
            elif queues[p]:
                left[p] = queues[p].popleft() - 1
                issued = True
        fire = staged is not None and all(room[p] for p in range(pes) if counts[p, staged])
        if fire:
            for p in range(pes):
                if counts[p, staged]:
                    queues[p].append(int(counts[p, staged]))
        if staged is None or fire:
            staged = pending.popleft() if pending else None
        issued_before = issued
        t += 1
    return t + 1  # cycle t finishes; the cycles port counts edges 0..t


def one(counts, active, queue_depth):
    return int(sparse_cycles(np.array(counts), np.array([active], dtype=bool),
                             queue_depth=queue_depth)[0])


def test_single_word():
    # Cycle 1 picks column 0, 2 broadcasts it, 3 issues the word, 4 reads and multiplies it,
    # 5 accumulates (done rises on its edge): edges 0..5.
    assert one([[1]], [True], 1) == 6


def test_two_pes_depth_one_by_hand():
    # counts (PE x column) = [[3, 0], [1, 2]], both activations nonzero, D = 1.
    # Column 0: picked in cycle 1, broadcast in 2 to both PEs; PE0 issues 3..5, PE1 issues 3.
    # Column 1 (PE1 only): picked in 2, ready to broadcast in 3, but PE1's queue still holds
    # column 0 in cycle 3 (popped on that cycle's edge), so it goes out in 4; PE1 issues 5..6.
    # Last issue 6, accumulated on the edge of cycle 8: edges 0..8 = 9.
    assert one([[3, 0], [1, 2]], [True, True], 1) == 9
    # D = 2: column 1 goes out in 3 and PE1 walks it in 4..5; PE0 also ends in 5: 5 + 3 = 8.
    assert one([[3, 0], [1, 2]], [True, True], 2) == 8


def test_no_work_costs_the_fixed_latency_only():
    assert one([[0, 0], [0, 0]], [True, True], 2) == IDLE_CYCLES
    assert one([[4, 2], [1, 3]], [False, False], 2) == IDLE_CYCLES
    assert one(np.zeros((3, 0), dtype=int), [], 1) == IDLE_CYCLES


def test_zero_activations_and_empty_columns_cost_nothing():
    assert one([[2, 5, 0, 1]], [True, False, True, True], 2) == one([[2, 1]], [True, True], 2)


def test_dense_closed_form():
    assert dense_cycles(10, 6, 3) == 6 * 4 + 3
    assert dense_cycles(0, 6, 3) == IDLE_CYCLES


def test_constants_restate_the_rtl():
    assert cycles.MAC_LATENCY == pe.MAC_LATENCY
    assert cycles.QUEUE_LATENCY == walker.QUEUE_LATENCY
    assert cycles.BROADCAST_LATENCY == scheduler.BROADCAST_LATENCY
    assert cycles.IDLE_CYCLES == run_control.IDLE_CYCLES


WORD_COUNTS = st.sampled_from([0, 0, 1, 1, 2, 3, 7])  # many empty and one-word columns
counts_strategy = st.integers(1, 4).flatmap(lambda pes: st.integers(0, 9).flatmap(
    lambda cols: hnp.arrays(np.int64, (pes, cols), elements=WORD_COUNTS)))


@settings(max_examples=300, deadline=None)
@given(counts=counts_strategy, data=st.data())
def test_matches_the_stepped_machine(counts, data):
    active = data.draw(hnp.arrays(bool, (4, counts.shape[1])))
    depth = data.draw(st.integers(1, 4))
    got = sparse_cycles(counts, active, queue_depth=depth)
    assert list(got) == [stepped_sparse(counts, a, depth) for a in active]


@settings(max_examples=200, deadline=None)
@given(counts=counts_strategy, data=st.data())
def test_deeper_queues_never_cost_cycles(counts, data):
    active = data.draw(hnp.arrays(bool, (3, counts.shape[1])))
    by_depth = [sparse_cycles(counts, active, queue_depth=d) for d in range(1, 6)]
    for shallow, deep in zip(by_depth, by_depth[1:]):
        assert np.all(deep <= shallow)


@settings(max_examples=200, deadline=None)
@given(counts=counts_strategy, data=st.data())
def test_no_faster_than_the_busiest_pe(counts, data):
    active = data.draw(hnp.arrays(bool, (3, counts.shape[1])))
    got = sparse_cycles(counts, active, queue_depth=16)
    words = (counts[None, :, :] * active[:, None, :]).sum(axis=2).max(axis=1)
    # First issue in cycle 3 at the earliest, then one word a cycle, then the MAC drain.
    bound = np.where(words > 0, 3 + words - 1 + cycles.MAC_LATENCY + 1, IDLE_CYCLES)
    assert np.all(got >= bound)


def test_expected_cycles_from_a_packed_layer():
    rng = np.random.default_rng(0)
    weights = rng.integers(-128, 128, (12, 7)) * (rng.random((12, 7)) < 0.3)
    x = rng.integers(-128, 128, (5, 7)) * (rng.random((5, 7)) < 0.5)
    layer = pack_csc(weights, pes=3, index_bits=2)
    hw = HardwareConfig(pes=3, queue_depth=2)
    np.testing.assert_array_equal(expected_cycles(hw, layer, x, array="sparse"),
                                  [stepped_sparse(layer.counts(), s != 0, 2) for s in x])
    np.testing.assert_array_equal(expected_cycles(hw, layer, x, array="dense"), [7 * 4 + 3] * 5)


@pytest.mark.parametrize("hw, inputs, array, message", [
    (HardwareConfig(pes=3), np.zeros((2, 7)), "systolic", "array must be one of sparse, dense"),
    (HardwareConfig(pes=2), np.zeros((2, 7)), "sparse", "layer packed for 3 PEs"),
    (HardwareConfig(pes=3), np.zeros((2, 6)), "dense", r"inputs must be \(batch, 7\)"),
    (HardwareConfig(pes=3), np.zeros(7), "sparse", r"inputs must be \(batch, 7\)"),
])
def test_expected_cycles_rejects_bad_input(hw, inputs, array, message):
    layer = pack_csc(np.eye(6, 7, dtype=np.int64), pes=3)
    with pytest.raises(InputError, match=message):
        expected_cycles(hw, layer, inputs, array=array)
