"""The prescribed generator: any mean network plus learned Gaussian output noise.

p_theta(x | z) = N(x; mu_eta(z), diag(sigma^2)), with z ~ N(0, I).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import nn

from presgan_plugin.core.sigma import (
    SIGMA_INIT,
    SIGMA_MAX,
    SIGMA_MIN,
    check_sigma_bounds,
    sigma_from_unconstrained,
    sigma_to_unconstrained,
)

MeanFn = Callable[[torch.Tensor], torch.Tensor]

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, sigma: torch.Tensor
) -> torch.Tensor:
    """Return log N(x; mean, diag(sigma^2)) summed over all but the batch dim.

    ``x`` and ``mean`` are ``[B, *event_shape]``; ``sigma`` broadcasts to
    ``event_shape``. The result is ``[B]``.
    """
    sigma = sigma.expand_as(x[0])
    standardized = (x - mean) / sigma
    per_element = -0.5 * standardized.square() - sigma.log() - 0.5 * LOG_2PI
    return per_element.flatten(1).sum(1)


def sigma_shape_for(output_shape: Sequence[int], share_across_channels: bool) -> tuple:
    """Shape of sigma for an output of ``output_shape`` (channel dim first)."""
    shape = tuple(int(s) for s in output_shape)
    if share_across_channels and len(shape) >= 3:
        return (1, *shape[1:])
    return shape


class PrescribedGenerator(nn.Module):
    """A mean network mu(latent) turned into a Gaussian density over outputs.

    Parameters
    ----------
    mean_net
        An ``nn.Module`` or a callable ``latent [B, D] -> mean [B, *output_shape]``.
        Host networks with extra arguments fit through a small closure.
    output_shape
        Shape of one output, e.g. ``(C, H, W)`` or ``(2,)``.
    latent_dim
        Size D of the latent.
    sigma_min, sigma_max, sigma_init
        Bounds and initial value of sigma, shared by every output element.
    share_sigma_across_channels
        If true, sigma has shape ``(1, H, W)`` (one value per pixel, broadcast
        across channels); otherwise it has the output's full shape.

    Notes
    -----
    sigma is ``sigma_min + (sigma_max - sigma_min) * sigmoid(sigma_unconstrained)``,
    so no clamp after the optimiser step is needed.
    """

    def __init__(
        self,
        mean_net: nn.Module | MeanFn,
        output_shape: Sequence[int],
        latent_dim: int,
        *,
        sigma_min: float = SIGMA_MIN,
        sigma_max: float = SIGMA_MAX,
        sigma_init: float = SIGMA_INIT,
        share_sigma_across_channels: bool = False,
    ) -> None:
        super().__init__()
        check_sigma_bounds(sigma_min, sigma_max, sigma_init)
        if latent_dim <= 0:
            raise ValueError(f"latent_dim must be positive; got {latent_dim}")
        if isinstance(mean_net, nn.Module):
            self.mean_net: nn.Module | None = mean_net
            self._mean_fn: MeanFn | None = None
        else:
            self.mean_net = None
            self._mean_fn = mean_net
        self.output_shape = tuple(int(s) for s in output_shape)
        self.latent_dim = int(latent_dim)
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)
        shape = sigma_shape_for(self.output_shape, share_sigma_across_channels)
        initial = sigma_to_unconstrained(sigma_init, sigma_min, sigma_max)
        self.sigma_unconstrained = nn.Parameter(torch.full(shape, initial))

    @property
    def sigma(self) -> torch.Tensor:
        """sigma, broadcastable to one output, inside [sigma_min, sigma_max]."""
        return sigma_from_unconstrained(
            self.sigma_unconstrained, self.sigma_min, self.sigma_max
        )

    def mean(self, latent: torch.Tensor) -> torch.Tensor:
        """Return mu(latent), ``[B, *output_shape]``."""
        if self.mean_net is not None:
            return cast(torch.Tensor, self.mean_net(latent))
        assert self._mean_fn is not None
        return self._mean_fn(latent)

    def forward(
        self, latent: torch.Tensor, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Return x = mu(latent) + sigma * noise, with fresh noise if none is given."""
        mean = self.mean(latent)
        if noise is None:
            noise = torch.randn_like(mean)
        return self.add_noise(mean, noise)

    def add_noise(self, mean: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Return mean + sigma * noise, keeping both in the graph."""
        return mean + self.sigma * noise

    def sample_latent(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw latents from the prior N(0, I), ``[B, latent_dim]``."""
        device = device if device is not None else self.sigma_unconstrained.device
        return torch.randn(
            batch_size, self.latent_dim, device=device, generator=generator
        )

    def log_prob(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """Return log p(x | latent) exactly, ``[B]``."""
        return gaussian_log_likelihood(x, self.mean(latent), self.sigma)

    def log_joint(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """Return log p(x | latent) + log p(latent), ``[B]``."""
        return self.log_prob(x, latent) + standard_normal_log_prob(latent)


def standard_normal_log_prob(latent: torch.Tensor) -> torch.Tensor:
    """Return log N(latent; 0, I) summed over all but the batch dim, ``[B]``."""
    dim = latent[0].numel()
    return -0.5 * latent.flatten(1).square().sum(1) - 0.5 * dim * LOG_2PI
