"""The entropy surrogate: a scalar whose gradient estimates grad_theta H(p_theta).

With x = mu_eta(z) + sigma * noise,

    grad_theta H = -E[ grad_x log p_theta(x) . grad_theta x ],
    grad_x log p_theta(x) = -E_{p(z' | x)}[ (x - mu_eta(z')) / sigma^2 ],

so with posterior draws z^(m) the score is a constant of the batch, and
``sum(-score * x)`` (x kept in the graph, differentiated at the latent that
produced it) has the estimate as its gradient. See Dieng et al. (2019),
equations (11)-(14), and ``shared/PRESGAN_MATH.md``.
"""

from __future__ import annotations

import torch


def posterior_means_to_score(
    x: torch.Tensor, posterior_means: torch.Tensor, sigma: torch.Tensor
) -> torch.Tensor:
    """Estimate grad_x log p(x) from mu at posterior draws.

    Parameters
    ----------
    x
        Targets, ``[B, *output_shape]``.
    posterior_means
        mu(z^(m)) at posterior draws, ``[M, B, *output_shape]``.
    sigma
        Output noise scale, broadcastable to one target.

    Returns
    -------
    torch.Tensor
        ``-mean_m (x - mu(z^(m))) / sigma^2``, ``[B, *output_shape]``, detached.
    """
    x = x.detach()
    residual = (x.unsqueeze(0) - posterior_means.detach()).mean(0)  # [B, *out]
    return -residual / sigma.detach().square()


def score_to_entropy_surrogate(
    score: torch.Tensor, x: torch.Tensor, is_valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Return mean over valid b of ``sum(-score_b * x_b)``, x kept in the graph.

    Targets that are not valid (their chain started at a non-finite density)
    or whose score is not finite contribute nothing, so no NaN reaches the
    generator's gradient.
    """
    score = score.detach()
    is_finite = torch.isfinite(score.flatten(1)).all(1)
    if is_valid is not None:
        is_finite = is_finite & is_valid
    mask = is_finite.reshape(-1, *([1] * (score.dim() - 1)))
    score = torch.where(mask, score, torch.zeros_like(score))
    per_target = -(score * x).flatten(1).sum(1)
    return per_target.sum() / is_finite.sum().clamp(min=1)


def entropy_surrogate(
    x: torch.Tensor,
    posterior_means: torch.Tensor,
    sigma: torch.Tensor,
    is_valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Posterior means to the entropy surrogate in one call (see the module doc)."""
    score = posterior_means_to_score(x, posterior_means, sigma)
    return score_to_entropy_surrogate(score, x, is_valid)
