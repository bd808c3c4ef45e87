"""A StyleGAN2-ADA network pickle as a generator to compare (``presgan-compare``).

:func:`load_generator` reads a plain host pickle (e.g. ``ffhq.pkl``) or a
PresGAN snapshot with the host's own ``legacy.load_network_pkl`` and reduces
its ``G_ema`` to a :class:`~presgan_plugin.generators.LoadedGenerator`: a
deterministic mean ``z -> mu(z)`` and, for a PresGAN snapshot, the sigma that
was trained with it. The checkout is found as the training command finds it,
without ``--host-dir``: ``$PRESGAN_STYLEGAN2_DIR``, then an importable
``dnnlib`` and ``torch_utils``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from presgan_plugin.generators import GeneratorLoadError, LoadedGenerator
from presgan_plugin.hosts.stylegan2 import checkout
from presgan_plugin.hosts.stylegan2.networks import has_sigma, sigma_of

KIND = "stylegan2-pkl"
NETWORK_KEY = "G_ema"  # the smoothed generator the host samples and scores
SNAPSHOT_PREFIX = "network-snapshot-"


class ConditionalPickleError(GeneratorLoadError, NotImplementedError):
    """A class-conditional network pickle (``c_dim > 0``), which is not supported."""


def load_generator(
    source: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> LoadedGenerator:
    """Load ``G_ema`` of a StyleGAN2-ADA network pickle for comparison.

    Parameters
    ----------
    source
        Path of a network pickle: a host pickle without sigma, or a
        ``network-snapshot-*.pkl`` of a PresGAN fine-tune.
    device
        Where the generator runs.

    Returns
    -------
    LoadedGenerator
        ``mean_fn(latent [B, z_dim]) -> mu [B, C, H, W]``, computed as
        ``G_ema(z, c=0, noise_mode='const', truncation_psi=1)`` in float32:
        deterministic, per sample, on the host's [-1, 1] image scale (not
        clamped, as in training); ``sigma`` from the snapshot's
        ``synthesis.sigma_unconstrained``, or None for a plain pickle (no
        density); kind ``"stylegan2-pkl"``.

    Raises
    ------
    GeneratorLoadError
        When no checkout is found, the host lacks a module it imports, or the
        file is not a loadable network pickle; the message names the file.
    ConditionalPickleError
        For a class-conditional network (``c_dim > 0``); it is both a
        :class:`NotImplementedError` and a :class:`GeneratorLoadError`.
    """
    path = Path(source)
    device = torch.device(device)
    legacy = _host_loader(path)
    try:
        with open(path, "rb") as file:
            data = legacy.load_network_pkl(file)
        generator: Any = data[NETWORK_KEY]
    except Exception as error:
        raise GeneratorLoadError(
            f"generator {path}: the stylegan2 host's legacy.load_network_pkl cannot "
            f"read it ({type(error).__name__}: {error}); expected a network pickle "
            "written by StyleGAN2-ADA (plain or a PresGAN network-snapshot-*.pkl) "
            "that is not cut short"
        ) from error
    if not isinstance(generator, nn.Module) or not hasattr(generator, "synthesis"):
        raise GeneratorLoadError(
            f"generator {path}: {NETWORK_KEY} is {type(generator).__name__}, "
            "expected the stylegan2 host's Generator (with .mapping and .synthesis)"
        )
    c_dim = int(getattr(generator, "c_dim", 0))
    if c_dim > 0:
        raise ConditionalPickleError(
            f"generator {path}: a class-conditional network (c_dim={c_dim}); "
            "class-conditional pickles are not supported yet by the stylegan2 host's "
            "loader. Compare unconditional networks (c_dim=0)"
        )

    generator = generator.eval().requires_grad_(False).to(device)
    latent_dim = int(generator.z_dim)
    output_shape = (
        int(generator.img_channels),
        int(generator.img_resolution),
        int(generator.img_resolution),
    )
    sigma = (
        sigma_of(generator.synthesis).detach().to(device)
        if has_sigma(generator.synthesis)
        else None
    )
    return LoadedGenerator(
        name=_name(path),
        mean_fn=_mean_fn(generator, output_shape),
        sigma=sigma,
        latent_dim=latent_dim,
        output_shape=output_shape,
        kind=KIND,
        source=str(source),
        info={
            "has_sigma": sigma is not None,
            "num_parameters": sum(p.numel() for p in generator.parameters()),
            "module": generator,
        },
    )


def _host_loader(path: Path) -> Any:
    """The host's ``legacy`` module, with the checkout on the path."""
    from presgan_plugin.patches import stylegan as patches

    if not path.is_file():
        raise GeneratorLoadError(
            f"generator {path}: no such file; expected a network pickle of the "
            "stylegan2 host"
        )
    try:
        host_dir = checkout.find_host_dir(None)
        checkout.check_host_requirements(host_dir, checkout.LOADING_REQUIREMENTS)
    except ValueError as error:
        raise GeneratorLoadError(
            f"generator {path}: a network pickle is read by the stylegan2 host's "
            f"own loader, which is not usable here: {error}"
        ) from error
    checkout.use_host(host_dir)
    patches.install_pkg_resources_stub()
    import legacy

    return legacy


def _mean_fn(generator: nn.Module, output_shape: tuple[int, int, int]) -> Any:
    """``latent [B, z_dim] -> mu [B, C, H, W]``: constant layer noise, no truncation."""

    def mean_fn(latent: torch.Tensor) -> torch.Tensor:
        labels = latent.new_zeros([latent.shape[0], 0])  # [B, c_dim=0]
        mean = generator(
            latent,
            labels,
            truncation_psi=1,
            noise_mode="const",
            force_fp32=True,  # the density and HMC need float32, fp16 layers or not
        )
        return mean.to(torch.float32).reshape(latent.shape[0], *output_shape)

    return mean_fn


def _name(path: Path) -> str:
    """``tiny`` for ``tiny.pkl``; ``RUN-network-snapshot-N`` for a run's snapshot."""
    if path.stem.startswith(SNAPSHOT_PREFIX):
        parent = path.resolve().parent.name
        return f"{parent}-{path.stem}" if parent else path.stem
    return path.stem
