"""Drawing latent-posterior samples: burn-in with adaptation, then kept draws.

Two layouts give ``M`` samples per target, both ``[M, B, *S]``:

- ``"sequential"`` (the authors'): one chain per target; ``num_burn_in``
  transitions adapt the step size, then ``M`` further transitions are kept.
  Costs ``num_leapfrog_steps * (num_burn_in + M)`` gradient evaluations of a
  batch of ``B``.
- ``"parallel"``: ``M`` chains per target, each run ``num_burn_in + 1``
  transitions, the last state kept. The same number of evaluations of a batch
  of ``M * B``, in fewer, larger calls (better on a GPU); the ``M`` draws of a
  target are independent given its start, not successive states of one chain.

Both start every chain at the latent that produced the target, which is
already a draw from the posterior, so a short chain suffices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from presgan_plugin.core import hmc
from presgan_plugin.core.step_size import StepSizeAdaptation, update_step_size

CHAIN_LAYOUTS = ("sequential", "parallel")


@dataclass(frozen=True)
class HMCConfig:
    """Settings of the latent-posterior sampler (defaults: the authors' code)."""

    num_burn_in: int = 2
    num_posterior_samples: int = 2
    num_leapfrog_steps: int = 5
    adapt_step_size: bool = True
    target_accept_rate: float = hmc.TARGET_ACCEPT_RATE
    adaptation_rate: float = hmc.ADAPTATION_RATE
    min_step_size: float = hmc.MIN_STEP_SIZE
    max_step_size: float = hmc.MAX_STEP_SIZE
    chain_layout: str = "sequential"
    divergence_threshold: float = hmc.DIVERGENCE_THRESHOLD

    def __post_init__(self) -> None:
        if self.num_burn_in < 0:
            raise ValueError(f"num_burn_in must be >= 0; got {self.num_burn_in}")
        if self.num_posterior_samples < 1:
            raise ValueError(
                f"num_posterior_samples must be >= 1; got {self.num_posterior_samples}"
            )
        if self.num_leapfrog_steps < 1:
            raise ValueError(
                f"num_leapfrog_steps must be >= 1; got {self.num_leapfrog_steps}"
            )
        if not 0.0 < self.target_accept_rate < 1.0:
            raise ValueError(
                f"target_accept_rate must be in (0, 1); got {self.target_accept_rate}"
            )
        if not 0.0 < self.min_step_size <= self.max_step_size:
            raise ValueError(
                "step-size bounds must satisfy 0 < min_step_size <= max_step_size; "
                f"got {self.min_step_size}, {self.max_step_size}"
            )
        if self.chain_layout not in CHAIN_LAYOUTS:
            raise ValueError(
                f"chain_layout must be one of {CHAIN_LAYOUTS}; got {self.chain_layout!r}"
            )

    @property
    def adaptation(self) -> StepSizeAdaptation:
        """The step-size rule these settings describe."""
        return StepSizeAdaptation(
            self.target_accept_rate,
            self.adaptation_rate,
            self.min_step_size,
            self.max_step_size,
        )

    @property
    def num_gradient_evaluations(self) -> int:
        """Gradient evaluations per call, the initial one included."""
        num_transitions = self.num_burn_in + (
            self.num_posterior_samples if self.chain_layout == "sequential" else 1
        )
        return 1 + self.num_leapfrog_steps * num_transitions


class ChainResult(NamedTuple):
    """Kept draws and diagnostics of :func:`sample_chain`.

    Attributes
    ----------
    latents
        Kept positions, ``[M, B, *S]``.
    aux
        ``log_prob_fn``'s auxiliary output at the kept positions, ``[M, B, ...]``,
        or None.
    step_size
        The step size after adaptation (carry it to the next call).
    accept_rate
        Mean acceptance probability per chain over all transitions, ``[B]``.
    num_divergent
        Divergent transitions per chain, ``[B]``.
    is_valid
        Chains whose starting point had a finite log density, ``[B]``.
    """

    latents: torch.Tensor
    aux: torch.Tensor | None
    step_size: torch.Tensor
    accept_rate: torch.Tensor
    num_divergent: torch.Tensor
    is_valid: torch.Tensor


def sample_chain(
    log_prob_fn: hmc.LogProbFn,
    latent: torch.Tensor,
    step_size: torch.Tensor,
    config: HMCConfig,
    *,
    num_kept: int | None = None,
    generator: torch.Generator | None = None,
    grad_context: hmc.GradContextFn | None = None,
) -> ChainResult:
    """Run one chain per batch row: burn-in (adapting), then ``num_kept`` draws.

    ``num_kept`` defaults to ``config.num_posterior_samples``. The step size
    adapts during burn-in only when ``config.adapt_step_size`` is set.
    """
    num_kept = config.num_posterior_samples if num_kept is None else num_kept
    state = hmc.init(latent, log_prob_fn, grad_context)
    is_valid = torch.isfinite(state.log_prob)
    kept_latents, kept_aux = [], []
    accept_sum = torch.zeros_like(state.log_prob)
    num_divergent = torch.zeros(latent.shape[0], dtype=torch.long, device=latent.device)
    num_transitions = config.num_burn_in + num_kept
    for index in range(num_transitions):
        state, info = hmc.kernel(
            state,
            log_prob_fn,
            step_size,
            config.num_leapfrog_steps,
            generator=generator,
            grad_context=grad_context,
            divergence_threshold=config.divergence_threshold,
        )
        accept_sum = accept_sum + info.accept_prob
        num_divergent = num_divergent + info.is_divergent.long()
        if index < config.num_burn_in:
            if config.adapt_step_size:
                step_size = update_step_size(
                    step_size, info.accept_prob, is_valid, config.adaptation
                )
            continue
        kept_latents.append(state.latent)
        if state.aux is not None:
            kept_aux.append(state.aux)

    return ChainResult(
        latents=torch.stack(kept_latents),
        aux=torch.stack(kept_aux) if kept_aux else None,
        step_size=step_size,
        accept_rate=accept_sum / num_transitions,
        num_divergent=num_divergent,
        is_valid=is_valid,
    )
