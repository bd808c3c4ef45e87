"""Mode coverage of a 2-D Gaussian mixture, as in VEEGAN and PacGAN.

Each sample is assigned to its nearest mixture centre. It is of high
quality when it lies within ``num_std`` (3) standard deviations of that
centre. A mode is captured when at least one high-quality sample is
assigned to it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from presgan_plugin.metrics.modes import kl_divergence

HIGH_QUALITY_NUM_STD = 3.0  # high-quality radius in std units, Srivastava et al. (2017)


def _as_points(points: npt.ArrayLike | torch.Tensor, name: str) -> np.ndarray:
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D [N, D], got shape {list(array.shape)}.")
    return array


def ring_scores(
    samples: npt.ArrayLike | torch.Tensor,
    centers: npt.ArrayLike | torch.Tensor,
    std: float,
    *,
    num_std: float = HIGH_QUALITY_NUM_STD,
) -> dict[str, float]:
    """Modes captured, share of high-quality samples, and KL to uniform.

    Rule: sample n goes to its nearest centre k(n) (Euclidean); it is high
    quality when ``|x_n - c_k(n)| <= num_std * std``. Centre k is a captured
    mode when at least one high-quality sample is assigned to it.

    Parameters
    ----------
    samples : array-like or torch.Tensor
        Generated points ``[N, D]`` (D = 2 for the ring).
    centers : array-like or torch.Tensor
        Mixture centres ``[K, D]``.
    std : float
        Standard deviation of each mixture component.
    num_std : float
        High-quality radius in units of ``std``.

    Returns
    -------
    dict
        ``modes``: number of captured centres, in ``0..K``.
        ``high_quality_fraction``: share of the N samples that are high quality.
        ``kl``: KL(p || uniform over K) in nats, where p is the histogram of
        high-quality samples over the centres (see `kl_divergence`); NaN when
        no sample is high quality.
    """
    points = _as_points(samples, "samples")
    modes = _as_points(centers, "centers")
    if points.shape[1] != modes.shape[1]:
        raise ValueError(
            f"samples have {points.shape[1]} coordinates but centers have "
            f"{modes.shape[1]}; both must be [*, D] with the same D."
        )
    if len(modes) == 0:
        raise ValueError("centers must hold at least one centre, got none.")
    if not std > 0 or not num_std > 0:
        raise ValueError(f"std and num_std must be positive, got {std} and {num_std}.")

    distances = np.linalg.norm(points[:, None, :] - modes[None], axis=-1)  # [N, K]
    nearest = distances.argmin(axis=1)  # [N]
    is_high_quality = distances.min(axis=1, initial=np.inf) <= num_std * std  # [N]
    counts = np.bincount(nearest[is_high_quality], minlength=len(modes))  # [K]

    num_high_quality = int(is_high_quality.sum())
    if num_high_quality == 0:
        kl = float("nan")
    else:
        kl = kl_divergence(counts, np.ones(len(modes)))
    return {
        "modes": int((counts > 0).sum()),
        "high_quality_fraction": num_high_quality / len(points) if len(points) else 0.0,
        "kl": kl,
    }
