"""Scores on hand-built tensors, and the evidence (gradients, activation norms) against torch."""

import pytest
import torch
from torch import nn

from secateurs.errors import ConfigError
from secateurs.sw import prune as P
from secateurs.sw.prune.evidence import batches_of, input_norms, mean_gradients
from secateurs.sw.prune.scores import SCORES, LayerState, get_score

W = torch.tensor([[1.0, -2.0], [3.0, -0.5]])
W0 = torch.tensor([[0.5, 1.0], [-1.0, -1.0]])
GRAD = torch.tensor([[0.1, 0.2], [-0.3, 0.4]])
NORM = torch.tensor([[1.0, 2.0]])
STATE = LayerState(weight=W, seed=3, init=W0, grad=GRAD, input_norm=NORM)

EXPECTED = {
    "magnitude": [[1.0, 2.0], [3.0, 0.5]],
    "magnitude_init": [[0.5, 1.0], [1.0, 1.0]],
    "movement": [[0.5, 1.0], [2.0, -0.5]],          # |W| - |W0|
    "signed_movement": [[0.5, 6.0], [12.0, -0.25]],  # W (W - W0)
    "gradient": [[0.1, 0.4], [0.9, 0.2]],            # |W G|
    "activation": [[1.0, 4.0], [3.0, 1.0]],          # |W| ||x_j||
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_score_by_hand(name):
    assert torch.allclose(get_score(name).fn(STATE), torch.tensor(EXPECTED[name]))


def test_random_is_seeded_and_local():
    before = torch.random.get_rng_state()
    a = get_score("random").fn(STATE)
    assert torch.equal(a, torch.rand(W.shape, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert not torch.equal(a, get_score("random").fn(LayerState(weight=W, seed=4)))


def test_every_score_is_hand_checked_and_cited():
    assert set(SCORES) == set(EXPECTED) | {"random"}
    assert all(s.description and s.citation for s in SCORES.values())


@pytest.mark.parametrize("name,missing", [("movement", "init"), ("gradient", "grad"),
                                          ("activation", "input norm")])
def test_missing_evidence_is_a_config_error(name, missing):
    with pytest.raises(ConfigError, match=missing):
        get_score(name).fn(LayerState(weight=W))


def test_unknown_score_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="magnitude.*movement"):
        get_score("magnitud")


def _data(n=10, features=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, features, generator=g), torch.randint(0, 2, (n,), generator=g)


def test_mean_gradient_is_the_average_over_the_sampled_batches():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x, y = _data()
    got = mean_gradients(model, P.prunable(model), x, y, batches=2, batch_size=3, seed=5)
    expected = torch.zeros_like(model[0].weight)
    batches = list(batches_of(len(x), batches=2, batch_size=3, seed=5))
    for batch in batches:
        model.zero_grad()
        nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        expected += model[0].weight.grad / len(batches)
    assert torch.allclose(got["0"], expected)


def test_input_norms_of_linear_and_grouped_conv():
    torch.manual_seed(0)
    x, y = _data(n=6, features=4 * 2 * 2)
    model = nn.Sequential(nn.Unflatten(1, (4, 2, 2)), nn.Conv2d(4, 2, 1, groups=2), nn.Flatten(),
                          nn.Linear(8, 2))
    norms = input_norms(model, P.prunable(model), x, batches=1, batch_size=6, seed=0)
    channel = x.reshape(6, 4, 2, 2).pow(2).sum((0, 2, 3)).sqrt()
    # output 0 reads channels 0, 1 (group 0); output 1 reads channels 2, 3 (group 1)
    assert torch.allclose(norms["1"].flatten(), channel[[0, 1, 2, 3]])
    assert norms["1"].shape == (2, 2, 1, 1)
    hidden = model[2](model[1](model[0](x)))
    assert torch.allclose(norms["3"], hidden.pow(2).sum(0).sqrt()[None, :], atol=1e-6)


def test_prune_with_gradient_score_keeps_the_largest_w_times_grad():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x, y = _data()
    grads = mean_gradients(model, P.prunable(model), x, y, batches=3, batch_size=4, seed=0)
    scores = torch.cat([(m.weight * grads[n]).abs().flatten() for n, m in P.prunable(model).items()])
    keep = torch.zeros_like(scores, dtype=torch.bool)
    keep[scores.topk(10).indices] = True
    masks = P.prune(model, density=10 / 20, score="gradient", data=(x, y), batches=3, batch_size=4)
    assert torch.equal(torch.cat([m.flatten() for m in masks.values()]), keep)


def test_prune_with_movement_takes_the_init_model():
    torch.manual_seed(2)
    init = nn.Sequential(nn.Linear(3, 2))
    model = nn.Sequential(nn.Linear(3, 2))
    movement = (model[0].weight.abs() - init[0].weight.abs()).detach().flatten()
    masks = P.prune(model, density=0.5, score="movement", init=init)
    keep = torch.zeros(6, dtype=torch.bool)
    keep[movement.topk(3).indices] = True
    assert torch.equal(masks["0"].flatten(), keep)
    with pytest.raises(ConfigError, match="initialisation"):
        P.prune(nn.Sequential(nn.Linear(3, 2)), density=0.5, score="magnitude_init")
