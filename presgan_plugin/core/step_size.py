"""Step-size adaptation toward a target acceptance rate, as an (init, update) pair.

The rule is the exponential form of the authors' released sampler,

    step_size <- step_size * exp(adaptation_rate * (accept_rate - target)),

which agrees with their ``step_size * (1 + rate * (accept_rate - target))`` to
first order in the rate (their default 0.02), stays positive for any rate, so
a large rate can be chosen to reach a very sharp posterior quickly, and is
kept inside ``[min_step_size, max_step_size]`` so that it never reaches zero
or becomes NaN, whatever the chains do.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from presgan_plugin.core.hmc import (
    ADAPTATION_RATE,
    MAX_STEP_SIZE,
    MIN_STEP_SIZE,
    TARGET_ACCEPT_RATE,
)


class StepSizeAdaptation(NamedTuple):
    """Settings of the acceptance-rate rule."""

    target_accept_rate: float = TARGET_ACCEPT_RATE
    adaptation_rate: float = ADAPTATION_RATE
    min_step_size: float = MIN_STEP_SIZE
    max_step_size: float = MAX_STEP_SIZE


def init_step_size(
    step_size: float | torch.Tensor | None,
    latent_dim: int,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Return a 0-d step-size tensor; ``None`` means 1 / latent_dim (the authors')."""
    if step_size is None:
        step_size = 1.0 / latent_dim
    step = torch.as_tensor(step_size, dtype=torch.float32, device=device).clone()
    if not bool(torch.isfinite(step).all()) or bool((step <= 0).any()):
        raise ValueError(f"step_size must be positive and finite; got {step_size}")
    return step


def update_step_size(
    step_size: torch.Tensor,
    accept_prob: torch.Tensor,
    is_valid: torch.Tensor,
    adaptation: StepSizeAdaptation,
) -> torch.Tensor:
    """One adaptation update from the per-chain acceptance probabilities.

    A 0-d ``step_size`` is shared by all chains and moves with the mean
    acceptance over the valid chains (those that started at a finite log
    density); a ``[B]`` step size moves per chain. Without any valid chain the
    step size is left as it is.
    """
    accept = torch.where(is_valid, accept_prob, torch.zeros_like(accept_prob))
    if step_size.dim() == 0:
        num_valid = is_valid.sum()
        mean_accept = accept.sum() / num_valid.clamp(min=1)
        error = torch.where(
            num_valid > 0,
            mean_accept - adaptation.target_accept_rate,
            torch.zeros_like(mean_accept),
        )
    else:
        error = torch.where(
            is_valid, accept - adaptation.target_accept_rate, torch.zeros_like(accept)
        )
    new_step = step_size * torch.exp(adaptation.adaptation_rate * error)
    new_step = torch.nan_to_num(new_step, nan=adaptation.min_step_size)
    return new_step.clamp(adaptation.min_step_size, adaptation.max_step_size)
