"""Stand-in for the host's dnnlib: EasyDict and name-based construction."""

from . import util
from .util import EasyDict

__all__ = ["EasyDict", "util"]
