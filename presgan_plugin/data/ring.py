"""The ring of Gaussians: a 2-d mixture whose modes are easy to count."""

from __future__ import annotations

import math

import torch

DEFAULT_NUM_MODES = 10
DEFAULT_RADIUS = 3.0
DEFAULT_STD = 0.05  # standard deviation of each mode, per coordinate


def ring_centers(
    num_modes: int = DEFAULT_NUM_MODES, radius: float = DEFAULT_RADIUS
) -> torch.Tensor:
    """Return the centres of the ring's modes.

    Centre ``k`` sits at angle ``2 * pi * k / num_modes``, so the first is
    ``(radius, 0)`` and the rest follow counter-clockwise.

    Parameters
    ----------
    num_modes : int
        Number of modes, at least 1.
    radius : float
        Radius of the circle, positive.

    Returns
    -------
    torch.Tensor
        ``float32``, ``[num_modes, 2]``.

    Raises
    ------
    ValueError
        If `num_modes` < 1 or `radius` <= 0.
    """
    if num_modes < 1:
        raise ValueError(f"num_modes: expected at least 1, found {num_modes}.")

    if not radius > 0:
        raise ValueError(f"radius: expected a positive radius, found {radius}.")

    angles = [2 * math.pi * k / num_modes for k in range(num_modes)]
    centers = [[radius * math.cos(angle), radius * math.sin(angle)] for angle in angles]
    return torch.tensor(centers, dtype=torch.float32)


def sample_ring(
    num_samples: int,
    *,
    num_modes: int = DEFAULT_NUM_MODES,
    radius: float = DEFAULT_RADIUS,
    std: float = DEFAULT_STD,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw points from an equal-weight mixture of Gaussians on a ring.

    Each point picks a mode uniformly, then adds isotropic Gaussian noise of
    standard deviation `std` to that mode's centre (see `ring_centers`).

    Parameters
    ----------
    num_samples : int
        Number of points, at least 0.
    num_modes : int
        Number of modes.
    radius : float
        Radius of the ring.
    std : float
        Standard deviation of each mode, per coordinate; non-negative.
    generator : torch.Generator or None
        CPU generator for the draws; ``None`` uses torch's global generator.

    Returns
    -------
    points : torch.Tensor
        ``float32``, ``[num_samples, 2]``.
    labels : torch.Tensor
        ``int64``, ``[num_samples]``, the mode of each point.

    Raises
    ------
    ValueError
        If `num_samples` or `std` is negative.
    """
    if num_samples < 0:
        raise ValueError(f"num_samples: expected >= 0, found {num_samples}.")

    if not std >= 0:
        raise ValueError(f"std: expected a non-negative std, found {std}.")

    centers = ring_centers(num_modes, radius)  # [K, 2]
    labels = torch.randint(0, num_modes, (num_samples,), generator=generator)
    noise = torch.randn(num_samples, 2, generator=generator)  # [N, 2]
    points = centers[labels] + std * noise
    return points, labels
