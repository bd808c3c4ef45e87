"""Predictive log-likelihood by importance sampling: exact linear-Gaussian checks."""

import math

import pytest
import torch
from linear_gaussian import LinearGaussian

from presgan_plugin.metrics.loglik import (
    BITS_OFFSET_8BIT,
    LogLikelihoodConfig,
    LogLikelihoodResult,
    estimate_log_likelihood,
    exact_gaussian_log_likelihood,
    importance_log_mean_exp,
)


@pytest.mark.parametrize("proposal", ["diagonal", "full"])
def test_linear_gaussian_estimate_is_within_its_standard_error(proposal):
    model = LinearGaussian.random(latent_dim=4, out_dim=12, seed=3)
    gen = torch.Generator().manual_seed(0)
    _, _, x = model.sample(6, gen)
    config = LogLikelihoodConfig(num_importance_samples=2000, proposal=proposal)

    result = estimate_log_likelihood(
        model.mean_fn, model.sigma, x, model.latent_dim, config, generator=gen
    )
    exact = exact_gaussian_log_likelihood(x, model.bias, model.marginal_covariance())

    z_scores = (result.log_prob - exact) / result.standard_error
    assert z_scores.abs().max() < 4.0
    assert (result.log_prob - exact).abs().max() < 0.2  # nats, per image
    assert result.effective_sample_size.min() > 200
    summary = result.summary()
    assert summary["nats_per_image"] == pytest.approx(exact.mean().item(), abs=0.1)
    assert summary["bits_per_dim"] == pytest.approx(
        -summary["nats_per_image"] / (12 * math.log(2))
    )


def test_exact_density_matches_closed_form_for_one_dimension():
    # W = [[2]], b = [1], sigma = [1]: x ~ N(1, 5).
    x = torch.tensor([[0.0], [3.0]], dtype=torch.float64)
    value = exact_gaussian_log_likelihood(
        x, torch.tensor([1.0], dtype=torch.float64), torch.tensor([[5.0]]).double()
    )
    expected = -0.5 * math.log(2 * math.pi * 5) - 0.5 * torch.tensor([1.0, 4.0]) / 5
    assert torch.allclose(value, expected.double())


def test_log_mean_exp_of_equal_weights_is_exact_with_zero_error():
    log_weights = torch.full((50, 3), -2.5, dtype=torch.float64)
    log_mean, standard_error, effective = importance_log_mean_exp(log_weights)
    assert torch.allclose(log_mean, torch.full((3,), -2.5, dtype=torch.float64))
    assert torch.equal(standard_error, torch.zeros(3, dtype=torch.float64))
    assert torch.allclose(effective, torch.full((3,), 50.0, dtype=torch.float64))


def test_log_mean_exp_of_two_weights_has_delta_method_error():
    # w = (1, 3): mean 2, sample std sqrt(2), SE = sqrt(2) / (sqrt(2) * 2) = 0.5.
    log_weights = torch.log(torch.tensor([[1.0], [3.0]], dtype=torch.float64))
    log_mean, standard_error, effective = importance_log_mean_exp(log_weights)
    assert log_mean.item() == pytest.approx(math.log(2.0))
    assert standard_error.item() == pytest.approx(0.5)
    assert effective.item() == pytest.approx(16.0 / 10.0)


def test_non_finite_log_weights_count_as_zero_weight():
    log_weights = torch.tensor([[0.0], [float("nan")]], dtype=torch.float64)
    log_mean, _, _ = importance_log_mean_exp(log_weights)
    assert log_mean.item() == pytest.approx(math.log(0.5))


def test_summary_reports_across_image_and_monte_carlo_errors():
    result = LogLikelihoodResult(
        log_prob=torch.tensor([-10.0, -12.0]),
        standard_error=torch.tensor([0.3, 0.4]),
        effective_sample_size=torch.tensor([10.0, 30.0]),
        num_dims=4,
    )
    summary = result.summary()
    assert summary["nats_per_image"] == pytest.approx(-11.0)
    assert summary["nats_se"] == pytest.approx(math.sqrt(2.0) / math.sqrt(2.0))
    assert summary["nats_mc_se"] == pytest.approx(0.5 / 2)
    assert summary["bits_per_dim"] == pytest.approx(11.0 / (4 * math.log(2)))
    assert summary["effective_sample_size"] == pytest.approx(20.0)
    assert BITS_OFFSET_8BIT == pytest.approx(math.log2(127.5))


@pytest.mark.parametrize(
    "field, value",
    [("num_importance_samples", 0), ("proposal", "student"), ("inflation", 0.5)],
)
def test_bad_settings_name_the_setting(field, value):
    with pytest.raises(ValueError, match=field):
        LogLikelihoodConfig(**{field: value})
