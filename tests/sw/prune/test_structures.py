"""Every structure on small hand-built weights with hand-computed masks; N:M and PE balance as
properties over random shapes."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from secateurs.errors import ConfigError
from secateurs.sw.prune.masks import select_masks
from secateurs.sw.prune.structures import STRUCTURES, StructureOptions, group_score

T, F = True, False


def keep(weight, density, structure, scope="local", groups=1, **options):
    w = torch.as_tensor(weight, dtype=torch.float32)
    masks = select_masks({"w": w.abs()}, density=density, structure=structure, scope=scope,
                         options=StructureOptions(**options), groups={"w": groups})
    return masks["w"]


def test_unstructured_keeps_the_largest():
    assert keep([[1, -5], [3, 0.5]], 0.5, "unstructured").tolist() == [[F, T], [T, F]]


@pytest.mark.parametrize("norm,kept_row", [("l1", 0), ("l2", 1)])
def test_rows_by_l1_or_l2_norm(norm, kept_row):
    # row norms: L1 7, 6.5, 2 — L2 5, 6.5, 1.41: the norm decides between rows 0 and 1
    mask = keep([[3, 4], [0, 6.5], [1, 1]], 1 / 3, "rows", group_norm=norm)
    assert mask.tolist() == [[r == kept_row] * 2 for r in range(3)]


def test_columns_of_a_linear():
    mask = keep([[1, 5, 0.1], [1, 5, 0.2]], 1 / 3, "columns")
    assert mask.tolist() == [[F, T, F], [F, T, F]]


def test_filters_of_a_conv():
    w = torch.stack([torch.full((1, 2, 2), v) for v in (1.0, 3.0, 2.0)])  # [3, 1, 2, 2]
    mask = keep(w, 2 / 3, "filters")
    assert mask[:, 0, 0, 0].tolist() == [F, T, T] and bool((mask == mask[:, :1, :1, :1]).all())


def test_channels_of_a_grouped_conv():
    # Conv2d(4, 4, 1, groups=2): outputs 0, 1 read channels 0, 1; outputs 2, 3 read channels 2, 3
    w = torch.tensor([[1, 2], [1, 2], [5, 0.5], [5, 0.5]]).reshape(4, 2, 1, 1)
    mask = keep(w, 0.5, "channels", groups=2)  # channel norms 1, 2, 5, 0.5: keep channels 2 and 1
    assert mask.reshape(4, 2).tolist() == [[F, T], [F, T], [T, F], [T, F]]


def test_blocks_with_ragged_edges():
    w = [[1, 1, 9, 9],
         [1, 1, 9, 9],
         [8, 0, 0, 0]]
    # 2×2 tiles scored 1, 9 | 5.66 (a 1×2 edge tile), 0; half the 12 weights: tiles 9 and 5.66
    assert keep(w, 0.5, "blocks", block=2).int().tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0]]


@pytest.mark.parametrize("n,m,expected", [
    (2, 4, [[F, F, T, T, T, T, F, F], [T, F, T, F, F, F, T, T]]),
    (1, 4, [[F, F, F, T, T, F, F, F], [T, F, F, F, F, F, T, F]]),
])
def test_n_of_m(n, m, expected):
    w = [[1, 2, 3, 4, 8, 7, 6, 5], [4, 1, 1.5, 0.5, 0.1, 0.2, 0.4, 0.3]]
    assert keep(w, n / m, "nm", n=n, m=m).tolist() == expected


def test_n_of_m_tail_keeps_min_n_r():
    assert keep([[5, 1, 2, 3, 1, 2]], 0.5, "nm").tolist() == [[T, F, F, T, T, T]]


def test_n_of_m_runs_along_conv_input_channels():
    w = torch.zeros(1, 4, 1, 2)
    w[0, :, 0, 0] = torch.tensor([1.0, 2, 3, 4])
    w[0, :, 0, 1] = torch.tensor([4.0, 3, 2, 1])
    mask = keep(w, 0.5, "nm")
    assert mask[0, :, 0, 0].tolist() == [F, F, T, T] and mask[0, :, 0, 1].tolist() == [T, T, F, F]


def test_n_of_m_has_one_density():
    with pytest.raises(ConfigError, match="exactly 0.5"):
        keep([[1, 2, 3, 4]], 0.25, "nm")


def test_pe_balanced_evens_out_the_pes():
    w = [[9, 8],
         [1, 7],
         [6, 0.1],
         [2, 0.5]]
    # unstructured half: 9, 8, 7, 6 — column 0 gives PE 0 (rows 0, 2) two, PE 1 (rows 1, 3) none.
    assert keep(w, 0.5, "unstructured").tolist() == [[T, T], [F, T], [T, F], [F, F]]
    # balanced: one each per column; PE 1 takes its best in column 0 (row 3), PE 0 keeps row 0
    assert keep(w, 0.5, "pe_balanced", pes=2).tolist() == [[T, T], [F, T], [F, F], [T, F]]


def test_group_score_is_a_signed_size_normalised_norm():
    values = torch.tensor([[3.0, 4.0], [-2.0, -2.0], [torch.nan, 2.0], [-torch.inf, -torch.inf]])
    assert torch.allclose(group_score(values, "l2")[:3], torch.tensor([12.5 ** 0.5, -2.0, 2.0]))
    assert group_score(values, "l1")[3] == -torch.inf


def test_structure_options_are_checked():
    with pytest.raises(ConfigError, match="n <= m"):
        StructureOptions(n=5, m=4)
    with pytest.raises(ConfigError, match="group_norm"):
        StructureOptions(group_norm="l3")
    with pytest.raises(ConfigError, match="nm.*pe_balanced"):
        keep([[1.0]], 1.0, "diagonal")


def test_every_structure_is_described_and_cited():
    assert all(s.description and s.citation for s in STRUCTURES.values())


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 6), fan_in=st.integers(1, 13), nm=st.sampled_from([(2, 4), (1, 4), (1, 2), (3, 8)]),
       seed=st.integers(0, 2 ** 16))
def test_n_of_m_property(rows, fan_in, nm, seed):
    n, m = nm
    w = torch.randn(rows, fan_in, generator=torch.Generator().manual_seed(seed))
    mask = keep(w, n / m, "nm", n=n, m=m)
    for start in range(0, fan_in, m):
        group = mask[:, start:start + m]
        assert bool((group.sum(1) == min(n, group.shape[1])).all())
        # the kept ones are the group's largest magnitudes
        smallest_kept = torch.where(group, w[:, start:start + m].abs(), torch.inf).min(1).values
        largest_dropped = torch.where(~group, w[:, start:start + m].abs(), -torch.inf).max(1).values
        assert bool((smallest_kept >= largest_dropped).all())


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 9), pes=st.integers(1, 5), cb=st.integers(1, 4),
       density=st.floats(0.05, 1.0), seed=st.integers(0, 2 ** 16))
def test_pe_balanced_property(rows, cols, pes, cb, density, seed):
    w = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed))
    mask = keep(w, density, "pe_balanced", pes=pes, column_block=cb)
    holding = [p for p in range(pes) if p < rows]
    for start in range(0, cols, cb):
        counts = {int(mask[p::pes, start:start + cb].sum()) for p in holding}
        assert len(counts) == 1


def test_pe_balanced_keeps_its_share_with_less_than_one_weight_per_pe_and_column():
    # 10 rows over 8 PEs at density 0.1: a PE's share of a column is 1/8 of a weight. Rounding
    # each column on its own would keep nothing; largest remainder keeps ~10 % of the layer.
    w = torch.randn(10, 64, generator=torch.Generator().manual_seed(0))
    mask = keep(w, 0.1, "pe_balanced", pes=8)
    assert abs(float(mask.float().mean()) - 0.1) < 0.02
    for j in range(64):  # still balanced: the 8 PEs holding rows keep the same count per column
        assert len({int(mask[p::8, j].sum()) for p in range(8)}) == 1
