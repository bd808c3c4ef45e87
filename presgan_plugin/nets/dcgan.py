"""DCGAN generator and discriminator for square images of side 28, 32 or 64."""

from __future__ import annotations

import torch
from torch import nn

INIT_STD = 0.02  # weight init of Radford et al. (2016), DCGAN, Section 4
LEAKY_RELU_SLOPE = 0.2  # DCGAN discriminator slope, Radford et al. (2016)

# resolution -> (side of the first feature map, number of stride-2 stages)
_LAYOUTS: dict[int, tuple[int, int]] = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


def _check_resolution(resolution: int) -> tuple[int, int]:
    """Return the layout of a supported resolution or raise ValueError."""
    if resolution not in _LAYOUTS:
        valid = ", ".join(str(r) for r in sorted(_LAYOUTS))
        raise ValueError(
            f"resolution={resolution!r} is not supported by the DCGAN networks; "
            f"expected one of {valid}. Resize the data to one of these sides."
        )
    return _LAYOUTS[resolution]


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def dcgan_init_(module: nn.Module) -> None:
    """Initialise a module in place as in DCGAN.

    Convolution weights are drawn from N(0, 0.02^2); batch-norm scales from
    N(1, 0.02^2); biases are set to zero. Other modules are left untouched.

    Parameters
    ----------
    module : nn.Module
        Module to initialise; apply with ``net.apply(dcgan_init_)``.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, INIT_STD)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """DCGAN generator: latent vector to image in [-1, 1].

    The latent is projected by a transposed convolution to a ``base x base``
    map (7 for resolution 28, 4 otherwise), then doubled in side by stride-2
    transposed convolutions with batch norm and ReLU, ending in ``tanh``.

    Parameters
    ----------
    latent_dim : int
        Dimension of the latent vector z.
    channels : int
        Number of image channels (1 for MNIST, 3 for StackedMNIST or RGB).
    resolution : int
        Side of the square output image: 28, 32 or 64.
    width : int
        Number of feature maps of the last hidden layer; earlier layers have
        ``width`` times a power of two.

    Attributes
    ----------
    latent_dim : int
        Dimension of the latent vector.
    output_shape : tuple of int
        Shape of one output image, ``(channels, resolution, resolution)``.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        channels: int = 1,
        resolution: int = 32,
        width: int = 64,
    ) -> None:
        super().__init__()
        base, num_stages = _check_resolution(resolution)
        _check_positive("latent_dim", latent_dim)
        _check_positive("channels", channels)
        _check_positive("width", width)
        self.latent_dim = latent_dim
        self.output_shape = (channels, resolution, resolution)

        features = width * 2 ** (num_stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, features, base, 1, 0, bias=False),
            nn.BatchNorm2d(features),
            nn.ReLU(inplace=True),
        ]
        for _ in range(num_stages - 1):
            layers += [
                nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(features // 2),
                nn.ReLU(inplace=True),
            ]
            features //= 2
        layers += [nn.ConvTranspose2d(features, channels, 4, 2, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(dcgan_init_)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Map latents ``[B, latent_dim]`` to images ``[B, C, R, R]``."""
        if latent.ndim != 2 or latent.shape[1] != self.latent_dim:
            raise ValueError(
                f"DCGANGenerator expects latents of shape [B, {self.latent_dim}], "
                f"got {list(latent.shape)}."
            )
        return self.main(latent[:, :, None, None])  # [B, C, R, R]


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: image to one real-vs-fake logit.

    Stride-2 convolutions with LeakyReLU(0.2) halve the side down to the base
    map (7 or 4); every layer but the first has batch norm. A last convolution
    over the whole base map gives one logit per image. No sigmoid is applied.

    Parameters
    ----------
    channels : int
        Number of image channels.
    resolution : int
        Side of the square input image: 28, 32 or 64.
    width : int
        Number of feature maps of the first layer.
    """

    def __init__(
        self, channels: int = 1, resolution: int = 32, width: int = 64
    ) -> None:
        super().__init__()
        base, num_stages = _check_resolution(resolution)
        _check_positive("channels", channels)
        _check_positive("width", width)
        self.input_shape = (channels, resolution, resolution)

        layers: list[nn.Module] = [
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(LEAKY_RELU_SLOPE, inplace=True),
        ]
        features = width
        for _ in range(num_stages - 1):
            layers += [
                nn.Conv2d(features, features * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(features * 2),
                nn.LeakyReLU(LEAKY_RELU_SLOPE, inplace=True),
            ]
            features *= 2
        layers.append(nn.Conv2d(features, 1, base, 1, 0))
        self.main = nn.Sequential(*layers)
        self.apply(dcgan_init_)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map images ``[B, C, R, R]`` to logits ``[B]``."""
        if images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape:
            raise ValueError(
                f"DCGANDiscriminator expects images of shape "
                f"[B, {', '.join(map(str, self.input_shape))}], "
                f"got {list(images.shape)}."
            )
        return self.main(images).reshape(-1)  # [B]
