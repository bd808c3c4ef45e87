"""Fully connected tanh networks for low-dimensional data (the 2-D ring)."""

from __future__ import annotations

import torch
from torch import nn


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _tanh_mlp(
    input_dim: int, output_dim: int, hidden: int, num_layers: int
) -> nn.Module:
    """``num_layers`` tanh hidden layers of ``hidden`` units, then a linear layer."""
    layers: list[nn.Module] = []
    features = input_dim
    for _ in range(num_layers):
        layers += [nn.Linear(features, hidden), nn.Tanh()]
        features = hidden
    layers.append(nn.Linear(features, output_dim))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """Generator of the ring experiment: tanh MLP with a linear output.

    The defaults are those of the 2-D mixture experiment of Dieng et al.
    (2019), Section 5.1: latent dimension 10 and three fully connected tanh
    layers of 128 units.

    Parameters
    ----------
    latent_dim : int
        Dimension of the latent vector z.
    output_dim : int
        Dimension of a data point (2 for the ring).
    hidden : int
        Units per hidden layer.
    num_layers : int
        Number of hidden tanh layers.

    Attributes
    ----------
    latent_dim : int
        Dimension of the latent vector.
    output_shape : tuple of int
        Shape of one sample, ``(output_dim,)``.
    """

    def __init__(
        self,
        latent_dim: int = 10,
        output_dim: int = 2,
        hidden: int = 128,
        num_layers: int = 3,
    ) -> None:
        super().__init__()
        for name, value in [
            ("latent_dim", latent_dim),
            ("output_dim", output_dim),
            ("hidden", hidden),
            ("num_layers", num_layers),
        ]:
            _check_positive(name, value)
        self.latent_dim = latent_dim
        self.output_shape = (output_dim,)
        self.main = _tanh_mlp(latent_dim, output_dim, hidden, num_layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Map latents ``[B, latent_dim]`` to samples ``[B, output_dim]``."""
        if latent.ndim != 2 or latent.shape[1] != self.latent_dim:
            raise ValueError(
                f"MLPGenerator expects latents of shape [B, {self.latent_dim}], "
                f"got {list(latent.shape)}."
            )
        return self.main(latent)


class MLPDiscriminator(nn.Module):
    """Discriminator of the ring experiment: tanh MLP returning logits ``[B]``.

    Parameters
    ----------
    input_dim : int
        Dimension of a data point; inputs ``[B, ...]`` are flattened.
    hidden : int
        Units per hidden layer.
    num_layers : int
        Number of hidden tanh layers.
    """

    def __init__(
        self, input_dim: int = 2, hidden: int = 128, num_layers: int = 3
    ) -> None:
        super().__init__()
        for name, value in [
            ("input_dim", input_dim),
            ("hidden", hidden),
            ("num_layers", num_layers),
        ]:
            _check_positive(name, value)
        self.input_dim = input_dim
        self.main = _tanh_mlp(input_dim, 1, hidden, num_layers)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        """Map samples ``[B, input_dim]`` (or ``[B, ...]``) to logits ``[B]``."""
        flat = samples.reshape(samples.shape[0], -1)  # [B, input_dim]
        if flat.shape[1] != self.input_dim:
            raise ValueError(
                f"MLPDiscriminator expects {self.input_dim} features per sample, "
                f"got input of shape {list(samples.shape)}."
            )
        return self.main(flat).reshape(-1)  # [B]
