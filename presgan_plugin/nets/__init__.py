"""Generator and discriminator networks used by the built-in hosts."""

from presgan_plugin.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init_
from presgan_plugin.nets.factory import NETWORK_KINDS, build_networks
from presgan_plugin.nets.mlp import MLPDiscriminator, MLPGenerator

__all__ = [
    "NETWORK_KINDS",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "build_networks",
    "dcgan_init_",
]
