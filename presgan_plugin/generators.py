"""Loading trained generators from any host for comparison.

A *source* is a string: a run directory of the built-in host, a host's
network pickle, or anything a registered loader accepts. Each loader is a
pair ``(can_load, load)``; :func:`load_generator` asks the loaders in
registration order and uses the first that claims the source. A loaded
generator is a :class:`LoadedGenerator`: a deterministic, per-sample mean
function with its sigma (``None`` for a plain GAN), which is all the
comparison metrics need.

Built-in runs whose mean network holds BatchNorm layers are made per-sample
functions by freezing each layer at the batch statistics of a reference batch
of :data:`REFERENCE_BATCH_SIZE` prior latents (drawn with a fixed seed), so a
sample no longer depends on the others in its batch and the density p(x) is
well defined.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from presgan_plugin.core import PrescribedGenerator, record_batch_statistics

MeanFn = Callable[[torch.Tensor], torch.Tensor]
CanLoadFn = Callable[[str], bool]
LoadFn = Callable[[str, torch.device], "LoadedGenerator"]

KINDS = ("presgan", "gan")
REFERENCE_BATCH_SIZE = 512  # prior latents whose statistics freeze BatchNorm
REFERENCE_SEED = 20_191_004  # fixed, so every load gives the same function
MNIST_SIDE = 28  # native side when a run kept the data's own size
PICKLE_SUFFIXES = (".pkl", ".pickle")
PICKLE_HOST = "presgan_plugin.hosts.stylegan2"
PICKLE_LOADER_NAME = "load_generator"


class GeneratorLoadError(ValueError):
    """A generator source cannot be loaded."""


@dataclass
class LoadedGenerator:
    """A trained generator, reduced to what comparing generators needs.

    Attributes
    ----------
    name
        Short label for tables and figures (the run directory's name).
    mean_fn
        ``latent [B, latent_dim] -> mu [B, *output_shape]``; deterministic and
        per-sample, differentiable in the latent, parameters frozen.
    sigma
        Output noise scale broadcastable to one sample, or ``None`` for a
        plain GAN (no density).
    latent_dim
        Size of the latent.
    output_shape
        Shape of one sample, ``(C, H, W)`` for images or ``(2,)`` for points.
    kind
        ``"presgan"`` or ``"gan"``.
    source
        Where it was loaded from.
    info
        Loader-specific extras (e.g. the run's dataset and iteration).
    """

    name: str
    mean_fn: MeanFn
    sigma: torch.Tensor | None
    latent_dim: int
    output_shape: tuple[int, ...]
    kind: str
    source: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def has_density(self) -> bool:
        """Whether p(x) exists (a sigma was learned)."""
        return self.sigma is not None


@dataclass(frozen=True)
class GeneratorLoader:
    """A named way of loading generators."""

    name: str
    can_load: CanLoadFn
    load: LoadFn


_LOADERS: dict[str, GeneratorLoader] = {}


def register_generator_loader(
    name: str, can_load: CanLoadFn, load: LoadFn, *, replace: bool = False
) -> None:
    """Add a loader; ``load_generator`` asks loaders in registration order.

    Parameters
    ----------
    name
        Unique name of the loader (e.g. ``"run-dir"``).
    can_load
        ``source -> bool``: whether this loader claims the source. Must be
        cheap and must not raise.
    load
        ``(source, device) -> LoadedGenerator``; raises
        :class:`GeneratorLoadError` with a message naming the source.
    replace
        Allow replacing a loader of the same name.
    """
    if name in _LOADERS and not replace:
        raise ValueError(
            f"a generator loader named {name!r} is already registered; pass "
            "replace=True to replace it"
        )
    _LOADERS[name] = GeneratorLoader(name, can_load, load)


def generator_loaders() -> tuple[GeneratorLoader, ...]:
    """The registered loaders, in the order they are asked."""
    return tuple(_LOADERS.values())


def load_generator(
    source: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> LoadedGenerator:
    """Load a generator from a run directory, a network pickle, or any source
    a registered loader claims.

    Parameters
    ----------
    source
        Path (or other identifier) of the generator.
    device
        Where its networks are put.

    Raises
    ------
    GeneratorLoadError
        When no loader claims the source, or the claiming loader fails; the
        message names the source and what would load it.
    """
    source = str(source)
    device = torch.device(device)
    for loader in _LOADERS.values():
        if loader.can_load(source):
            return loader.load(source, device)
    path = Path(source)
    if not path.exists():
        raise GeneratorLoadError(
            f"generator {source}: no such file or directory; expected a run "
            "directory of the built-in host (holding config.json and "
            "checkpoint-*.pt) or a network pickle (.pkl)"
        )
    raise GeneratorLoadError(
        f"generator {source}: no registered loader accepts it (loaders: "
        f"{', '.join(_LOADERS)}); expected a run directory of the built-in host "
        "(holding checkpoint-*.pt) or a network pickle (.pkl)"
    )


# ------------------------------------------------------------ built-in runs


def _is_run_dir(source: str) -> bool:
    path = Path(source)
    return path.is_dir() and (
        (path / "config.json").is_file() or any(path.glob("checkpoint-*.pt"))
    )


def freeze_batch_norm(
    module: nn.Module, mean_fn: MeanFn, latents: torch.Tensor
) -> None:
    """Fix every training-mode BatchNorm layer at the statistics of ``latents``.

    ``mean_fn(latents)`` is run once while recording the statistics each layer
    normalises with; the layers' running statistics become those, and the
    whole module is put in eval mode, so later calls are per-sample.
    """
    with torch.no_grad(), record_batch_statistics(module) as statistics:
        mean_fn(latents)
    for layer, (mean, var) in statistics.items():
        assert isinstance(layer, nn.modules.batchnorm._BatchNorm)
        layer.running_mean, layer.running_var = mean, var
    module.eval()


def run_output_shape(config: Any) -> tuple[int, ...]:
    """Shape of one sample of a built-in run, read from its config alone."""
    if config.dataset == "ring":
        return (2,)
    side = config.resolution if config.resolution is not None else MNIST_SIDE
    channels = 1 if config.dataset in ("mnist", "mnist_imbalanced") else 3
    return (channels, side, side)


def load_run_dir(source: str, device: torch.device) -> LoadedGenerator:
    """Load the newest checkpoint of a built-in host run.

    Raises
    ------
    GeneratorLoadError
        Naming the run directory when it has no usable checkpoint.
    """
    from presgan_plugin.train.checkpoint import CheckpointError, load_latest_checkpoint
    from presgan_plugin.train.config import ConfigError, config_from_saved
    from presgan_plugin.train.loop import build_models

    run_dir = Path(source)
    try:
        state = load_latest_checkpoint(run_dir)
        values = dict(state["config"])
        config = config_from_saved(values)
    except (CheckpointError, ConfigError, TypeError, KeyError) as error:
        raise GeneratorLoadError(f"generator {source}: {error}") from error

    shape = run_output_shape(config)
    module, _ = build_models(config, shape)
    try:
        module.load_state_dict(state["generator"])
    except RuntimeError as error:
        raise GeneratorLoadError(
            f"generator {source}: the checkpoint's generator does not match the "
            f"network its config.json describes ({error})"
        ) from error
    module = module.to(device).requires_grad_(False)

    if isinstance(module, PrescribedGenerator):
        prescribed = module
        net_fn: MeanFn = prescribed.mean
        sigma: torch.Tensor | None = prescribed.sigma.detach()
    else:
        net_fn = module
        sigma = None

    def mean_fn(latent: torch.Tensor) -> torch.Tensor:
        return net_fn(latent).reshape(latent.shape[0], *shape)

    reference = torch.randn(
        REFERENCE_BATCH_SIZE,
        config.latent_dim,
        generator=torch.Generator().manual_seed(REFERENCE_SEED),
    ).to(device)
    freeze_batch_norm(module, mean_fn, reference)
    return LoadedGenerator(
        name=run_dir.resolve().name,
        mean_fn=mean_fn,
        sigma=sigma,
        latent_dim=config.latent_dim,
        output_shape=tuple(shape),
        kind=config.model,
        source=source,
        info={
            "dataset": config.dataset,
            "iteration": int(state["iteration"]),
            "host": config.host,
            "module": module,
        },
    )


# ---------------------------------------------------------- network pickles


def _is_pickle(source: str) -> bool:
    return Path(source).suffix.lower() in PICKLE_SUFFIXES


def load_network_pickle(source: str, device: torch.device) -> LoadedGenerator:
    """Load a host network pickle through the host adapter's loader function.

    The StyleGAN2-ADA adapter reads these pickles when it offers a
    ``load_generator(source, device)`` function; otherwise the error says
    which host reads the file and how to compare it meanwhile.
    """
    if not Path(source).is_file():
        raise GeneratorLoadError(
            f"generator {source}: no such file; expected a network pickle written "
            "by StyleGAN2-ADA / StyleGAN3 (plain or PresGAN)"
        )
    try:
        host = importlib.import_module(PICKLE_HOST)
    except ImportError as error:
        raise GeneratorLoadError(
            f"generator {source}: network pickles are read by the host adapter "
            f"{PICKLE_HOST}, which failed to import ({error})"
        ) from error
    loader = getattr(host, PICKLE_LOADER_NAME, None)
    if loader is None:
        raise GeneratorLoadError(
            f"generator {source}: a network pickle is loaded by the stylegan2 host "
            f"({PICKLE_HOST}), but this version of it offers no "
            f"{PICKLE_LOADER_NAME}(source, device) function; compare a run of the "
            "built-in host (presgan-wrap --host dcgan|mlp) instead, or register a "
            "loader with presgan_plugin.generators.register_generator_loader"
        )
    loaded = loader(source, device)
    if not isinstance(loaded, LoadedGenerator):
        raise GeneratorLoadError(
            f"generator {source}: {PICKLE_HOST}.{PICKLE_LOADER_NAME} returned "
            f"{type(loaded).__name__}, expected a LoadedGenerator"
        )
    return loaded


register_generator_loader("run-dir", _is_run_dir, load_run_dir)
register_generator_loader("network-pickle", _is_pickle, load_network_pickle)
