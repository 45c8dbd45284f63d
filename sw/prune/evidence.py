"""Evidence that data-driven scores need: mean gradients and input activation norms per layer.

Both are measured on the same seeded mini-batches of the training split, with the model in eval
mode and its parameters untouched (no ``.grad`` fields are written).
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from .parametrize import weight_leaf


def batches_of(n: int, *, batches: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Indices of up to ``batches`` disjoint mini-batches from a seeded permutation of ``range(n)``."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    for i in range(batches):
        batch = order[i * batch_size:(i + 1) * batch_size]
        if len(batch) == 0:
            return
        yield batch


def mean_gradients(model: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor,
                   *, batches: int, batch_size: int, seed: int) -> dict[str, torch.Tensor]:
    """∂L/∂W (cross-entropy) of each module's weight, averaged over ``batches`` mini-batches.

    Under a mask the gradient is taken through it, so pruned weights get zero.
    """
    leaves = [weight_leaf(m) for m in modules.values()]
    totals = [torch.zeros_like(w) for w in leaves]
    count = 0
    was_training = model.training
    model.eval()
    try:
        for batch in batches_of(len(x), batches=batches, batch_size=batch_size, seed=seed):
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            for total, grad in zip(totals, torch.autograd.grad(loss, leaves)):
                total += grad
            count += 1
    finally:
        model.train(was_training)
    return {name: total / max(count, 1) for name, total in zip(modules, totals)}


def _per_weight(module: nn.Module, channel_norm: torch.Tensor) -> torch.Tensor:
    """Spread per-input-channel norms onto the weight's layout (groups respected for Conv2d)."""
    if isinstance(module, nn.Conv2d):
        out_ch, in_per_group = module.weight.shape[:2]
        group = torch.arange(out_ch) // (out_ch // module.groups)
        index = group[:, None] * in_per_group + torch.arange(in_per_group)[None, :]
        return channel_norm[index][:, :, None, None]
    return channel_norm[None, :]


@torch.no_grad()
def input_norms(model: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor,
                *, batches: int, batch_size: int, seed: int) -> dict[str, torch.Tensor]:
    """‖x_j‖₂ of every input feature (Linear) or channel (Conv2d) over the sampled inputs."""
    sums = {name: None for name in modules}

    def hook(name):
        def record(_module, inputs, _output):
            a = inputs[0].detach()
            reduce = (0,) if a.dim() == 2 else (0, *range(2, a.dim()))
            squares = (a * a).sum(dim=reduce)
            sums[name] = squares if sums[name] is None else sums[name] + squares
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in modules.items()]
    was_training = model.training
    model.eval()
    try:
        for batch in batches_of(len(x), batches=batches, batch_size=batch_size, seed=seed):
            model(x[batch])
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return {name: _per_weight(m, sums[name].sqrt()) for name, m in modules.items()}
