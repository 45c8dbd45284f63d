"""Weight sharing (Deep Compression, Han et al. 2016): a per-layer k-means codebook.

The surviving (nonzero) weights of a layer are clustered by scikit-learn's KMeans into
``2**bits - 1`` centroids, initialised linearly between their min and max as in the paper;
code 0 is the pruned zero (what a filler holds). Optional fine-tuning trains the centroids,
each getting the summed gradient of its weights, while codes and the pruning mask stay fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import nn
from torch.nn.utils import parametrize

from ..errors import ConfigError
from .data import Dataset
from .models import linear_layers
from .train import train

__all__ = ["SharedLayer", "CODE_BITS", "cluster", "share_weights", "finetune_centroids"]

CODE_BITS = range(2, 9)  #: Deep Compression's codebook sizes: 4 .. 256 entries
ZERO_CODE = 0  #: the code of a pruned weight (the codebook's fixed zero entry)
KMEANS_MAX_ITER = 300


@dataclass(frozen=True, eq=False)
class SharedLayer:
    """One layer's shared weights: ``weight = centroids[codes]``."""

    #: ``(2**bits,)`` float centroids; entry ``ZERO_CODE`` is 0, unused entries are 0.
    centroids: np.ndarray
    #: ``(rows, cols)`` int code of each weight; ``ZERO_CODE`` where the weight is pruned.
    codes: np.ndarray

    @property
    def bits(self) -> int:
        return (len(self.centroids) - 1).bit_length()

    def weight(self) -> np.ndarray:
        return self.centroids[self.codes]


def cluster(weight: np.ndarray, bits: int, *, seed: int = 0) -> SharedLayer:
    """k-means over the nonzero weights with linear initialisation; zeros keep code 0."""
    if not isinstance(bits, int) or bits not in CODE_BITS:
        raise ConfigError(f"quant.codebook_bits must be in 2..8 (or 0 for no sharing), not {bits!r}")
    w = np.asarray(weight, dtype=np.float64)
    centroids = np.zeros(1 << bits)
    codes = np.full(w.shape, ZERO_CODE, dtype=np.int64)
    alive = w != 0
    values = w[alive]
    k = min((1 << bits) - 1, len(np.unique(values)))
    if k == 0:
        return SharedLayer(centroids, codes)
    init = np.linspace(values.min(), values.max(), k).reshape(-1, 1)
    kmeans = KMeans(n_clusters=k, init=init, n_init=1, max_iter=KMEANS_MAX_ITER, random_state=seed)
    labels = kmeans.fit_predict(values.reshape(-1, 1))
    centroids[1:k + 1] = kmeans.cluster_centers_.ravel()
    codes[alive] = labels + 1
    return SharedLayer(centroids, codes)


@torch.no_grad()
def share_weights(model: nn.Module, bits: int, *, seed: int = 0) -> list[SharedLayer]:
    """Cluster every Linear layer's weights and write the shared values back into the model."""
    shared = []
    for i, layer in enumerate(linear_layers(model)):
        s = cluster(layer.weight.detach().numpy(), bits, seed=seed + i)
        layer.weight.copy_(torch.from_numpy(s.weight()).to(layer.weight.dtype))
        shared.append(s)
    return shared


class _Centroids(nn.Module):
    """Parametrization ``W = [0, c_1 … c_k][codes]``: only the nonzero centroids train."""

    def __init__(self, shared: SharedLayer):
        super().__init__()
        self.free = nn.Parameter(torch.tensor(shared.centroids[1:], dtype=torch.float32))
        self.register_buffer("codes", torch.from_numpy(shared.codes))

    def forward(self, _weight: torch.Tensor) -> torch.Tensor:
        table = torch.cat([self.free.new_zeros(1), self.free])
        return table[self.codes]


def finetune_centroids(model: nn.Module, shared: list[SharedLayer], data: Dataset, *, epochs: int,
                       lr: float, batch_size: int = 64, seed: int = 0) -> list[SharedLayer]:
    """Train the centroids (codes and zeros fixed); returns the tuned codebooks, model updated."""
    layers = linear_layers(model)
    for layer, s in zip(layers, shared):
        parametrize.register_parametrization(layer, "weight", _Centroids(s), unsafe=True)
        layer.parametrizations.weight.original.requires_grad_(False)
    train(model, data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    tuned = []
    for layer, s in zip(layers, shared):
        free = layer.parametrizations.weight[0].free.detach().double().numpy()
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        tuned.append(SharedLayer(np.concatenate([[0.0], free]), s.codes))
    return tuned
