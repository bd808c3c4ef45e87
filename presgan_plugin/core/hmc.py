"""Batched Hamiltonian Monte Carlo with masks, one chain per batch row.

Each row b of a ``[B, *latent_shape]`` tensor is an independent chain targeting
its own density exp(log_prob_fn(latent)[b]). The state carries the log density,
its gradient and an auxiliary output of ``log_prob_fn`` (for PresGAN: the mean
mu(latent)), so a leapfrog step costs exactly one forward and one backward
pass, and nothing is recomputed between transitions.

References: Neal, "MCMC using Hamiltonian dynamics" (2011), sections 3.2
and 5.4.2; Dieng et al., "Prescribed GANs" (2019), section 3.2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import NamedTuple

import torch

LogProbFn = Callable[[torch.Tensor], "tuple[torch.Tensor, torch.Tensor | None]"]
"""``latent [B, *S] -> (log_prob [B], aux [B, ...] or None)``."""

GradContextFn = Callable[[], contextlib.AbstractContextManager]
"""A factory of the context entered around every gradient evaluation."""

DIVERGENCE_THRESHOLD = 1000.0  # energy error that counts as divergent, as in Stan
MIN_STEP_SIZE = 1e-7  # floor of the adapted step size: never zero
MAX_STEP_SIZE = 10.0  # ceiling of the adapted step size
TARGET_ACCEPT_RATE = 0.67  # default of the authors' released sampler
ADAPTATION_RATE = 0.02  # default of the authors' released sampler

# Velocity Verlet (leapfrog): momentum, position, momentum coefficients.
VELOCITY_VERLET = (0.5, 1.0, 0.5)


class HMCState(NamedTuple):
    """What the next transition needs, per chain.

    Attributes
    ----------
    latent
        Current position, ``[B, *S]``.
    log_prob
        log density at ``latent``, ``[B]``; may be non-finite only for a chain
        that started at a non-finite point.
    grad_log_prob
        Gradient of ``log_prob`` with respect to ``latent``, ``[B, *S]``.
    aux
        Auxiliary output of ``log_prob_fn`` at ``latent`` (e.g. the mean
        mu(latent)), or None.
    """

    latent: torch.Tensor
    log_prob: torch.Tensor
    grad_log_prob: torch.Tensor
    aux: torch.Tensor | None


class HMCInfo(NamedTuple):
    """Diagnostics of one transition, per chain (``[B]`` each)."""

    accept_prob: torch.Tensor
    is_accepted: torch.Tensor
    is_divergent: torch.Tensor
    energy: torch.Tensor


def value_and_grad(
    log_prob_fn: LogProbFn,
    latent: torch.Tensor,
    grad_context: GradContextFn | None = None,
) -> HMCState:
    """Evaluate ``log_prob_fn`` and its gradient with respect to the latent only.

    Uses ``torch.autograd.grad`` with ``inputs=[latent]``, so no parameter's
    ``.grad`` is written. Everything returned is detached.
    """
    context = grad_context() if grad_context is not None else contextlib.nullcontext()
    with torch.enable_grad(), context:
        latent = latent.detach().requires_grad_(True)
        log_prob, aux = log_prob_fn(latent)
        (grad,) = torch.autograd.grad(log_prob.sum(), latent)
    aux = aux.detach() if aux is not None else None
    return HMCState(latent.detach(), log_prob.detach(), grad, aux)


def init(
    latent: torch.Tensor,
    log_prob_fn: LogProbFn,
    grad_context: GradContextFn | None = None,
) -> HMCState:
    """Build the initial state at ``latent`` (one gradient evaluation)."""
    return value_and_grad(log_prob_fn, latent, grad_context)


def _per_chain(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a scalar or ``[B]`` tensor so it broadcasts against ``like``."""
    return value.reshape(-1, *([1] * (like.dim() - 1)))


def kinetic_energy(momentum: torch.Tensor) -> torch.Tensor:
    """Return |momentum|^2 / 2 per chain (identity mass matrix), ``[B]``."""
    return 0.5 * momentum.flatten(1).square().sum(1)


def integrate(
    state: HMCState,
    momentum: torch.Tensor,
    step_size: torch.Tensor,
    num_leapfrog_steps: int,
    log_prob_fn: LogProbFn,
    grad_context: GradContextFn | None = None,
    coefficients: tuple[float, ...] = VELOCITY_VERLET,
) -> tuple[HMCState, torch.Tensor]:
    """Run ``num_leapfrog_steps`` steps of a palindromic splitting integrator.

    ``coefficients`` alternate momentum and position updates, starting and
    ending with momentum; each position update costs one gradient evaluation.
    """
    step = _per_chain(step_size, state.latent)
    for _ in range(num_leapfrog_steps):
        for index, coefficient in enumerate(coefficients):
            if index % 2 == 0:
                momentum = momentum + coefficient * step * state.grad_log_prob
            else:
                latent = state.latent + coefficient * step * momentum
                state = value_and_grad(log_prob_fn, latent, grad_context)
    return state, momentum


def _select(mask: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Per-chain ``torch.where`` for tensors of any trailing shape."""
    return torch.where(_per_chain(mask, new), new, old)


def kernel(
    state: HMCState,
    log_prob_fn: LogProbFn,
    step_size: torch.Tensor,
    num_leapfrog_steps: int,
    *,
    generator: torch.Generator | None = None,
    grad_context: GradContextFn | None = None,
    divergence_threshold: float = DIVERGENCE_THRESHOLD,
) -> tuple[HMCState, HMCInfo]:
    """One HMC transition per chain with a Metropolis test.

    A proposal whose energy is not finite, or whose energy error exceeds
    ``divergence_threshold``, is divergent; a non-finite energy is rejected.
    A rejected chain keeps its previous state exactly.
    """
    latent = state.latent
    momentum = torch.randn(
        latent.shape, device=latent.device, dtype=latent.dtype, generator=generator
    )
    energy = -state.log_prob + kinetic_energy(momentum)
    proposal, new_momentum = integrate(
        state, momentum, step_size, num_leapfrog_steps, log_prob_fn, grad_context
    )
    new_energy = -proposal.log_prob + kinetic_energy(new_momentum)
    delta = new_energy - energy
    is_finite = torch.isfinite(delta)
    log_accept = torch.where(is_finite, (-delta).clamp(max=0.0), -torch.inf)
    uniform = torch.rand(
        log_accept.shape, device=latent.device, dtype=latent.dtype, generator=generator
    )
    is_accepted = uniform.log() < log_accept
    is_divergent = ~is_finite | (delta > divergence_threshold)
    new_state = HMCState(
        _select(is_accepted, proposal.latent, state.latent),
        torch.where(is_accepted, proposal.log_prob, state.log_prob),
        _select(is_accepted, proposal.grad_log_prob, state.grad_log_prob),
        _select(is_accepted, proposal.aux, state.aux)
        if state.aux is not None and proposal.aux is not None
        else None,
    )
    info = HMCInfo(
        accept_prob=log_accept.exp(),
        is_accepted=is_accepted,
        is_divergent=is_divergent,
        energy=torch.where(is_accepted, new_energy, energy),
    )
    return new_state, info
