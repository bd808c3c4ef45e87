"""Sigma on the host generator, and the optimiser that gives it its own rate.

The host builds its generator from ``G_kwargs.class_name``; pointing that at
:func:`make_generator` builds the host's own class and registers two tensors
on ``G.synthesis`` before the host deep-copies G into G_ema or wraps it in
DDP:

- ``sigma_unconstrained``, a bare ``nn.Parameter`` of shape ``[C, H, W]``
  (``[1, H, W]`` when shared across channels), with
  sigma = sigma_from_unconstrained(sigma_unconstrained, sigma_min, sigma_max);
- ``hmc_step_size``, a 0-d buffer holding the adapted HMC step size.

Both are plain state of a host object, so the host's optimiser, EMA, DDP and
snapshots carry them, and a snapshot loads in a host without this package.
The bounds are kept as float attributes of ``G.synthesis`` for the same
reason.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from presgan_plugin.core.generator import sigma_shape_for
from presgan_plugin.core.sigma import (
    SIGMA_INIT,
    SIGMA_MAX,
    SIGMA_MIN,
    check_sigma_bounds,
    sigma_from_unconstrained,
    sigma_to_unconstrained,
)

SIGMA_NAME = "sigma_unconstrained"
STEP_SIZE_NAME = "hmc_step_size"
SIGMA_MIN_NAME = "presgan_sigma_min"
SIGMA_MAX_NAME = "presgan_sigma_max"
DEFAULT_GENERATOR_CLASS = "training.networks.Generator"
DEFAULT_OPTIMIZER_CLASS = "torch.optim.Adam"

# Sigma parameters built in this process; the optimiser factory finds sigma by
# identity here, so nothing extra is pickled with the parameter.
_SIGMA_PARAMETERS: dict[int, weakref.ref[nn.Parameter]] = {}


def is_sigma_parameter(parameter: Any) -> bool:
    """Whether ``parameter`` is a sigma registered by :func:`add_sigma` here."""
    found = _SIGMA_PARAMETERS.get(id(parameter))
    return found is not None and found() is parameter


def make_generator(
    *,
    host_class_name: str = DEFAULT_GENERATOR_CLASS,
    sigma_min: float = SIGMA_MIN,
    sigma_max: float = SIGMA_MAX,
    sigma_init: float = SIGMA_INIT,
    share_sigma_across_channels: bool = False,
    initial_step_size: float | None = None,
    **host_kwargs: Any,
) -> nn.Module:
    """Build the host generator and register sigma and the HMC step size on it.

    Parameters
    ----------
    host_class_name
        Dotted name of the host's generator class.
    sigma_min, sigma_max, sigma_init
        Bounds and initial value of sigma.
    share_sigma_across_channels
        One sigma per pixel (``[1, H, W]``) instead of per element.
    initial_step_size
        Initial HMC step size; None means 1 / z_dim.
    **host_kwargs
        Everything the host passes (``z_dim``, ``img_resolution``, ...).

    Returns
    -------
    torch.nn.Module
        The host's generator, with ``synthesis.sigma_unconstrained`` and
        ``synthesis.hmc_step_size``.
    """
    import dnnlib

    check_sigma_bounds(sigma_min, sigma_max, sigma_init)
    generator = dnnlib.util.construct_class_by_name(
        class_name=host_class_name, **host_kwargs
    )
    add_sigma(
        generator.synthesis,
        (generator.img_channels, generator.img_resolution, generator.img_resolution),
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        sigma_init=sigma_init,
        share_sigma_across_channels=share_sigma_across_channels,
        initial_step_size=(
            1.0 / generator.z_dim if initial_step_size is None else initial_step_size
        ),
    )
    return generator


def add_sigma(
    synthesis: nn.Module,
    image_shape: tuple[int, int, int],
    *,
    sigma_min: float = SIGMA_MIN,
    sigma_max: float = SIGMA_MAX,
    sigma_init: float = SIGMA_INIT,
    share_sigma_across_channels: bool = False,
    initial_step_size: float = 1.0 / 512,
) -> nn.Parameter:
    """Register sigma, its bounds and the HMC step size on a synthesis network."""
    check_sigma_bounds(sigma_min, sigma_max, sigma_init)
    if not initial_step_size > 0:
        raise ValueError(f"initial_step_size must be positive; got {initial_step_size}")
    shape = sigma_shape_for(image_shape, share_sigma_across_channels)
    initial = sigma_to_unconstrained(sigma_init, sigma_min, sigma_max)
    parameter = nn.Parameter(torch.full(shape, initial, dtype=torch.float32))
    synthesis.register_parameter(SIGMA_NAME, parameter)
    synthesis.register_buffer(
        STEP_SIZE_NAME, torch.tensor(float(initial_step_size), dtype=torch.float32)
    )
    setattr(synthesis, SIGMA_MIN_NAME, float(sigma_min))
    setattr(synthesis, SIGMA_MAX_NAME, float(sigma_max))
    _SIGMA_PARAMETERS[id(parameter)] = weakref.ref(parameter)
    return parameter


def has_sigma(synthesis: nn.Module) -> bool:
    """Whether a synthesis network carries a PresGAN sigma."""
    return isinstance(getattr(synthesis, SIGMA_NAME, None), torch.Tensor)


def sigma_of(synthesis: nn.Module) -> torch.Tensor:
    """sigma of a synthesis network built by :func:`make_generator`, in the graph."""
    if not has_sigma(synthesis):
        raise ValueError(
            f"{type(synthesis).__name__} has no {SIGMA_NAME!r} parameter; build the "
            "generator with G_kwargs.class_name="
            "'presgan_plugin.hosts.stylegan2.networks.make_generator'"
        )
    return sigma_from_unconstrained(
        getattr(synthesis, SIGMA_NAME),
        getattr(synthesis, SIGMA_MIN_NAME, SIGMA_MIN),
        getattr(synthesis, SIGMA_MAX_NAME, SIGMA_MAX),
    )


def make_optimizer(
    *args: Any,
    params: Iterable[Any] | None = None,
    lr: float,
    betas: Iterable[float] = (0.0, 0.99),
    host_class_name: str = DEFAULT_OPTIMIZER_CLASS,
    sigma_lr: float | None = None,
    base_lr: float | None = None,
    **optimizer_kwargs: Any,
) -> torch.optim.Optimizer:
    """Build the host's optimiser with sigma in a group of its own.

    The host calls this with ``params`` positionally (lazy regularisation) or
    as a keyword (``*both`` phases), with ``lr`` and ``betas`` already scaled
    for lazy regularisation. Betas are always passed on as floats.

    Parameters
    ----------
    params
        The module's parameters, positionally or by keyword.
    lr, betas
        The host's learning rate and betas (betas are coerced to floats).
    host_class_name
        Dotted name of the optimiser class.
    sigma_lr
        Learning rate of sigma before the host's scaling; None: same as ``lr``.
    base_lr
        The host's unscaled ``lr``; sigma's rate is scaled by ``lr / base_lr``.
    """
    import dnnlib

    if len(args) > 1 or (args and params is not None):
        raise TypeError(
            "make_optimizer takes the parameters once, positionally or as params="
        )
    parameters = list(args[0] if args else params if params is not None else [])
    float_betas = tuple(float(beta) for beta in betas)
    if len(float_betas) != 2:
        raise ValueError(f"betas must hold two numbers; got {list(betas)}")
    sigma_params = [p for p in parameters if is_sigma_parameter(p)]
    other_params = [p for p in parameters if not is_sigma_parameter(p)]
    groups: list[dict[str, Any]] = [{"params": other_params}]
    if sigma_params:
        scale = lr / base_lr if base_lr else 1.0
        group_lr = lr if sigma_lr is None else float(sigma_lr) * scale
        groups.append({"params": sigma_params, "lr": group_lr})
    optimizer = dnnlib.util.construct_class_by_name(
        groups,
        class_name=host_class_name,
        lr=lr,
        betas=float_betas,
        **optimizer_kwargs,
    )
    assert isinstance(optimizer, torch.optim.Optimizer)
    return optimizer
