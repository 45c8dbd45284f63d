"""Huffman code lengths: hand cases, Kraft equality, and the entropy bound H <= L < H + 1."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from secateurs.sw.formats.huffman import code_lengths, coded_bits, table_bits


def test_hand_cases():
    assert code_lengths([1, 1, 1, 1, 2, 2, 3, 4]) == {1: 1, 2: 2, 3: 3, 4: 3}
    assert coded_bits([1, 1, 1, 1, 2, 2, 3, 4]) == 4 + 4 + 3 + 3
    assert code_lengths([7, 7, 7]) == {7: 1} and coded_bits([7, 7, 7]) == 3
    assert code_lengths([]) == {} and coded_bits([]) == 0
    assert code_lengths(range(8)) == dict.fromkeys(range(8), 3)  # uniform: the fixed width
    assert table_bits(4) == 16 * 5


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=2, max_size=300).filter(lambda s: len(set(s)) > 1))
def test_optimal_prefix_code(symbols):
    lengths = code_lengths(symbols)
    assert sum(2.0 ** -l for l in lengths.values()) == 1.0  # Kraft: a full binary tree
    _, counts = np.unique(symbols, return_counts=True)
    p = counts / counts.sum()
    entropy = float(-(p * np.log2(p)).sum())
    average = coded_bits(symbols) / len(symbols)
    assert entropy - 1e-9 <= average < entropy + 1
