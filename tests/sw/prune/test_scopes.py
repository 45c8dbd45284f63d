"""Scopes against torch.nn.utils.prune as the oracle, plus normalisation, overrides and monotony."""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from secateurs.errors import ConfigError
from secateurs.sw import prune as P
from secateurs.sw.prune.scopes import SCOPES, select_global, select_global_normalised


def net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Unflatten(1, (2, 5, 5)), nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(36, 20), nn.ReLU(), nn.Linear(20, 10))


def layers(model):
    return [m for m in model if isinstance(m, (nn.Linear, nn.Conv2d))]


@pytest.mark.parametrize("density", [0.9, 0.5, 0.2, 0.03])
def test_global_magnitude_equals_torch_global_unstructured(density):
    ours, theirs = net(), net()
    masks = P.prune(ours, density=density, score="magnitude", scope="global")
    torch_prune.global_unstructured([(m, "weight") for m in layers(theirs)],
                                    pruning_method=torch_prune.L1Unstructured, amount=1 - density)
    for mask, module in zip(masks.values(), layers(theirs)):
        assert torch.equal(mask, module.weight_mask.bool())


@pytest.mark.parametrize("density", [0.7, 0.25])
def test_local_magnitude_equals_torch_l1_unstructured(density):
    ours, theirs = net(1), net(1)
    masks = P.prune(ours, density=density, scope="local")
    for mask, module in zip(masks.values(), layers(theirs)):
        torch_prune.l1_unstructured(module, "weight", amount=1 - density)
        assert torch.equal(mask, module.weight_mask.bool())


def test_local_rows_equal_torch_ln_structured():
    ours, theirs = net(2), net(2)
    masks = P.prune(ours, density=0.5, structure="rows", scope="local")
    for mask, module in zip(masks.values(), layers(theirs)):
        torch_prune.ln_structured(module, "weight", amount=0.5, n=2, dim=0)
        assert torch.equal(mask, module.weight_mask.bool())


def test_global_normalised_compares_layers_after_l2_normalisation():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    units = {"a": (a, torch.ones(4, dtype=torch.long)), "b": (10 * a, torch.ones(4, dtype=torch.long))}
    assert select_global(units, 0.5)["a"].tolist() == [False] * 4
    normalised = select_global_normalised(units, 0.5)
    assert normalised["a"].tolist() == normalised["b"].tolist() == [False, False, True, True]


def test_global_structured_never_empties_a_layer():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.fill_(0.01)
        model[1].weight.fill_(5.0)
    masks = P.prune(model, density=0.4, structure="rows", scope="global")
    assert masks["0"].any(1).sum() == 1  # the weakest layer keeps its best row


def test_overrides_hold_their_own_density():
    model = net(3)
    masks = P.prune(model, density=0.1, overrides={0: 1.0, -1: 0.5})
    conv, fc1, fc2 = masks.values()
    assert bool(conv.all())
    assert fc2.float().mean() == 0.5
    assert fc1.sum() == round(0.1 * 720)  # the global threshold covers only the other layer


def test_override_of_a_missing_layer_is_a_config_error():
    with pytest.raises(ConfigError, match="3 prunable layers"):
        P.prune(net(), density=0.5, overrides={5: 0.5})


def test_pruned_weights_stay_pruned():
    model = net(4)
    first = P.prune(model, density=0.5, score="random", seed=1)
    second = P.prune(model, density=0.25, score="random", seed=2)
    for a, b in zip(first.values(), second.values()):
        assert not bool((b & ~a).any())
    assert abs(P.density_of(model) - 0.25) < 0.01


def test_masks_squash_into_a_plain_state_dict():
    model = net(5)
    masks = P.prune(model, density=0.3)
    before = copy.deepcopy([m.weight.detach() for m in layers(model)])
    P.squash(P.prunable(model))
    assert all(not hasattr(m, "parametrizations") for m in layers(model))
    for w, m, mask in zip(before, layers(model), masks.values()):
        assert torch.equal(m.weight, w) and not bool(m.weight[~mask].any())


def test_unknown_scope_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="global, global_normalised, local"):
        P.prune(net(), density=0.5, scope="everywhere")
    assert all(s.description and s.citation for s in SCOPES.values())
