"""Adversarial loss forms and the PresGAN losses for a generic training loop.

A training iteration with these classes reads (DCGAN-style, one generator
forward shared by both updates)::

    fake = loss.generate(latent)                         # graph kept
    d_loss, d_stats = loss.discriminator_loss(real, fake)
    ... update D ...
    g_loss, g_stats = loss.generator_loss(fake)
    ... update G (mean network and sigma) ...
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from presgan_plugin.core.batchnorm import (
    BatchStatistics,
    frozen_batch_statistics,
    record_batch_statistics,
)
from presgan_plugin.core.entropy import entropy_surrogate
from presgan_plugin.core.generator import PrescribedGenerator
from presgan_plugin.core.hmc import GradContextFn
from presgan_plugin.core.posterior import sample_latent_posterior
from presgan_plugin.core.sampler import HMCConfig
from presgan_plugin.core.step_size import init_step_size

ENTROPY_WEIGHT = 0.01  # lambda of the authors' released code

Stats = dict[str, torch.Tensor]


class AdversarialLoss:
    """Contract of an adversarial form; D returns logits ``[B]``.

    Subclasses implement :meth:`discriminator_loss` and :meth:`generator_loss`,
    each returning a scalar to minimise.
    """

    name = "base"

    def discriminator_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> torch.Tensor:
        """Loss of D on real and fake logits."""
        raise NotImplementedError

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """Loss of G on fake logits."""
        raise NotImplementedError


class NonSaturatingLoss(AdversarialLoss):
    """Binary cross-entropy on logits; G maximises log D(G(z)) (Goodfellow 2014)."""

    name = "nonsaturating"

    def discriminator_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> torch.Tensor:
        """BCE(real, 1) + BCE(fake, 0)."""
        real = F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        )
        fake = F.binary_cross_entropy_with_logits(
            fake_logits, torch.zeros_like(fake_logits)
        )
        return real + fake

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """BCE(fake, 1)."""
        return F.binary_cross_entropy_with_logits(
            fake_logits, torch.ones_like(fake_logits)
        )


class SoftplusLoss(AdversarialLoss):
    """The StyleGAN form: softplus(-D(x)) + softplus(D(G(z))); G: softplus(-D(G(z)))."""

    name = "softplus"

    def discriminator_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> torch.Tensor:
        """softplus(-real) + softplus(fake), batch means."""
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """softplus(-fake), batch mean."""
        return F.softplus(-fake_logits).mean()


class HingeLoss(AdversarialLoss):
    """Hinge form (Lim and Ye 2017; Miyato et al. 2018)."""

    name = "hinge"

    def discriminator_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> torch.Tensor:
        """relu(1 - real) + relu(1 + fake), batch means."""
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """-fake, batch mean."""
        return -fake_logits.mean()


ADVERSARIAL_LOSSES: dict[str, type[AdversarialLoss]] = {
    cls.name: cls for cls in (NonSaturatingLoss, SoftplusLoss, HingeLoss)
}


def make_adversarial_loss(form: str | AdversarialLoss) -> AdversarialLoss:
    """Return an adversarial loss instance from a name or an instance."""
    if isinstance(form, AdversarialLoss):
        return form
    if form not in ADVERSARIAL_LOSSES:
        raise ValueError(
            f"unknown adversarial loss {form!r}; expected one of "
            f"{sorted(ADVERSARIAL_LOSSES)}"
        )
    return ADVERSARIAL_LOSSES[form]()


class GeneratedBatch(NamedTuple):
    """One generator forward, kept for both updates.

    Attributes
    ----------
    latent
        ``[B, latent_dim]``.
    mean
        mu(latent), ``[B, *output_shape]``, in the graph.
    noise
        ``[B, *output_shape]`` (zeros for a plain GAN).
    x
        ``mean + sigma * noise`` (``mean`` for a plain GAN), in the graph.
    batch_statistics
        BatchNorm statistics the forward used (empty without training-mode BN).
    """

    latent: torch.Tensor
    mean: torch.Tensor
    noise: torch.Tensor
    x: torch.Tensor
    batch_statistics: BatchStatistics


class GANLoss:
    """The plain GAN baseline: the same networks without noise or entropy."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        *,
        adversarial: str | AdversarialLoss = "nonsaturating",
    ) -> None:
        self.generator = generator
        self.discriminator = discriminator
        self.adversarial = make_adversarial_loss(adversarial)

    def mean(self, latent: torch.Tensor) -> torch.Tensor:
        """The generator's output without noise."""
        net = self.generator
        if isinstance(net, PrescribedGenerator):
            return net.mean(latent)
        return net(latent)

    def generate(self, latent: torch.Tensor) -> GeneratedBatch:
        """Run the generator once; the result serves the D and the G update."""
        mean = self.mean(latent)
        return GeneratedBatch(latent, mean, torch.zeros_like(mean), mean, {})

    def noised_real(self, real: torch.Tensor) -> torch.Tensor:
        """What D sees of a real batch (unchanged for a plain GAN)."""
        return real

    def discriminator_loss(
        self, real: torch.Tensor, fake: GeneratedBatch
    ) -> tuple[torch.Tensor, Stats]:
        """D's loss on (noised) reals and detached fakes, and its statistics."""
        real_logits = self.discriminator(self.noised_real(real))
        fake_logits = self.discriminator(fake.x.detach())
        loss = self.adversarial.discriminator_loss(real_logits, fake_logits)
        stats = {
            "Loss/D": loss.detach(),
            "D/real": torch.sigmoid(real_logits).mean().detach(),
            "D/fake": torch.sigmoid(fake_logits).mean().detach(),
        }
        return loss, stats

    def generator_loss(self, fake: GeneratedBatch) -> tuple[torch.Tensor, Stats]:
        """G's adversarial loss and its statistics."""
        fake_logits = self.discriminator(fake.x)
        loss = self.adversarial.generator_loss(fake_logits)
        return loss, {"Loss/G/adversarial": loss.detach(), "Loss/G": loss.detach()}


class PresGANLoss(GANLoss):
    """The PresGAN losses: noised reals and fakes for D; adversarial minus entropy for G.

    Parameters
    ----------
    generator
        The prescribed generator (mean network plus sigma).
    discriminator
        Any network returning logits ``[B]``.
    adversarial
        ``"nonsaturating"``, ``"softplus"``, ``"hinge"`` or an instance.
    entropy_weight
        lambda; the generator minimises ``adversarial - lambda * entropy``.
    hmc_config
        Settings of the latent-posterior sampler.
    step_size
        Initial HMC step size (None: 1 / latent_dim); adapted and carried.
    grad_context
        Factory of a context around HMC gradient evaluations (host hook).
    """

    def __init__(
        self,
        generator: PrescribedGenerator,
        discriminator: nn.Module,
        *,
        adversarial: str | AdversarialLoss = "nonsaturating",
        entropy_weight: float = ENTROPY_WEIGHT,
        hmc_config: HMCConfig | None = None,
        step_size: float | None = None,
        grad_context: GradContextFn | None = None,
    ) -> None:
        if not isinstance(generator, PrescribedGenerator):
            raise TypeError(
                "PresGANLoss needs a PrescribedGenerator (mean network plus sigma); "
                f"got {type(generator).__name__}. Wrap it: "
                "PrescribedGenerator(net, output_shape, latent_dim)"
            )
        if entropy_weight < 0:
            raise ValueError(f"entropy_weight must be >= 0; got {entropy_weight}")
        super().__init__(generator, discriminator, adversarial=adversarial)
        self.prescribed = generator
        self.entropy_weight = float(entropy_weight)
        self.hmc_config = hmc_config if hmc_config is not None else HMCConfig()
        self.step_size = init_step_size(
            step_size,
            generator.latent_dim,
            device=generator.sigma_unconstrained.device,
        )
        self.grad_context = grad_context

    def generate(self, latent: torch.Tensor) -> GeneratedBatch:
        """mu(latent) + sigma * noise, recording BatchNorm statistics for HMC."""
        with record_batch_statistics(self.prescribed) as statistics:
            mean = self.prescribed.mean(latent)
        noise = torch.randn_like(mean)
        x = self.prescribed.add_noise(mean, noise)
        return GeneratedBatch(latent, mean, noise, x, statistics)

    def noised_real(self, real: torch.Tensor) -> torch.Tensor:
        """real + sigma * noise, sigma detached."""
        sigma = self.prescribed.sigma.detach()
        return real + sigma * torch.randn_like(real)

    def generator_loss(self, fake: GeneratedBatch) -> tuple[torch.Tensor, Stats]:
        """Adversarial loss minus ``entropy_weight`` times the entropy surrogate."""
        adversarial, stats = super().generator_loss(fake)
        if self.entropy_weight == 0.0:
            return adversarial, stats

        # Draw latent posterior samples for the generated batch.
        sigma = self.prescribed.sigma
        with frozen_batch_statistics(self.prescribed, fake.batch_statistics):
            posterior = sample_latent_posterior(
                self.prescribed.mean,
                fake.x.detach(),
                fake.latent.detach(),
                sigma.detach(),
                self.step_size,
                self.hmc_config,
                grad_context=self.grad_context,
            )
        self.step_size = posterior.step_size

        # Entropy surrogate: mu differentiated at the latent that made x.
        entropy = entropy_surrogate(
            fake.x, posterior.posterior_means, sigma, posterior.is_valid
        )
        loss = adversarial - self.entropy_weight * entropy
        stats.update(
            {
                "Loss/G": loss.detach(),
                "Loss/G/entropy": entropy.detach(),
                "HMC/accept_rate": posterior.accept_rate.mean(),
                "HMC/step_size": posterior.step_size.mean(),
                "HMC/divergences": posterior.num_divergent.sum().float(),
                "Sigma/min": sigma.detach().min(),
                "Sigma/mean": sigma.detach().mean(),
                "Sigma/max": sigma.detach().max(),
            }
        )
        return loss, stats
