"""The prescribed generator and the PresGAN losses on small networks."""

import math

import pytest
import torch
from torch import nn

from presgan_plugin.core import (
    GANLoss,
    HMCConfig,
    PrescribedGenerator,
    PresGANLoss,
    frozen_batch_statistics,
    make_adversarial_loss,
    record_batch_statistics,
    sample_latent_posterior,
)


def batchnorm_generator(latent_dim=6, out_channels=2, size=4):
    return nn.Sequential(
        nn.Linear(latent_dim, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Linear(16, out_channels * size * size),
        nn.Unflatten(1, (out_channels, size, size)),
        nn.BatchNorm2d(out_channels),
        nn.Tanh(),
    )


def small_discriminator(in_features=32):
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, 8),
        nn.ReLU(),
        nn.Linear(8, 1),
        nn.Flatten(0),
    )


@pytest.fixture
def prescribed():
    torch.manual_seed(0)
    return PrescribedGenerator(batchnorm_generator(), (2, 4, 4), latent_dim=6)


def test_sigma_is_bounded_and_initialised(prescribed):
    torch.testing.assert_close(prescribed.sigma, torch.full((2, 4, 4), 0.29))
    with torch.no_grad():
        prescribed.sigma_unconstrained.fill_(1e6)
    assert prescribed.sigma.max().item() == pytest.approx(0.3)
    with torch.no_grad():
        prescribed.sigma_unconstrained.fill_(-1e6)
    assert prescribed.sigma.min().item() == pytest.approx(0.01)


def test_sigma_shared_across_channels():
    generator = PrescribedGenerator(
        batchnorm_generator(), (2, 4, 4), 6, share_sigma_across_channels=True
    )
    assert generator.sigma.shape == (1, 4, 4)
    assert generator(torch.randn(3, 6)).shape == (3, 2, 4, 4)


def test_bad_sigma_bounds_raise():
    with pytest.raises(ValueError, match="sigma_init"):
        PrescribedGenerator(nn.Identity(), (3,), 3, sigma_init=0.5)


def test_log_prob_is_exact_gaussian():
    generator = PrescribedGenerator(lambda z: 2.0 * z, (3,), 3, sigma_init=0.2)
    latent = torch.tensor([[0.0, 1.0, -1.0]])
    x = torch.tensor([[0.1, 2.0, -2.2]])
    expected = sum(
        -0.5 * (r / 0.2) ** 2 - math.log(0.2) - 0.5 * math.log(2 * math.pi)
        for r in (0.1, 0.0, -0.2)
    )
    assert generator.log_prob(x, latent).item() == pytest.approx(expected, rel=1e-5)


def test_frozen_batch_statistics_reproduce_training_forward(prescribed):
    latent = torch.randn(8, 6)
    with record_batch_statistics(prescribed) as statistics:
        training_mean = prescribed.mean(latent)
    with torch.no_grad(), frozen_batch_statistics(prescribed, statistics):
        frozen_mean = prescribed.mean(latent)
        single = prescribed.mean(latent[:1])
    torch.testing.assert_close(
        frozen_mean, training_mean.detach(), atol=1e-5, rtol=1e-5
    )
    torch.testing.assert_close(single, frozen_mean[:1], atol=1e-5, rtol=1e-5)
    assert all(m.training for m in prescribed.modules())


def test_sampling_leaves_grads_and_buffers_untouched(prescribed):
    latent = torch.randn(8, 6)
    with record_batch_statistics(prescribed) as statistics:
        x = prescribed(latent)
    buffers = {k: v.clone() for k, v in prescribed.state_dict().items()}
    with frozen_batch_statistics(prescribed, statistics):
        sample_latent_posterior(
            prescribed.mean,
            x.detach(),
            latent,
            prescribed.sigma,
            torch.tensor(0.05),
            HMCConfig(),
        )
    assert all(p.grad is None for p in prescribed.parameters())
    for key, value in prescribed.state_dict().items():
        assert torch.equal(value, buffers[key]), key


def test_presgan_generator_loss_reaches_mean_net_and_sigma(prescribed):
    discriminator = small_discriminator()
    loss = PresGANLoss(prescribed, discriminator, hmc_config=HMCConfig())
    fake = loss.generate(torch.randn(8, 6))
    g_loss, stats = loss.generator_loss(fake)
    g_loss.backward()
    assert prescribed.sigma_unconstrained.grad is not None
    assert prescribed.sigma_unconstrained.grad.abs().sum() > 0
    assert all(p.grad is not None for p in prescribed.mean_net.parameters())
    assert 0.0 <= stats["HMC/accept_rate"].item() <= 1.0
    assert stats["HMC/step_size"].item() > 0
    assert loss.step_size.item() != pytest.approx(1.0 / 6)


def test_presgan_entropy_term_is_weighted(prescribed):
    discriminator = small_discriminator()
    torch.manual_seed(3)
    loss = PresGANLoss(prescribed, discriminator, entropy_weight=0.5)
    fake = loss.generate(torch.randn(8, 6))
    g_loss, stats = loss.generator_loss(fake)
    expected = stats["Loss/G/adversarial"] - 0.5 * stats["Loss/G/entropy"]
    torch.testing.assert_close(g_loss.detach(), expected)


def test_discriminator_loss_does_not_train_sigma(prescribed):
    discriminator = small_discriminator()
    loss = PresGANLoss(prescribed, discriminator)
    fake = loss.generate(torch.randn(8, 6))
    d_loss, stats = loss.discriminator_loss(torch.rand(8, 2, 4, 4), fake)
    d_loss.backward()
    assert prescribed.sigma_unconstrained.grad is None
    assert 0.0 < stats["D/real"].item() < 1.0


def test_gan_loss_has_no_noise():
    generator = batchnorm_generator()
    loss = GANLoss(generator, small_discriminator())
    fake = loss.generate(torch.randn(4, 6))
    torch.testing.assert_close(fake.x, fake.mean)
    real = torch.rand(4, 2, 4, 4)
    assert torch.equal(loss.noised_real(real), real)


@pytest.mark.parametrize("form", ["nonsaturating", "softplus", "hinge"])
def test_adversarial_forms_at_zero_logits(form):
    adversarial = make_adversarial_loss(form)
    zeros = torch.zeros(5)
    expected_d = {
        "nonsaturating": 2 * math.log(2),
        "softplus": 2 * math.log(2),
        "hinge": 2.0,
    }
    expected_g = {"nonsaturating": math.log(2), "softplus": math.log(2), "hinge": 0.0}
    assert adversarial.discriminator_loss(zeros, zeros).item() == pytest.approx(
        expected_d[form]
    )
    assert adversarial.generator_loss(zeros).item() == pytest.approx(expected_g[form])


def test_nonsaturating_and_softplus_agree():
    real, fake = torch.randn(7), torch.randn(7)
    a, b = make_adversarial_loss("nonsaturating"), make_adversarial_loss("softplus")
    torch.testing.assert_close(
        a.discriminator_loss(real, fake), b.discriminator_loss(real, fake)
    )
    torch.testing.assert_close(a.generator_loss(fake), b.generator_loss(fake))


def test_unknown_adversarial_form():
    with pytest.raises(ValueError, match="hinge"):
        make_adversarial_loss("wasserstein-gp")


def test_presgan_loss_needs_prescribed_generator():
    with pytest.raises(TypeError, match="PrescribedGenerator"):
        PresGANLoss(nn.Identity(), nn.Identity())  # type: ignore[arg-type]
