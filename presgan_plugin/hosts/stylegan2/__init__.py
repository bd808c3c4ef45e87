"""StyleGAN2-ADA host adapter: ``presgan-wrap --host stylegan2``.

Fine-tunes a pretrained StyleGAN2-ADA network pickle as a PresGAN inside the
host's own ``training_loop``: sigma lives on ``G.synthesis`` (so the host's
optimiser, EMA, DDP and snapshots carry it), the loss is
:class:`presgan_plugin.hosts.stylegan2.loss.PresGANLoss`, and the runtime
patches of :mod:`presgan_plugin.patches.stylegan` are applied in every
training process. No host file is edited or copied. Host modules are
imported only once the command runs.

:func:`load_generator` reads the host's network pickles (plain or PresGAN
snapshots) for ``presgan-compare``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from presgan_plugin.core.losses import ENTROPY_WEIGHT
from presgan_plugin.core.sigma import SIGMA_INIT, SIGMA_MAX, SIGMA_MIN
from presgan_plugin.hosts.base import Host

if TYPE_CHECKING:
    import torch

    from presgan_plugin.generators import LoadedGenerator

logger = logging.getLogger(__name__)


def _load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--config FILE``: JSON option names (underscores) become defaults."""
    if value is None:
        return
    try:
        with open(value) as file:
            config = json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        raise click.BadParameter(f"cannot read {value}: {error}") from None
    if not isinstance(config, dict):
        raise click.BadParameter(f"{value} must hold a JSON object of option names")
    command = ctx.command
    known = {p.name for p in command.params if p.name not in ("config", "help")}
    unknown = sorted(set(config) - known)
    if unknown:
        raise click.BadParameter(
            f"{value}: unknown option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(n for n in known if n))}"
        )
    ctx.default_map = {**(ctx.default_map or {}), **config}


def load_generator(
    source: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> LoadedGenerator:
    """Load a StyleGAN2-ADA network pickle for ``presgan-compare``.

    See :func:`presgan_plugin.hosts.stylegan2.generator.load_generator`; this
    wrapper keeps the host module light to import.

    Parameters
    ----------
    source
        A plain host pickle or a PresGAN ``network-snapshot-*.pkl``.
    device
        Where the generator runs.

    Returns
    -------
    presgan_plugin.generators.LoadedGenerator
        The deterministic mean of ``G_ema``, and sigma when the pickle has one.
    """
    from presgan_plugin.hosts.stylegan2.generator import load_generator as load

    return load(source, device)


def _metrics(value: str) -> list[str]:
    return [] if value.strip().lower() in ("", "none") else value.split(",")


class StyleGAN2Host(Host):
    """Train a PresGAN inside a StyleGAN2-ADA checkout."""

    name = "stylegan2"
    summary = "StyleGAN2-ADA (NVlabs/stylegan2-ada-pytorch) fine-tuning"

    def command(self) -> click.Command:
        """Return the ``presgan-wrap --host stylegan2`` command."""
        return stylegan2_command


@click.command(name="stylegan2")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    callback=_load_config,
    is_eager=True,
    expose_value=False,
    help="JSON file of option values (keys with underscores); the command line wins.",
)
@click.option("--resume", required=True, help="Network pickle: a path or https URL.")
@click.option(
    "--data", required=True, type=click.Path(path_type=Path), help="Dataset zip/folder."
)
@click.option(
    "--outdir", required=True, type=click.Path(path_type=Path), help="Runs folder."
)
@click.option("--host-dir", type=click.Path(path_type=Path), help="Host checkout.")
@click.option("--gpus", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--kimg", type=click.FloatRange(min=0, min_open=True), default=1000.0)
@click.option("--tick", type=click.FloatRange(min=0, min_open=True), default=4.0)
@click.option("--snap", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--metrics", default="none", show_default=True, help="e.g. fid50k_full")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--gamma", type=click.FloatRange(min=0), help="R1 weight.")
@click.option("--aug", type=click.Choice(["ada", "noaug", "fixed"]), default="ada")
@click.option("--p", type=click.FloatRange(0, 1), help="Augment p for --aug fixed.")
@click.option("--target", type=click.FloatRange(0, 1), help="ADA target.")
@click.option("--mirror", type=bool, default=False, help="x-flips of the data.")
@click.option("--batch", type=click.IntRange(min=1), help="Total batch size.")
@click.option("--batch-gpu", type=click.IntRange(min=1), help="Batch per GPU round.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="G and D lr.")
@click.option("--workers", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--entropy-weight", type=float, default=ENTROPY_WEIGHT, show_default=True)
@click.option("--num-burn-in", type=click.IntRange(min=0), default=2, show_default=True)
@click.option(
    "--num-posterior-samples", type=click.IntRange(min=1), default=2, show_default=True
)
@click.option(
    "--num-leapfrog-steps", type=click.IntRange(min=1), default=5, show_default=True
)
@click.option("--sigma-min", type=float, default=SIGMA_MIN, show_default=True)
@click.option("--sigma-max", type=float, default=SIGMA_MAX, show_default=True)
@click.option("--sigma-init", type=float, default=SIGMA_INIT, show_default=True)
@click.option("--sigma-lr", type=float, help="sigma's own lr (default: G's lr).")
@click.option("--share-sigma-across-channels", is_flag=True, help="sigma [1, H, W].")
@click.option(
    "--allow-host",
    multiple=True,
    help="Host allowed for --resume URLs (repeatable; default NVIDIA's).",
)
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Download cache.")
@click.option("--cpu", is_flag=True, help="Test mode: run the host loop on the CPU.")
@click.option("--dry-run", is_flag=True, help="Print the resolved options and exit.")
def stylegan2_command(**options: Any) -> None:
    """Fine-tune a StyleGAN2-ADA network pickle as a Prescribed GAN."""
    run(options)


def run(options: dict[str, Any]) -> Path | None:
    """Resolve ``options`` and train; returns the run folder (None for --dry-run)."""
    from presgan_plugin.hosts.stylegan2 import checkout, launch
    from presgan_plugin.hosts.stylegan2 import resume as resume_lib
    from presgan_plugin.patches import stylegan as patches

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = dict(options)
    options["metrics"] = _metrics(options["metrics"])
    options["data"] = Path(options["data"]).expanduser()
    if options["cpu"] and options["gpus"] != 1:
        raise click.UsageError("--cpu runs one process; drop --gpus or set --gpus 1")
    if options["cpu"] and options["batch"] is None:
        options["batch"] = 4
    allowed = tuple(options["allow_host"]) or resume_lib.DEFAULT_ALLOWED_HOSTS
    try:
        host_dir = checkout.find_host_dir(options["host_dir"])
        checkout.check_host_requirements(host_dir)
    except (checkout.HostNotFoundError, checkout.HostRequirementError) as error:
        raise click.UsageError(str(error)) from None
    flavour = checkout.use_host(host_dir)
    patches.install_pkg_resources_stub()
    try:
        resume_path = resume_lib.resolve(
            options["resume"], options["cache_dir"], allowed
        )
        resume_data = resume_lib.load_network(resume_path)
        resume_lib.check_data_matches(
            options["data"],
            resume_path,
            resume_data["G"],
            options["share_sigma_across_channels"],
        )
        args = launch.build_args(options, flavour, resume_path, resume_data)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    logger.info(
        "host %s (%s) at %s", flavour, "CPU" if options["cpu"] else "GPU", host_dir
    )
    logger.info("resume %s: %s", resume_path, resume_lib.describe(resume_data))
    if options["cpu"]:
        logger.info(
            "CPU mode: every layer runs in float32 (num_fp16_res=0, force_fp32)"
        )
    if options["dry_run"]:
        resolved = {
            "host_dir": str(host_dir),
            "flavour": flavour,
            "options": {
                k: str(v) if isinstance(v, Path) else v for k, v in options.items()
            },
            "training_args": args,
        }
        click.echo(json.dumps(resolved, indent=2, default=str))
        return None
    run_dir = launch.make_run_dir(Path(options["outdir"]).expanduser(), options["data"])
    args.run_dir = str(run_dir)
    launch.launch(args, host_dir, cpu=options["cpu"])
    return run_dir
