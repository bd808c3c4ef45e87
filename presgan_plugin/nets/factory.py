"""Build a matching generator and discriminator by name."""

from __future__ import annotations

from torch import nn

from presgan_plugin.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from presgan_plugin.nets.mlp import MLPDiscriminator, MLPGenerator

NETWORK_KINDS = ("dcgan", "mlp")


def build_networks(
    kind: str, *, latent_dim: int, channels: int, resolution: int, width: int
) -> tuple[nn.Module, nn.Module]:
    """Build a generator and a discriminator of one family.

    Parameters
    ----------
    kind : {"dcgan", "mlp"}
        Network family.
    latent_dim : int
        Dimension of the latent vector.
    channels : int
        Image channels for ``"dcgan"``. For ``"mlp"`` the data are flat
        vectors of dimension ``channels * resolution ** 2``; the 2-D ring is
        ``channels=2, resolution=1``.
    resolution : int
        Image side (28, 32 or 64) for ``"dcgan"``; see ``channels`` for ``"mlp"``.
    width : int
        Feature maps of the outermost layer for ``"dcgan"``; hidden units per
        layer for ``"mlp"``.

    Returns
    -------
    tuple of nn.Module
        ``(generator, discriminator)``.

    Raises
    ------
    ValueError
        If ``kind`` is unknown or a size is unsupported.
    """
    if kind == "dcgan":
        generator: nn.Module = DCGANGenerator(latent_dim, channels, resolution, width)
        discriminator: nn.Module = DCGANDiscriminator(channels, resolution, width)
        return generator, discriminator

    if kind == "mlp":
        data_dim = channels * resolution**2
        generator = MLPGenerator(latent_dim, data_dim, hidden=width)
        discriminator = MLPDiscriminator(data_dim, hidden=width)
        return generator, discriminator

    raise ValueError(
        f"kind={kind!r} is not a known network family; expected one of "
        f"{', '.join(NETWORK_KINDS)}."
    )
