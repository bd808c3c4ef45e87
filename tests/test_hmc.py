"""HMC over the latent posterior, checked against the exact linear-Gaussian answers."""

import math

import pytest
import torch
from linear_gaussian import LinearGaussian

from presgan_plugin.core import (
    HMCConfig,
    make_log_joint_fn,
    sample_chain,
    sample_latent_posterior,
)
from presgan_plugin.core.hmc import (
    MIN_STEP_SIZE,
    HMCState,
    integrate,
    kernel,
    value_and_grad,
)

NUM_CHAINS = 1000


def prior_gradient_only(log_prob_fn):
    """The released code's fault: the likelihood is evaluated without gradient."""

    def faulty(latent):
        with torch.no_grad():
            log_prob, mean = log_prob_fn(latent)
        prior = -0.5 * latent.square().sum(1)
        return log_prob - prior.detach() + prior, mean

    return faulty


def posterior_z_scores(samples, exact_mean, exact_cov):
    """Errors of sample mean and covariance in units of their standard errors.

    With N independent draws (one per chain), se(mean_i) = sqrt(S_ii / N) and
    se(cov_ij) = sqrt((S_ii S_jj + S_ij^2) / N) for a Gaussian.
    """
    num = samples.shape[0]
    mean_se = (exact_cov.diagonal() / num).sqrt()
    mean_z = (samples.mean(0) - exact_mean) / mean_se
    var = exact_cov.diagonal()
    cov_se = ((var[:, None] * var[None, :] + exact_cov.square()) / num).sqrt()
    cov_z = (torch.cov(samples.T) - exact_cov) / cov_se
    return mean_z.abs().max().item(), cov_z.abs().max().item()


@pytest.fixture(scope="module")
def model():
    return LinearGaussian.random(latent_dim=5, out_dim=10, seed=3)


@pytest.fixture(scope="module")
def target(model):
    gen = torch.Generator().manual_seed(0)
    _, _, x = model.sample(1, gen)
    return x


def run_from_zero(log_prob_fn, latent_dim, seed=0):
    """Chains started away from the posterior (at 0), 100 adapting transitions."""
    config = HMCConfig(
        num_burn_in=100,
        num_posterior_samples=1,
        num_leapfrog_steps=8,
        adaptation_rate=0.05,
    )
    start = torch.zeros(NUM_CHAINS, latent_dim, dtype=torch.float64)
    step = torch.tensor(0.05, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    return sample_chain(log_prob_fn, start, step, config, generator=gen)


def test_grad_log_prob_is_exact(model, target):
    latent = torch.randn(7, model.latent_dim, dtype=torch.float64)
    x = target.expand(7, -1)
    state = value_and_grad(make_log_joint_fn(model.mean_fn, x, model.sigma), latent)
    torch.testing.assert_close(state.grad_log_prob, model.grad_log_joint(x, latent))
    torch.testing.assert_close(state.aux, model.mean_fn(latent))


def test_posterior_mean_and_covariance_match_exact(model, target):
    x = target.expand(NUM_CHAINS, -1)
    result = run_from_zero(make_log_joint_fn(model.mean_fn, x, model.sigma), 5)
    exact_mean, exact_cov = model.posterior(target)
    mean_z, cov_z = posterior_z_scores(result.latents[0], exact_mean[0], exact_cov)
    # 5 means and 15 distinct covariances: 4.5 standard errors is a
    # family-wise false alarm rate below 1e-3 for a correct sampler.
    assert mean_z < 4.5
    assert cov_z < 4.5
    assert 0.5 < result.accept_rate.mean().item() < 0.95


def test_prior_gradient_only_sampler_fails_the_same_test(model, target):
    x = target.expand(NUM_CHAINS, -1)
    log_prob_fn = prior_gradient_only(make_log_joint_fn(model.mean_fn, x, model.sigma))
    result = run_from_zero(log_prob_fn, 5)
    exact_mean, exact_cov = model.posterior(target)
    mean_z, _ = posterior_z_scores(result.latents[0], exact_mean[0], exact_cov)
    assert mean_z > 4.5


@pytest.mark.parametrize("layout", ["sequential", "parallel"])
def test_started_at_the_generating_latent_stays_exact(model, layout):
    """Draws started at z_b (a posterior draw) keep the posterior, for both layouts."""
    gen = torch.Generator().manual_seed(5)
    _, _, x1 = model.sample(1, gen)
    x = x1.expand(NUM_CHAINS, -1)
    exact_mean, exact_cov = model.posterior(x1)
    start = (
        exact_mean
        + torch.randn(NUM_CHAINS, 5, generator=gen, dtype=torch.float64)
        @ torch.linalg.cholesky(exact_cov).T
    )
    config = HMCConfig(num_posterior_samples=2, chain_layout=layout)
    sample = sample_latent_posterior(
        model.mean_fn,
        x,
        start,
        model.sigma,
        torch.tensor(0.1, dtype=torch.float64),
        config,
        generator=gen,
    )
    assert sample.posterior_latents.shape == (2, NUM_CHAINS, 5)
    assert sample.posterior_means.shape == (2, NUM_CHAINS, 10)
    torch.testing.assert_close(
        sample.posterior_means, model.mean_fn(sample.posterior_latents)
    )
    for draws in sample.posterior_latents:
        mean_z, cov_z = posterior_z_scores(draws, exact_mean[0], exact_cov)
        assert mean_z < 4.5 and cov_z < 4.5
    assert sample.accept_rate.mean().item() > 0.3


def test_integrator_conserves_energy_to_second_order(model, target):
    x = target.expand(3, -1)
    log_prob_fn = make_log_joint_fn(model.mean_fn, x, model.sigma)
    exact_mean, _ = model.posterior(target)
    state = value_and_grad(log_prob_fn, exact_mean.expand(3, -1).clone())
    momentum = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator())
    errors = []
    for step in (0.01, 0.005):
        # Same trajectory length, half the step: the error must drop about 4x.
        steps = round(0.1 / step)
        end, end_momentum = integrate(
            state, momentum, torch.tensor(step), steps, log_prob_fn
        )
        energy = -state.log_prob + 0.5 * momentum.square().sum(1)
        new_energy = -end.log_prob + 0.5 * end_momentum.square().sum(1)
        errors.append((new_energy - energy).abs().max().item())
    assert errors[0] / errors[1] == pytest.approx(4.0, rel=0.25)


def test_rejected_transition_repeats_previous_state():
    """A 1-D N(0, 1) target with a step far too large (F9)."""
    gen = torch.Generator().manual_seed(1)

    def log_prob_fn(latent):
        return -0.5 * latent.square().sum(1), None

    num_chains, num_steps = 2000, 60
    latent = torch.randn(num_chains, 1, generator=gen, dtype=torch.float64)
    state = value_and_grad(log_prob_fn, latent)
    step = torch.tensor(2.3, dtype=torch.float64)
    draws, accepted = [], []
    for _ in range(num_steps):
        new_state, info = kernel(state, log_prob_fn, step, 3, generator=gen)
        rejected = ~info.is_accepted
        assert torch.equal(new_state.latent[rejected], state.latent[rejected])
        state = new_state
        draws.append(state.latent)
        accepted.append(info.is_accepted.float().mean().item())
    samples = torch.stack(draws)
    assert samples.shape == (num_steps, num_chains, 1)
    assert sum(accepted) / num_steps < 0.5
    final = samples[-1, :, 0]
    mean_se = 1.0 / math.sqrt(num_chains)
    var_se = math.sqrt(2.0 / num_chains)
    assert abs(final.mean().item()) < 3 * mean_se
    assert abs(final.var().item() - 1.0) < 3 * var_se


def test_non_finite_generator_outputs_are_rejected(model, target):
    """Proposals where mu is NaN or inf are rejected and counted as divergent."""

    def broken_mean_fn(latent):
        mean = model.mean_fn(latent)
        is_bad = latent[:, :1].abs() > 0.4
        nan_or_inf = torch.where(latent[:, 1:2] > 0, torch.nan, torch.inf)
        return torch.where(is_bad, nan_or_inf, mean)

    x = target.expand(200, -1)
    exact_mean, _ = model.posterior(target)
    start = exact_mean.expand(200, -1).clone()
    start[:, 0] = 0.0
    config = HMCConfig(num_burn_in=5, num_posterior_samples=5, num_leapfrog_steps=5)
    sample = sample_latent_posterior(
        broken_mean_fn,
        x,
        start,
        model.sigma,
        torch.tensor(0.5, dtype=torch.float64),
        config,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.isfinite(sample.posterior_latents).all()
    assert torch.isfinite(sample.posterior_means).all()
    assert (sample.posterior_latents[..., 0].abs() <= 0.4).all()
    assert sample.num_divergent.sum() > 0
    assert torch.isfinite(sample.step_size) and sample.step_size > 0


def test_sharp_posterior_and_a_dead_chain_keep_step_size_positive():
    """Four chains, one started where mu is NaN, sigma = 1e-4 (F8)."""
    sharp = LinearGaussian.random(3, 6, seed=2, sigma_range=(1e-4, 1e-4))

    def mean_fn(latent):
        mean = sharp.mean_fn(latent)
        return torch.where(latent[:, :1] > 50.0, torch.nan, mean)

    gen = torch.Generator().manual_seed(0)
    latent, _, x = sharp.sample(4, gen)
    latent[0, 0] = 100.0  # the dead chain
    config = HMCConfig(
        num_burn_in=200,
        num_posterior_samples=20,
        num_leapfrog_steps=3,
        adaptation_rate=1.0,
    )
    sample = sample_latent_posterior(
        mean_fn,
        x,
        latent,
        sharp.sigma,
        torch.tensor(1.0 / 3, dtype=torch.float64),
        config,
        generator=gen,
    )
    assert torch.isfinite(sample.step_size)
    assert sample.step_size.item() >= MIN_STEP_SIZE
    assert sample.is_valid.tolist() == [False, True, True, True]
    assert torch.equal(sample.posterior_latents[:, 0], latent[0].expand(20, -1))
    assert (sample.accept_rate[1:] > 0.2).all()
    healthy_moves = sample.posterior_latents[1:, 1:] - sample.posterior_latents[:-1, 1:]
    assert (healthy_moves.abs().sum(-1) > 0).float().mean() > 0.2


def test_step_size_never_drops_below_its_floor():
    def log_prob_fn(latent):
        return latent.sum(1) * torch.nan, None

    config = HMCConfig(num_burn_in=3, num_posterior_samples=1, min_step_size=0.01)
    result = sample_chain(
        log_prob_fn, torch.zeros(4, 2), torch.tensor(0.010001), config
    )
    assert result.step_size.item() == pytest.approx(0.010001)
    assert not result.is_valid.any()


def test_seeded_runs_are_reproducible(model, target):
    x = target.expand(50, -1)
    start = torch.zeros(50, 5, dtype=torch.float64)

    def run():
        return sample_latent_posterior(
            model.mean_fn,
            x,
            start,
            model.sigma,
            torch.tensor(0.05, dtype=torch.float64),
            HMCConfig(),
            generator=torch.Generator().manual_seed(42),
        )

    first, second = run(), run()
    assert torch.equal(first.posterior_latents, second.posterior_latents)
    assert torch.equal(first.step_size, second.step_size)


def test_state_carries_aux_so_kernel_does_not_recompute(model, target):
    calls = []

    def counting_mean_fn(latent):
        calls.append(latent.shape[0])
        return model.mean_fn(latent)

    config = HMCConfig(num_burn_in=2, num_posterior_samples=2, num_leapfrog_steps=5)
    sample_latent_posterior(
        counting_mean_fn,
        target.expand(3, -1),
        torch.zeros(3, 5, dtype=torch.float64),
        model.sigma,
        torch.tensor(0.1, dtype=torch.float64),
        config,
    )
    assert len(calls) == config.num_gradient_evaluations == 21


def test_hmc_state_is_a_named_tuple():
    assert HMCState._fields == ("latent", "log_prob", "grad_log_prob", "aux")
