"""Drawing images from a trained generator without touching its state."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn


@contextlib.contextmanager
def preserved_buffers(module: nn.Module) -> Iterator[None]:
    """Restore every buffer (e.g. BatchNorm running statistics) on exit."""
    saved = [(buffer, buffer.detach().clone()) for buffer in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, copy in saved:
                buffer.copy_(copy)


def sample_means(
    mean_fn: Callable[[torch.Tensor], torch.Tensor],
    module: nn.Module,
    latents: torch.Tensor,
    batch_size: int,
) -> torch.Tensor:
    """mu(latents) in chunks of ``batch_size``, on the latents' device.

    The generator stays in training mode, so BatchNorm normalises each chunk
    with its own statistics, as during training; its buffers are restored.
    """
    chunks = []
    with torch.no_grad(), preserved_buffers(module):
        for chunk in latents.split(batch_size):
            chunks.append(mean_fn(chunk))
    return torch.cat(chunks)
