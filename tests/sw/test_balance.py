"""Hidden neurons renumbered to balance the PEs: the network computes exactly the same, every PE
gets the work the greedy assignment promises, and the cycle model's compute time drops."""

import numpy as np
import pytest

from secateurs.errors import InputError
from secateurs.sw.balance import balance_rows, row_order, row_work
from secateurs.sw.cycles import network_cycles
from secateurs.sw.reference import classify, forward
from tests.helpers.models import packed, random_inputs, random_model


def test_row_order_hand_case():
    # Rows 0 and 2 are heavy; row r % 2 puts both in PE 0 (16 vs 2 words).
    order = row_order(np.array([8.0, 1.0, 8.0, 1.0]), pes=2)
    assert sorted(order.tolist()) == [0, 1, 2, 3]
    loads = [sum([8.0, 1.0, 8.0, 1.0][r] for r in order[p::2]) for p in range(2)]
    assert loads == [9.0, 9.0]


@pytest.mark.parametrize("rows,pes", [(10, 8), (7, 3), (64, 8), (5, 8)])
def test_row_order_is_a_permutation_that_respects_each_pe_slots(rows, pes):
    rng = np.random.default_rng(rows * pes)
    work = rng.exponential(size=rows)
    order = row_order(work, pes)
    assert sorted(order.tolist()) == list(range(rows))
    balanced = [work[order[p::pes]].sum() for p in range(pes)]
    plain = [work[p::pes].sum() for p in range(pes)]
    assert max(balanced) <= max(plain) + 1e-12


def test_row_work_weights_each_word_by_its_input_frequency():
    weight = np.array([[1, 0, 3], [0, 2, 0]])
    x = np.array([[1, 0, 5], [1, 0, 0], [2, 4, 0], [3, 0, 0]])  # inputs nonzero 4, 1, 1 times
    np.testing.assert_allclose(row_work(weight, x), [1.0 + 0.25, 0.25])


def test_the_balanced_network_computes_the_same_logits():
    rng = np.random.default_rng(3)
    model = random_model(rng, [16, 24, 20, 6], 0.3)
    x = random_inputs(rng, 40, 16)
    balanced = balance_rows(model, 4, x)
    want = forward(model, x)[-1]
    np.testing.assert_array_equal(forward(balanced, x)[-1], want)
    np.testing.assert_array_equal(classify(forward(balanced, x)[-1]), classify(want))
    np.testing.assert_array_equal(balanced.layers[-1].bias, model.layers[-1].bias)  # logits stay put
    with pytest.raises(InputError, match="PE count"):
        balance_rows(model, 0, x)


def test_balancing_shortens_an_imbalanced_layer():
    """All the weight in the rows of PE 0: after balancing the compute phase is shorter."""
    rng = np.random.default_rng(5)
    model = random_model(rng, [16, 32, 8], 0.9)
    first = model.layers[0]
    first.weight[np.arange(32) % 4 != 0] = 0
    first.weight[np.arange(32) % 4 != 0, 0] = 1  # every row keeps a weight: no dead neurons
    x = random_inputs(rng, 20, 16, zero_fraction=0.0)
    balanced = balance_rows(model, 4, x)
    before = network_cycles(packed(model, pes=4), x, queue_depth=8, array="sparse")
    after = network_cycles(packed(balanced, pes=4), x, queue_depth=8, array="sparse")
    assert (after.compute[0] < before.compute[0]).all()
    np.testing.assert_array_equal(forward(balanced, x)[-1], forward(model, x)[-1])
