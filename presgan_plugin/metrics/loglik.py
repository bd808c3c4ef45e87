"""Predictive log-likelihood of a prescribed generator by importance sampling.

A PresGAN defines the density p(x) = integral of N(x; mu(z), diag(sigma^2))
N(z; 0, I) dz. For each image x this module estimates log p(x) as

    log p(x) ~ log (1/S) sum_s exp(log p(x | z_s) + log p(z_s) - log q(z_s)),

z_s ~ q, where the proposal q is a Gaussian fitted to the latent posterior
p(z | x):

1. optimise z for log p(x, z) with Adam, from the best of a few prior draws;
2. run HMC (:func:`presgan_plugin.core.sample_latent_posterior`, parallel
   chains) from the optimum;
3. fit a diagonal (or shrunk full) Gaussian to the chains' states and widen
   its standard deviations by ``inflation`` so the proposal's tails cover the
   posterior's;
4. importance-sample with ``num_importance_samples`` draws.

The estimate of p(x) is unbiased; its logarithm is biased low by about
half the relative variance of the weights, which the standard error shows.

Units. ``log_prob`` is in nats per image. Bits per dimension are
``-log_prob / (D ln 2)`` with D the number of elements of one image, for the
continuous density of x on the model's own scale (images in [-1, 1]); no
dequantisation noise is added to the data and no offset is applied. To read
the figure on the usual 8-bit scale (pixel values in [0, 256)), add
``log2(127.5)`` (about 6.994) bits per dimension, the log-Jacobian of
x = y / 127.5 - 1. Images stored as integers are points of a discrete set, so
the density can exceed what a dequantised model would give; compare figures
of generators under the same convention only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from tqdm import tqdm

from presgan_plugin.core import (
    HMCConfig,
    gaussian_log_likelihood,
    sample_latent_posterior,
    standard_normal_log_prob,
)

MeanFn = Callable[[torch.Tensor], torch.Tensor]

LOG_2 = math.log(2.0)
BITS_OFFSET_8BIT = math.log2(127.5)  # add to bits/dim for the [0, 256) scale
MIN_PROPOSAL_STD = 1e-4  # floor of the proposal's standard deviations
PROPOSALS = ("diagonal", "full")


@dataclass(frozen=True)
class LogLikelihoodConfig:
    """Settings of the importance-sampling estimator.

    Attributes
    ----------
    num_importance_samples
        S, draws from the proposal per image.
    num_optim_steps
        Adam steps on log p(x, z) before HMC.
    optim_lr
        Adam's learning rate.
    num_initial_draws
        Prior draws per image; the best by log p(x, z) starts the optimiser.
    num_chains
        Parallel HMC chains per image; their final states fit the proposal.
    num_burn_in
        HMC transitions per chain (the step size adapts during all of them).
    num_leapfrog_steps
        Leapfrog steps per transition.
    adaptation_rate
        Step-size adaptation rate (higher than training's: the chains are
        short and start with a step size of unknown scale).
    proposal
        ``"diagonal"`` or ``"full"`` (the sample covariance shrunk halfway
        toward its diagonal, so it is invertible with few chains).
    inflation
        Factor on the proposal's standard deviations (>= 1).
    chunk_size
        Importance samples evaluated per image in one call of the generator.
    """

    num_importance_samples: int = 1000
    num_optim_steps: int = 50
    optim_lr: float = 0.05
    num_initial_draws: int = 16
    num_chains: int = 16
    num_burn_in: int = 20
    num_leapfrog_steps: int = 5
    adaptation_rate: float = 0.25
    proposal: str = "diagonal"
    inflation: float = 1.5
    chunk_size: int = 100

    def __post_init__(self) -> None:
        for name in (
            "num_importance_samples",
            "num_initial_draws",
            "num_chains",
            "num_leapfrog_steps",
            "chunk_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.num_optim_steps < 0 or self.num_burn_in < 0:
            raise ValueError(
                "num_optim_steps and num_burn_in must be >= 0; got "
                f"{self.num_optim_steps} and {self.num_burn_in}"
            )
        if self.proposal not in PROPOSALS:
            raise ValueError(
                f"proposal must be one of {PROPOSALS}; got {self.proposal!r}"
            )
        if not self.inflation >= 1.0:
            raise ValueError(f"inflation must be >= 1; got {self.inflation}")

    def hmc_config(self) -> HMCConfig:
        """The sampler settings for the proposal's chains."""
        return HMCConfig(
            num_burn_in=self.num_burn_in,
            num_posterior_samples=self.num_chains,
            num_leapfrog_steps=self.num_leapfrog_steps,
            adaptation_rate=self.adaptation_rate,
            chain_layout="parallel",
        )


class LogLikelihoodResult(NamedTuple):
    """Per-image estimates of log p(x).

    Attributes
    ----------
    log_prob
        Estimate of log p(x) per image, nats, ``[N]``.
    standard_error
        Monte Carlo standard error of each estimate (delta method on the
        importance weights: std(w) / (sqrt(S) mean(w))), ``[N]``.
    effective_sample_size
        (sum w)^2 / sum w^2 per image, ``[N]``; near S means a good proposal.
    num_dims
        Elements of one image, D.
    """

    log_prob: torch.Tensor
    standard_error: torch.Tensor
    effective_sample_size: torch.Tensor
    num_dims: int

    def summary(self) -> dict[str, float]:
        """Mean over images in nats and bits/dim, with standard errors.

        ``nats_se`` is the standard error of the mean across images (it holds
        both the spread of the images and the Monte Carlo noise of each
        estimate; 0 for one image); ``nats_mc_se`` is the Monte Carlo part
        alone, sqrt(sum se_i^2) / N.
        """
        log_prob = self.log_prob.double()
        num_images = log_prob.numel()
        mean = log_prob.mean().item()
        spread = log_prob.std().item() if num_images > 1 else 0.0
        se = spread / math.sqrt(num_images)
        mc_se = self.standard_error.double().square().sum().sqrt().item() / num_images
        per_dim = self.num_dims * LOG_2
        return {
            "nats_per_image": mean,
            "nats_se": se,
            "nats_mc_se": mc_se,
            "bits_per_dim": -mean / per_dim,
            "bits_per_dim_se": se / per_dim,
            "effective_sample_size": self.effective_sample_size.double().mean().item(),
            "num_images": float(num_images),
        }


def importance_log_mean_exp(
    log_weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log of the mean of exp(log_weights) over dim 0, its SE and the ESS.

    Parameters
    ----------
    log_weights
        ``[S, B]`` log importance weights; non-finite entries count as 0 weight.

    Returns
    -------
    log_mean, standard_error, effective_sample_size
        Each ``[B]``. The standard error is the delta-method one,
        std(w) / (sqrt(S) mean(w)), computed on weights scaled by their maximum.
    """
    log_weights = torch.where(
        torch.isfinite(log_weights),
        log_weights,
        torch.full_like(log_weights, -math.inf),
    )
    num_samples = log_weights.shape[0]
    log_mean = torch.logsumexp(log_weights, 0) - math.log(num_samples)
    weights = torch.exp(log_weights - log_weights.max(0).values)  # in (0, 1]
    mean = weights.mean(0)
    std = weights.std(0, correction=1) if num_samples > 1 else torch.zeros_like(mean)
    standard_error = std / (math.sqrt(num_samples) * mean)
    effective = weights.sum(0).square() / weights.square().sum(0)
    return log_mean, standard_error, effective


def _log_joint(
    mean_fn: MeanFn, x: torch.Tensor, latent: torch.Tensor, sigma: torch.Tensor
) -> torch.Tensor:
    """log p(x, z) for ``latent [S, B, D]`` and ``x [B, ...]`` -> ``[S, B]``."""
    num_samples, batch = latent.shape[:2]
    flat = latent.reshape(num_samples * batch, -1)
    targets = x.unsqueeze(0).expand(num_samples, *x.shape).reshape(-1, *x.shape[1:])
    log_prob = gaussian_log_likelihood(targets, mean_fn(flat), sigma)
    return (log_prob + standard_normal_log_prob(flat)).reshape(num_samples, batch)


def _initial_latent(
    mean_fn: MeanFn,
    x: torch.Tensor,
    sigma: torch.Tensor,
    latent_dim: int,
    config: LogLikelihoodConfig,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """The best of a few prior draws, then Adam on log p(x, z); ``[B, D]``."""
    draws = torch.randn(
        config.num_initial_draws,
        x.shape[0],
        latent_dim,
        generator=generator,
        dtype=x.dtype,
    ).to(x.device)
    with torch.no_grad():
        scores = _log_joint(mean_fn, x, draws, sigma)  # [K, B]
    best = scores.argmax(0)
    latent = draws[best, torch.arange(x.shape[0], device=x.device)].clone()
    latent.requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=config.optim_lr)
    for _ in range(config.num_optim_steps):
        optimizer.zero_grad(set_to_none=True)
        loss = -_log_joint(mean_fn, x, latent.unsqueeze(0), sigma).sum()
        loss.backward()
        optimizer.step()
    return latent.detach()


def _fit_proposal(
    samples: torch.Tensor, config: LogLikelihoodConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``[B, D]`` and lower Cholesky factor ``[B, D, D]`` (or std ``[B, D]``)."""
    mean = samples.mean(0)
    centred = samples - mean
    num_samples = samples.shape[0]
    variance = centred.square().sum(0) / max(num_samples - 1, 1)
    std = variance.sqrt().clamp_min(MIN_PROPOSAL_STD) * config.inflation
    if config.proposal == "diagonal":
        return mean, std
    covariance = torch.einsum("sbi,sbj->bij", centred, centred) / max(
        num_samples - 1, 1
    )
    diagonal = torch.diag_embed(covariance.diagonal(dim1=-2, dim2=-1))
    shrunk = 0.5 * covariance + 0.5 * diagonal
    eye = torch.eye(samples.shape[-1], dtype=samples.dtype, device=samples.device)
    shrunk = shrunk + MIN_PROPOSAL_STD**2 * eye
    return mean, torch.linalg.cholesky(shrunk) * config.inflation


def _sample_proposal(
    mean: torch.Tensor,
    scale: torch.Tensor,
    num_samples: int,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draws ``[S, B, D]`` from the proposal and their log density ``[S, B]``."""
    noise = torch.randn(
        num_samples, *mean.shape, generator=generator, dtype=mean.dtype
    ).to(mean.device)
    dim = mean.shape[-1]
    if scale.dim() == 2:  # diagonal std
        latent = mean + scale * noise
        log_det = scale.log().sum(-1)
    else:  # lower Cholesky factor
        latent = mean + torch.einsum("bij,sbj->sbi", scale, noise)
        log_det = scale.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    log_q = -0.5 * noise.square().sum(-1) - log_det - 0.5 * dim * math.log(2 * math.pi)
    return latent, log_q


def estimate_log_likelihood(
    mean_fn: MeanFn,
    sigma: torch.Tensor,
    x: torch.Tensor,
    latent_dim: int,
    config: LogLikelihoodConfig | None = None,
    *,
    batch_size: int = 16,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> LogLikelihoodResult:
    """Estimate log p(x) of each image under a prescribed generator.

    Parameters
    ----------
    mean_fn
        ``latent [B, latent_dim] -> mu [B, *image_shape]``; deterministic,
        per-sample and differentiable in the latent.
    sigma
        Output noise scale, broadcastable to one image.
    x
        Images ``[N, *image_shape]`` on the scale the generator was trained on.
    latent_dim
        Size of the latent.
    config
        Estimator settings (defaults: :class:`LogLikelihoodConfig`).
    batch_size
        Images processed together.
    generator
        CPU random source for every draw (None: the global one).
    progress
        Show a tqdm bar on stderr.

    Returns
    -------
    LogLikelihoodResult
        Per-image log p(x) in nats with standard errors; see its ``summary``.
    """
    config = config if config is not None else LogLikelihoodConfig()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(
            f"x must be a non-empty batch [N, *image_shape]; got shape {list(x.shape)}"
        )
    sigma = sigma.detach().to(device=x.device, dtype=x.dtype)
    hmc_config = config.hmc_config()
    log_probs, errors, effective = [], [], []
    bar = tqdm(total=x.shape[0], disable=not progress, unit="img", desc="log p(x)")
    for batch in x.split(batch_size):
        batch = batch.detach()
        latent = _initial_latent(mean_fn, batch, sigma, latent_dim, config, generator)
        step_size = torch.full(
            (batch.shape[0],), 1.0 / latent_dim, dtype=batch.dtype, device=batch.device
        )
        posterior = sample_latent_posterior(
            mean_fn, batch, latent, sigma, step_size, hmc_config, generator=generator
        )
        mean, scale = _fit_proposal(posterior.posterior_latents.detach(), config)

        log_weights = []
        remaining = config.num_importance_samples
        with torch.no_grad():
            while remaining > 0:
                count = min(config.chunk_size, remaining)
                draws, log_q = _sample_proposal(mean, scale, count, generator)
                log_weights.append(_log_joint(mean_fn, batch, draws, sigma) - log_q)
                remaining -= count
        log_mean, standard_error, ess = importance_log_mean_exp(torch.cat(log_weights))
        log_probs.append(log_mean.cpu())
        errors.append(standard_error.cpu())
        effective.append(ess.cpu())
        bar.update(batch.shape[0])
    bar.close()
    return LogLikelihoodResult(
        torch.cat(log_probs),
        torch.cat(errors),
        torch.cat(effective),
        int(x[0].numel()),
    )


def exact_gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, covariance: torch.Tensor
) -> torch.Tensor:
    """log N(x; mean, covariance) for flat ``x [N, D]`` -> ``[N]``.

    The exact p(x) of a linear generator mu(z) = W z + b is
    N(b, W W^T + diag(sigma^2)); this gives the reference answer.
    """
    distribution = torch.distributions.MultivariateNormal(mean, covariance)
    return distribution.log_prob(x)
