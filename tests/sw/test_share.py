"""Weight sharing: scikit-learn k-means with linear initialisation, per-layer int8 codebooks, and
centroid fine-tuning that keeps codes and zeros (Deep Compression's trends as the oracle)."""

import copy

import numpy as np
import pytest
import torch

from secateurs.config import QuantConfig
from secateurs.errors import ConfigError
from secateurs.sw.formats import container
from secateurs.sw.models import linear_layers
from secateurs.sw.quantize import quantize, quantize_model
from secateurs.sw.reference import forward, predict, quantize_input
from secateurs.sw.share import cluster, finetune_centroids, share_weights
from tests.helpers.quantized import trained_mlp


@pytest.fixture(scope="module")
def trained():
    return trained_mlp()


def test_cluster_finds_separated_groups_and_keeps_zeros():
    rng = np.random.default_rng(0)
    groups = np.array([-1.0, 0.2, 2.0])
    w = rng.choice(groups, (20, 30)) + rng.normal(0, 0.01, (20, 30))
    w[rng.random(w.shape) < 0.4] = 0
    shared = cluster(w, 2)
    assert shared.bits == 2 and shared.centroids[0] == 0
    assert np.allclose(np.sort(shared.centroids[1:]), groups, atol=0.01)
    assert np.array_equal(shared.codes == 0, w == 0)
    for code in range(1, 4):  # a k-means fixed point: every centroid is the mean of its weights
        assert shared.centroids[code] == pytest.approx(w[shared.codes == code].mean())
    assert np.allclose(shared.weight(), w, atol=0.05)


def test_kmeans_beats_uniform_levels_on_bell_shaped_weights():
    """Han et al.: k-means puts levels where the weights are; uniform levels waste them."""
    w = np.random.default_rng(1).normal(0, 1, (100, 100))
    for bits in (2, 3, 4):
        shared = cluster(w, bits)
        levels = np.linspace(w.min(), w.max(), (1 << bits) - 1)
        uniform = levels[np.abs(w[..., None] - levels).argmin(-1)]
        assert np.mean((shared.weight() - w) ** 2) < 0.5 * np.mean((uniform - w) ** 2)


def test_cluster_edge_cases():
    assert np.all(cluster(np.zeros((3, 3)), 3).codes == 0)
    few = np.array([[0.5, 0.5, -1.0, 0.0]])
    shared = cluster(few, 4)  # fewer distinct weights than centroids
    assert np.array_equal(shared.weight(), few)
    with pytest.raises(ConfigError, match="codebook_bits"):
        cluster(few, 1)


def test_shared_model_has_few_values_per_layer(trained):
    _, model = trained
    m = copy.deepcopy(model)
    shared = share_weights(m, 3)
    for before, after, s in zip(linear_layers(model), linear_layers(m), shared):
        w = after.weight.detach().numpy()
        assert np.array_equal(w == 0, before.weight.detach().numpy() == 0)
        assert len(np.unique(w[w != 0])) <= 7
        assert np.allclose(w, s.weight())


def test_codebook_model_packs_codes_and_matches_the_shared_float_model(trained):
    data, model = trained
    m = copy.deepcopy(model)
    q = quantize(m, data, QuantConfig(codebook_bits=4), seed=0)
    assert set(q.steps) == {"shared_accuracy"}
    for layer in q.model.layers:
        table = layer.codebook
        assert table.dtype == np.int8 and len(table) == 16 and table[0] == 0
        assert np.isin(layer.weight, table).all() and np.abs(table).max() == 127
        assert np.all(layer.multiplier == layer.multiplier[0])
    packed = container.decode(container.encode(q.model, pes=2, index_bits=None))
    assert all(l.payload.name == "codebook4" and l.codebook is not None for l in packed.layers)
    x = quantize_input(data.test.x, q.model.input_scale)
    assert np.array_equal(forward(q.model, x)[-1], forward(packed.model, x)[-1])
    with torch.no_grad():
        float_pred = m(torch.from_numpy(data.test.x)).argmax(1).numpy()
    assert (predict(q.model, data.test.x) == float_pred).mean() > 0.97


def test_centroid_finetuning_keeps_codes_and_recovers_accuracy(trained):
    data, model = trained
    plain_model = copy.deepcopy(model)
    shared = share_weights(plain_model, 2)
    tuned_model = copy.deepcopy(plain_model)
    loss = torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(data.train.x), torch.from_numpy(data.train.y)
    tuned = finetune_centroids(tuned_model, shared, data, epochs=5, lr=1e-3, seed=0)
    with torch.no_grad():
        assert float(loss(tuned_model(x), y)) < float(loss(plain_model(x), y))
    for layer, s, t in zip(linear_layers(tuned_model), shared, tuned):
        assert np.array_equal(s.codes, t.codes) and t.centroids[0] == 0
        assert not torch.nn.utils.parametrize.is_parametrized(layer)
        assert np.allclose(layer.weight.detach().numpy(), t.weight(), atol=1e-6)
    cfg = QuantConfig(codebook_bits=2)
    accuracy = [(predict(quantize_model(m, data.train.x, cfg, s), data.test.x) == data.test.y).mean()
                for m, s in ((plain_model, shared), (tuned_model, tuned))]
    assert accuracy[1] > accuracy[0]  # Deep Compression: fine-tuned centroids recover accuracy
