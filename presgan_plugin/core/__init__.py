"""Host-agnostic PresGAN core: prescribed generator, latent HMC, entropy, losses."""

from presgan_plugin.core.batchnorm import (
    frozen_batch_statistics,
    record_batch_statistics,
)
from presgan_plugin.core.entropy import (
    entropy_surrogate,
    posterior_means_to_score,
    score_to_entropy_surrogate,
)
from presgan_plugin.core.generator import (
    PrescribedGenerator,
    gaussian_log_likelihood,
    standard_normal_log_prob,
)
from presgan_plugin.core.hmc import HMCInfo, HMCState
from presgan_plugin.core.losses import (
    ADVERSARIAL_LOSSES,
    AdversarialLoss,
    GANLoss,
    GeneratedBatch,
    HingeLoss,
    NonSaturatingLoss,
    PresGANLoss,
    SoftplusLoss,
    make_adversarial_loss,
)
from presgan_plugin.core.posterior import (
    PosteriorSample,
    make_log_joint_fn,
    sample_latent_posterior,
)
from presgan_plugin.core.sampler import ChainResult, HMCConfig, sample_chain
from presgan_plugin.core.sigma import (
    sigma_from_unconstrained,
    sigma_to_unconstrained,
)
from presgan_plugin.core.step_size import (
    StepSizeAdaptation,
    init_step_size,
    update_step_size,
)

__all__ = [
    "ADVERSARIAL_LOSSES",
    "AdversarialLoss",
    "ChainResult",
    "GANLoss",
    "GeneratedBatch",
    "HMCConfig",
    "HMCInfo",
    "HMCState",
    "HingeLoss",
    "NonSaturatingLoss",
    "PosteriorSample",
    "PresGANLoss",
    "PrescribedGenerator",
    "SoftplusLoss",
    "StepSizeAdaptation",
    "entropy_surrogate",
    "frozen_batch_statistics",
    "gaussian_log_likelihood",
    "init_step_size",
    "make_adversarial_loss",
    "make_log_joint_fn",
    "posterior_means_to_score",
    "record_batch_statistics",
    "sample_chain",
    "sample_latent_posterior",
    "score_to_entropy_surrogate",
    "sigma_from_unconstrained",
    "sigma_to_unconstrained",
    "standard_normal_log_prob",
    "update_step_size",
]
