"""The analytic cycle model: hand-derived cases, a naive cycle-stepped machine, invariants."""

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from secateurs.config import HardwareConfig
from secateurs.errors import InputError
from secateurs.sw import cycles
from secateurs.sw.cycles import IDLE_CYCLES, dense_cycles, expected_cycles, sparse_cycles
from secateurs.sw.formats.csc import pack_csc


def stepped_sparse(counts, active, queue_depth, issue_width=1):
    """One sample, one cycle at a time, the way the RTL's registers evolve (no recurrences)."""
    pes = counts.shape[0]
    work = [j for j in np.flatnonzero(active) if counts[:, j].any()]
    blocks = deque(sorted({j // issue_width for j in work}))
    fetched = None  # the picked block, on the read ports until the stage takes it
    staged = None  # per PE, word counts of the staged block's columns it has still to take
    queues = [deque() for _ in range(pes)]  # word counts of queued columns
    left = [0] * pes  # words the walker has still to issue of its current column
    issued_before = False
    t = 1  # the launch edge (end of cycle 0) latched the work list
    while (blocks or fetched is not None or staged is not None or any(queues) or any(left)
           or issued_before):
        # Queue levels at the start of the cycle: a pop on this edge frees no room for it.
        room = [min(issue_width, queue_depth - len(q)) for q in queues]
        issued = False
        for p in range(pes):
            if left[p]:
                left[p] -= 1
                issued = True
            elif queues[p]:
                left[p] = queues[p].popleft() - 1
                issued = True
        if staged is not None:
            for p in range(pes):
                queues[p].extend(staged[p][:room[p]])
                staged[p] = staged[p][room[p]:]
            if not any(staged):
                staged = None
        if staged is None and fetched is not None:  # the stage takes it on this edge
            staged, fetched = fetched, None
        if fetched is None and blocks:  # a pick: read on this edge, held on the ports
            block = blocks.popleft()
            mine = [j for j in work if j // issue_width == block]
            fetched = [[int(counts[p, j]) for j in mine if counts[p, j]] for p in range(pes)]
        issued_before = issued
        t += 1
    if not work:  # nothing to issue: cycle 1 finishes; the cycles port counts edges 0..1
        return t + 1
    # The cycle after the last issue is t - 1; its word is accumulated on the edge of cycle
    # t - 2 + MAC_LATENCY, which finishes the run; the cycles port counts edges 0..that.
    return t + cycles.MAC_LATENCY - 1


def one(counts, active, queue_depth, issue_width=1):
    return int(sparse_cycles(np.array(counts), np.array([active], dtype=bool),
                             queue_depth=queue_depth, issue_width=issue_width)[0])


def test_single_word():
    # Cycle 1 picks column 0, 2 registers its pointers, 3 broadcasts it, 4 issues the word,
    # 5 registers it, 6 multiplies it, 7 accumulates (done rises on its edge): edges 0..7.
    assert one([[1]], [True], 1) == 8


def test_two_pes_depth_one_by_hand():
    # counts (PE x column) = [[3, 0], [1, 2]], both activations nonzero, D = 1.
    # Column 0: picked in cycle 1, registered in 2, broadcast in 3 to both PEs; PE0 issues
    # 4..6, PE1 issues 4. Column 1 (PE1 only): picked in 2, staged in 4, but PE1's queue still
    # holds column 0 in cycle 4 (popped on that cycle's edge), so it goes out in 5; PE1 issues
    # 6..7. Last issue 7, accumulated on the edge of cycle 10: edges 0..10 = 11.
    assert one([[3, 0], [1, 2]], [True, True], 1) == 11
    # D = 2: column 1 goes out in 4 and PE1 walks it in 5..6; PE0 also ends in 6: 6 + 4 = 10.
    assert one([[3, 0], [1, 2]], [True, True], 2) == 10


def test_one_column_a_cycle_starves_pes_with_one_word_each():
    # Columns alternate between two PEs, one word each, D = 2. W = 1: column k is picked in
    # cycle k + 1, taken in k + 3, walked in k + 4; the last (k = 3) in 7: 7 + 4 = 11.
    # W = 2: block {0, 1} is picked in 1 and taken by both PEs in 3, block {2, 3} picked in 2
    # and taken in 4; walks in 4 and 5: 5 + 4 = 9.
    counts = [[1, 0, 1, 0], [0, 1, 0, 1]]
    assert one(counts, [True] * 4, 2, issue_width=1) == 11
    assert one(counts, [True] * 4, 2, issue_width=2) == 9


def test_a_block_waits_for_queue_room_lane_by_lane():
    # One PE, counts [2, 1, 1], D = 1, W = 2. Block {0, 1}: picked in 1, offered from 3;
    # column 0 taken in 3, walked 4..5; column 1 taken when column 0 has left the queue (its
    # walk starts in 4), so in 5, walked in 6; the block leaves in 5. Block {2}: picked in 2,
    # offered from 6, taken in 7 (column 1 starts in 6), walked in 8: 8 + 4 = 12.
    assert one([[2, 1, 1]], [True] * 3, 1, issue_width=2) == 12
    # D = 2: both columns of block 0 taken in 3 (walks 4..5 and 6); column 2 offered from 4,
    # taken in 5 (column 0 leaves the queue as its walk starts in 4), walked in 7: 7 + 4 = 11.
    assert one([[2, 1, 1]], [True] * 3, 2, issue_width=2) == 11


def test_a_full_queue_holds_back_only_its_own_pe():
    # PE0 walks 4 words of column 0 in 4..7; D = 1. Column 1 is offered from 4: PE0 takes it only
    # once column 0 has left its queue (its walk starts in 4), so in 5, and walks it in 8; PE1
    # takes it in 4 and walks its 4 words in 5..8, not waiting for PE0: 8 + 4 = 12.
    assert one([[4, 1], [0, 4]], [True, True], 1) == 12
    # W = 2: one block; PE1 takes column 1 in 3 and walks it in 4..7, PE0 ends in 8 as before.
    assert one([[4, 1], [0, 4]], [True, True], 1, issue_width=2) == 12


def test_blocks_without_work_cost_nothing():
    counts = [[1, 2, 1, 3, 2, 1]]
    # Zero activations in a block cost no cycle; a block with none active is skipped.
    assert (one(counts, [False, False, True, True, False, False], 2, issue_width=2)
            == one([[1, 3]], [True, True], 2, issue_width=2))
    # Two work columns in different blocks take two picks, like W = 1.
    assert (one(counts, [True, False, False, True, False, False], 2, issue_width=2)
            == one([[1, 3]], [True, True], 2, issue_width=1))


def test_no_work_costs_the_fixed_latency_only():
    assert one([[0, 0], [0, 0]], [True, True], 2) == IDLE_CYCLES
    assert one([[4, 2], [1, 3]], [False, False], 2) == IDLE_CYCLES
    assert one(np.zeros((3, 0), dtype=int), [], 1) == IDLE_CYCLES


def test_zero_activations_and_empty_columns_cost_nothing():
    assert one([[2, 5, 0, 1]], [True, False, True, True], 2) == one([[2, 1]], [True, True], 2)


def test_dense_closed_form():
    # 6 columns x 4 rows a PE issued in cycles 1..24, the last accumulated 3 later: 0..27
    assert dense_cycles(10, 6, 3) == 6 * 4 + 4
    assert dense_cycles(0, 6, 3) == IDLE_CYCLES



WORD_COUNTS = st.sampled_from([0, 0, 1, 1, 2, 3, 7])  # many empty and one-word columns
counts_strategy = st.integers(1, 4).flatmap(lambda pes: st.integers(0, 9).flatmap(
    lambda cols: hnp.arrays(np.int64, (pes, cols), elements=WORD_COUNTS)))


@settings(max_examples=400, deadline=None)
@given(counts=counts_strategy, data=st.data())
def test_matches_the_stepped_machine(counts, data):
    active = data.draw(hnp.arrays(bool, (4, counts.shape[1])))
    depth = data.draw(st.integers(1, 4))
    width = data.draw(st.sampled_from([1, 2, 4, 8]))
    got = sparse_cycles(counts, active, queue_depth=depth, issue_width=width)
    assert list(got) == [stepped_sparse(counts, a, depth, width) for a in active]


#: Knob → (its values, increasing; the other knob; what the other knob is drawn from).
MONOTONE_KNOBS = {"queue_depth": (range(1, 6), "issue_width", st.sampled_from([1, 2, 4])),
                  "issue_width": ((1, 2, 4, 8), "queue_depth", st.integers(1, 4))}


@pytest.mark.parametrize("knob", MONOTONE_KNOBS)
@settings(max_examples=200, deadline=None)
@given(counts=counts_strategy, data=st.data())
def test_deeper_queues_and_wider_blocks_never_cost_cycles(knob, counts, data):
    values, other, drawn = MONOTONE_KNOBS[knob]
    active = data.draw(hnp.arrays(bool, (3, counts.shape[1])))
    fixed = {other: data.draw(drawn)}
    by_value = [sparse_cycles(counts, active, **fixed, **{knob: v}) for v in values]
    for smaller, larger in zip(by_value, by_value[1:]):
        assert np.all(larger <= smaller)


@settings(max_examples=200, deadline=None)
@given(counts=counts_strategy, data=st.data())
def test_no_faster_than_the_busiest_pe(counts, data):
    active = data.draw(hnp.arrays(bool, (3, counts.shape[1])))
    width = data.draw(st.sampled_from([1, 8]))
    got = sparse_cycles(counts, active, queue_depth=16, issue_width=width)
    words = (counts[None, :, :] * active[:, None, :]).sum(axis=2).max(axis=1)
    # First issue after the first pick, the broadcast and the queue at the earliest, then one
    # word a cycle, then the MAC drain.
    first = cycles.FIRST_PICK + cycles.BROADCAST_LATENCY + cycles.QUEUE_LATENCY
    bound = np.where(words > 0, first + words - 1 + cycles.MAC_LATENCY + 1, IDLE_CYCLES)
    assert np.all(got >= bound)


def test_expected_cycles_from_a_packed_layer():
    rng = np.random.default_rng(0)
    weights = rng.integers(-128, 128, (12, 7)) * (rng.random((12, 7)) < 0.3)
    x = rng.integers(-128, 128, (5, 7)) * (rng.random((5, 7)) < 0.5)
    layer = pack_csc(weights, pes=3, index_bits=2)
    hw = HardwareConfig(pes=3, queue_depth=2, issue_width=2)
    np.testing.assert_array_equal(expected_cycles(hw, layer, x, array="sparse"),
                                  [stepped_sparse(layer.counts(), s != 0, 2, 2) for s in x])
    # 7 columns x 4 rows a PE, then MAC_LATENCY = 3 and the done edge
    np.testing.assert_array_equal(expected_cycles(hw, layer, x, array="dense"), [7 * 4 + 4] * 5)


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
