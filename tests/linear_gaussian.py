"""The linear-Gaussian PresGAN, where every quantity has a closed form.

mu(z) = W z + b, z ~ N(0, I), x | z ~ N(mu(z), diag(sigma^2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class LinearGaussian:
    """Parameters of the model and its exact answers (float64)."""

    weight: torch.Tensor  # W, [out_dim, latent_dim]
    bias: torch.Tensor  # b, [out_dim]
    sigma: torch.Tensor  # [out_dim]

    @classmethod
    def random(
        cls, latent_dim: int, out_dim: int, seed: int, sigma_range=(0.3, 0.8)
    ) -> LinearGaussian:
        gen = torch.Generator().manual_seed(seed)
        weight = torch.randn(out_dim, latent_dim, generator=gen, dtype=torch.float64)
        bias = torch.randn(out_dim, generator=gen, dtype=torch.float64)
        low, high = sigma_range
        sigma = low + (high - low) * torch.rand(
            out_dim, generator=gen, dtype=torch.float64
        )
        return cls(weight, bias, sigma)

    @property
    def latent_dim(self) -> int:
        return self.weight.shape[1]

    def mean_fn(self, latent: torch.Tensor) -> torch.Tensor:
        return latent @ self.weight.T + self.bias

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact posterior mean [B, D] and covariance [D, D] of p(z | x)."""
        precision_noise = torch.diag(self.sigma.pow(-2))
        eye = torch.eye(self.latent_dim, dtype=torch.float64)
        covariance = torch.linalg.inv(
            eye + self.weight.T @ precision_noise @ self.weight
        )
        mean = (x - self.bias) @ precision_noise @ self.weight @ covariance.T
        return mean, covariance

    def grad_log_joint(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """Exact grad_z log p(x, z), [B, D]."""
        residual = (x - self.mean_fn(latent)) / self.sigma.square()
        return residual @ self.weight - latent

    def marginal_covariance(self) -> torch.Tensor:
        return self.weight @ self.weight.T + torch.diag(self.sigma.square())

    def entropy(self) -> float:
        cov = self.marginal_covariance()
        return 0.5 * torch.logdet(2 * math.pi * math.e * cov).item()

    def grad_entropy(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact (grad_W H, grad_sigma H)."""
        inverse = torch.linalg.inv(self.marginal_covariance())
        return inverse @ self.weight, torch.diagonal(inverse) * self.sigma

    def sample(
        self, batch_size: int, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw (latent, noise, x) from the model."""
        latent = torch.randn(
            batch_size, self.latent_dim, generator=gen, dtype=torch.float64
        )
        noise = torch.randn(
            batch_size, self.weight.shape[0], generator=gen, dtype=torch.float64
        )
        return latent, noise, self.mean_fn(latent) + self.sigma * noise
