"""Make a BatchNorm mean network a deterministic per-sample function during HMC.

In training mode a BatchNorm layer normalises with the statistics of the
whole batch, so mu(z_b) would depend on the other chains, and every forward
would move the running statistics. The image x_b was produced with the
statistics of the training batch; holding those fixed makes HMC target the
posterior of the very generator that produced x_b, chain by chain, and leaves
every buffer untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

BatchStatistics = dict[nn.Module, tuple[torch.Tensor, torch.Tensor]]


def _batch_norm_layers(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [
        layer
        for layer in module.modules()
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.training
    ]


@contextlib.contextmanager
def record_batch_statistics(module: nn.Module) -> Iterator[BatchStatistics]:
    """Record the batch mean and (biased) variance each training-mode BN layer uses.

    Wrap the generator's training forward; the dict it yields is filled by
    that forward. Layers in eval mode are left out (they already behave as
    per-sample functions).
    """
    statistics: BatchStatistics = {}
    handles = []
    for layer in _batch_norm_layers(module):

        def hook(layer: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            features = inputs[0].detach()
            dims = [d for d in range(features.dim()) if d != 1]
            var, mean = torch.var_mean(features, dim=dims, correction=0)
            statistics[layer] = (mean, var)

        handles.append(layer.register_forward_pre_hook(hook))
    try:
        yield statistics
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def frozen_batch_statistics(
    module: nn.Module, statistics: BatchStatistics
) -> Iterator[None]:
    """Evaluate BN layers with fixed recorded statistics; restore them after.

    Layers are put in eval mode with their running statistics swapped for the
    recorded ones, so nothing is updated; running buffers and training flags
    are restored on exit, even after an exception.
    """
    layers = _batch_norm_layers(module)
    missing = [layer for layer in layers if layer not in statistics]
    if missing:
        raise ValueError(
            f"{len(missing)} BatchNorm layer(s) have no recorded statistics; run the "
            "generator's training forward inside record_batch_statistics first"
        )
    saved = [(layer.running_mean, layer.running_var) for layer in layers]
    try:
        for layer in layers:
            layer.running_mean, layer.running_var = statistics[layer]
            layer.train(False)
        yield
    finally:
        for layer, (running_mean, running_var) in zip(layers, saved, strict=True):
            layer.running_mean, layer.running_var = running_mean, running_var
            layer.train(True)
