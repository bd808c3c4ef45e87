"""The latent posterior p(z | x) of a prescribed generator, sampled with HMC.

log p(x, z) = log N(x; mu(z), diag(sigma^2)) + log N(z; 0, I). Its gradient
in z is one backward pass through the mean network with respect to the
latent only; parameters' ``.grad`` are never written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from presgan_plugin.core import hmc
from presgan_plugin.core.generator import (
    gaussian_log_likelihood,
    standard_normal_log_prob,
)
from presgan_plugin.core.sampler import HMCConfig, sample_chain

MeanFn = Callable[[torch.Tensor], torch.Tensor]


class PosteriorSample(NamedTuple):
    """Posterior draws for a batch of targets, with the sampler's diagnostics.

    Attributes
    ----------
    posterior_latents
        ``[M, B, *latent_shape]``.
    posterior_means
        mu at each draw, ``[M, B, *output_shape]`` (taken from the sampler's
        state, not recomputed).
    step_size
        The adapted step size, to carry to the next call.
    accept_rate
        Mean acceptance probability per target, ``[B]``.
    num_divergent
        Divergent transitions per target, ``[B]``.
    is_valid
        Targets whose starting latent had a finite log density, ``[B]``.
    """

    posterior_latents: torch.Tensor
    posterior_means: torch.Tensor
    step_size: torch.Tensor
    accept_rate: torch.Tensor
    num_divergent: torch.Tensor
    is_valid: torch.Tensor


def make_log_joint_fn(
    mean_fn: MeanFn, x: torch.Tensor, sigma: torch.Tensor
) -> hmc.LogProbFn:
    """Return ``latent -> (log p(x, latent) [B], mu(latent))`` for fixed targets x."""
    x = x.detach()
    sigma = sigma.detach()

    def log_prob_fn(latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = mean_fn(latent)
        log_prob = gaussian_log_likelihood(x, mean, sigma)
        return log_prob + standard_normal_log_prob(latent), mean

    return log_prob_fn


def _repeat(tensor: torch.Tensor, num_repeats: int) -> torch.Tensor:
    """``[B, ...] -> [num_repeats * B, ...]``, the batch tiled."""
    return tensor.repeat(num_repeats, *([1] * (tensor.dim() - 1)))


def sample_latent_posterior(
    mean_fn: MeanFn,
    x: torch.Tensor,
    latent: torch.Tensor,
    sigma: torch.Tensor,
    step_size: torch.Tensor,
    config: HMCConfig,
    *,
    generator: torch.Generator | None = None,
    grad_context: hmc.GradContextFn | None = None,
) -> PosteriorSample:
    """Draw ``config.num_posterior_samples`` latents from p(z | x) per target.

    Parameters
    ----------
    mean_fn
        ``latent [N, *S] -> mu [N, *output_shape]``, deterministic and
        per-sample (e.g. BatchNorm with frozen statistics, fixed host noise).
    x
        Targets, ``[B, *output_shape]``.
    latent
        Starting latents, ``[B, *S]``: the ones that produced ``x``.
    sigma
        Output noise scale, broadcastable to one target; treated as constant.
    step_size
        0-d (shared) or ``[B]`` step size; the adapted value is returned.
    config
        Sampler settings; ``config.chain_layout`` picks the layout.
    generator
        Random source for momenta and Metropolis tests (None: global RNG).
    grad_context
        Factory of a context entered around every gradient evaluation, e.g. a
        host's ``no_weight_gradients``.
    """
    if x.shape[0] != latent.shape[0]:
        raise ValueError(
            f"x and latent must have the same batch size; got {x.shape[0]} "
            f"and {latent.shape[0]}"
        )
    num_samples = config.num_posterior_samples
    if config.chain_layout == "parallel":
        return _sample_parallel(
            mean_fn, x, latent, sigma, step_size, config, generator, grad_context
        )

    log_prob_fn = make_log_joint_fn(mean_fn, x, sigma)
    result = sample_chain(
        log_prob_fn,
        latent,
        step_size,
        config,
        num_kept=num_samples,
        generator=generator,
        grad_context=grad_context,
    )
    assert result.aux is not None
    return PosteriorSample(
        result.latents,
        result.aux,
        result.step_size,
        result.accept_rate,
        result.num_divergent,
        result.is_valid,
    )


def _sample_parallel(
    mean_fn: MeanFn,
    x: torch.Tensor,
    latent: torch.Tensor,
    sigma: torch.Tensor,
    step_size: torch.Tensor,
    config: HMCConfig,
    generator: torch.Generator | None,
    grad_context: hmc.GradContextFn | None,
) -> PosteriorSample:
    """M chains per target, run side by side as one batch of ``M * B``."""
    num_samples, batch_size = config.num_posterior_samples, x.shape[0]
    log_prob_fn = make_log_joint_fn(mean_fn, _repeat(x, num_samples), sigma)
    chain_step = _repeat(step_size, num_samples) if step_size.dim() == 1 else step_size
    result = sample_chain(
        log_prob_fn,
        _repeat(latent, num_samples),
        chain_step,
        config,
        num_kept=1,
        generator=generator,
        grad_context=grad_context,
    )
    assert result.aux is not None
    latents = result.latents.reshape(num_samples, batch_size, *latent.shape[1:])
    means = result.aux.reshape(num_samples, batch_size, *x.shape[1:])
    new_step = result.step_size
    if step_size.dim() == 1:
        new_step = new_step.reshape(num_samples, batch_size).mean(0)
    return PosteriorSample(
        latents,
        means,
        new_step,
        result.accept_rate.reshape(num_samples, batch_size).mean(0),
        result.num_divergent.reshape(num_samples, batch_size).sum(0),
        result.is_valid.reshape(num_samples, batch_size).all(0),
    )
