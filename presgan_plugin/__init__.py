"""presgan-plugin: turn any GAN generator into a Prescribed GAN."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("presgan-plugin")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
