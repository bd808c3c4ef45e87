"""Bounded parametrisation of the learned output noise scale sigma.

sigma = sigma_min + (sigma_max - sigma_min) * sigmoid(sigma_unconstrained)

A bounded map keeps sigma inside [sigma_min, sigma_max] after any optimiser
step, so hosts that offer no hook after ``optimizer.step()`` need no clamp.
"""

from __future__ import annotations

import math

import torch

SIGMA_MIN = 0.01  # lower bound of the authors' released code
SIGMA_MAX = 0.3  # upper bound of the authors' released code
SIGMA_INIT = 0.29  # nearest round value inside the bounds to the authors' 0.31


def check_sigma_bounds(sigma_min: float, sigma_max: float, sigma_init: float) -> None:
    """Raise ``ValueError`` unless ``0 < sigma_min < sigma_init < sigma_max``."""
    if not 0.0 < sigma_min < sigma_max:
        raise ValueError(
            f"sigma bounds must satisfy 0 < sigma_min < sigma_max; got "
            f"sigma_min={sigma_min}, sigma_max={sigma_max}"
        )
    if not sigma_min < sigma_init < sigma_max:
        raise ValueError(
            f"sigma_init={sigma_init} must lie strictly inside "
            f"({sigma_min}, {sigma_max}); pick a value between the bounds"
        )


def sigma_from_unconstrained(
    sigma_unconstrained: torch.Tensor, sigma_min: float, sigma_max: float
) -> torch.Tensor:
    """Map an unconstrained tensor to sigma in (sigma_min, sigma_max)."""
    return sigma_min + (sigma_max - sigma_min) * torch.sigmoid(sigma_unconstrained)


def sigma_to_unconstrained(sigma: float, sigma_min: float, sigma_max: float) -> float:
    """Inverse of :func:`sigma_from_unconstrained` for a scalar sigma."""
    check_sigma_bounds(sigma_min, sigma_max, sigma)
    fraction = (sigma - sigma_min) / (sigma_max - sigma_min)
    return math.log(fraction) - math.log1p(-fraction)
