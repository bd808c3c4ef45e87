"""The built-in hosts: a DCGAN for images and the paper's MLP for the 2-D ring.

``presgan-wrap --host dcgan`` with no other option trains a PresGAN on the
embedded MNIST digits. Every option is also a key of a ``--config`` JSON file;
options given on the command line win over the file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, ClassVar

import click

from presgan_plugin.core.sampler import CHAIN_LAYOUTS
from presgan_plugin.data import DATASET_NAMES, DataError
from presgan_plugin.hosts.base import Host
from presgan_plugin.train.config import (
    ADVERSARIAL_FORMS,
    MODELS,
    ConfigError,
    TrainConfig,
    config_from_saved,
    read_config_file,
    resolve_config,
)

INTERRUPTED_EXIT_CODE = 130  # the shell's code for a run stopped by Ctrl-C
POSITIVE_INT = click.IntRange(min=1)
POSITIVE_FLOAT = click.FloatRange(min=0, min_open=True)
NON_NEGATIVE_FLOAT = click.FloatRange(min=0)

# (option, click type, help) — defaults come from TrainConfig and the host.
OPTIONS: list[tuple[str, Any, str]] = [
    ("--model", click.Choice(MODELS), "presgan, or gan: the same nets without noise"),
    ("--dataset", click.Choice(DATASET_NAMES), "training data"),
    ("--data", click.Path(exists=True), "MNIST IDX folder or .npz, or images"),
    ("--resolution", POSITIVE_INT, "image side the networks work at (28, 32, 64)"),
    ("--imbalance-level", click.IntRange(0, 9), "mnist_imbalanced level, 0..9"),
    ("--num-data-samples", POSITIVE_INT, "size of the training set"),
    ("--ring-radius", POSITIVE_FLOAT, "ring: radius of the circle of modes"),
    ("--ring-std", POSITIVE_FLOAT, "ring: std of each mode"),
    ("--ring-num-modes", POSITIVE_INT, "ring: number of modes"),
    ("--latent-dim", POSITIVE_INT, "latent dimension"),
    ("--width", POSITIVE_INT, "network width (DCGAN feature maps, MLP units)"),
    ("--batch-size", POSITIVE_INT, "batch size per process"),
    ("--lr-generator", POSITIVE_FLOAT, "Adam learning rate of the mean network"),
    ("--lr-discriminator", POSITIVE_FLOAT, "Adam learning rate of D"),
    ("--lr-sigma", POSITIVE_FLOAT, "Adam learning rate of sigma"),
    ("--beta1", click.FloatRange(0, 1, max_open=True), "Adam beta1"),
    ("--beta2", click.FloatRange(0, 1, max_open=True), "Adam beta2"),
    ("--adversarial", click.Choice(ADVERSARIAL_FORMS), "adversarial loss form"),
    ("--entropy-weight", NON_NEGATIVE_FLOAT, "lambda, weight of the entropy term"),
    ("--sigma-min", POSITIVE_FLOAT, "lower bound of sigma"),
    ("--sigma-max", POSITIVE_FLOAT, "upper bound of sigma"),
    ("--sigma-init", POSITIVE_FLOAT, "initial sigma"),
    ("--num-burn-in", click.IntRange(min=0), "HMC burn-in transitions per step"),
    ("--num-posterior-samples", POSITIVE_INT, "HMC draws kept per target (M)"),
    ("--num-leapfrog-steps", POSITIVE_INT, "HMC leapfrog steps (L)"),
    ("--step-size", POSITIVE_FLOAT, "initial HMC step size (default 1/latent_dim)"),
    ("--target-accept-rate", click.FloatRange(0, 1, True, True), "HMC target"),
    ("--adaptation-rate", POSITIVE_FLOAT, "HMC step-size adaptation rate"),
    ("--chain-layout", click.Choice(CHAIN_LAYOUTS), "HMC chain layout"),
    ("--iters", POSITIVE_INT, "budget in iterations (overrides --kimg)"),
    ("--kimg", POSITIVE_FLOAT, "budget in thousands of real images"),
    ("--tick-iters", POSITIVE_INT, "iterations per tick (stats line, grid)"),
    ("--snapshot-ticks", POSITIVE_INT, "ticks per numbered checkpoint"),
    ("--eval-samples", click.IntRange(min=0), "samples scored at the end (0: none)"),
    ("--seed", click.IntRange(min=0), "random seed"),
    ("--outdir", click.Path(file_okay=False), "parent folder of run directories"),
    ("--run-name", str, "run directory name (default from host/model/data/seed)"),
    ("--device", str, "auto, cpu, cuda or cuda:N"),
    ("--threads", POSITIVE_INT, "CPU threads for torch"),
]

# Options that may change when a run is resumed.
RESUMABLE = ("iters", "kimg", "tick_iters", "snapshot_ticks", "eval_samples", "device")


def _option_name(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _defaults_help(host: str) -> dict[str, Any]:
    config = resolve_config(host, {}, {})
    return config.to_dict()


def build_command(host: str) -> click.Command:
    """The click command of a built-in host."""
    defaults = _defaults_help(host)

    def callback(**values: Any) -> None:
        _run(host, values)

    params: list[click.Parameter] = [
        click.Option(
            ["--config", "config_file"],
            type=click.Path(exists=True, dir_okay=False),
            help="JSON file of options (see training_configs/)",
        ),
        click.Option(
            ["--resume"],
            type=click.Path(exists=True, file_okay=False),
            help="continue the run in this directory from its newest checkpoint",
        ),
        click.Option(
            ["--share-sigma-across-channels/--per-channel-sigma"],
            default=None,
            help="one sigma per pixel, shared by the channels (default for images), "
            "or one per channel and pixel",
        ),
        click.Option(
            ["--evaluate"],
            type=click.Path(exists=True, file_okay=False),
            help="score every checkpoint of this run directory, then exit",
        ),
        click.Option(["--dry-run"], is_flag=True, help="print the config and exit"),
        click.Option(["--quiet"], is_flag=True, help="no progress bar"),
    ]
    for flag, kind, text in OPTIONS:
        default = defaults.get(_option_name(flag))
        shown = f"  [default: {default}]" if default is not None else ""
        params.append(click.Option([flag], type=kind, default=None, help=text + shown))
    summary = (
        "Train a PresGAN (or a GAN) with the built-in DCGAN on images."
        if host == "dcgan"
        else "Train a PresGAN (or a GAN) with the paper's MLP on the 2-D ring."
    )
    return click.Command(
        name=f"presgan-wrap --host {host}",
        context_settings={"help_option_names": ["-h", "--help"]},
        callback=callback,
        params=params,
        help=summary
        + " Outputs go to OUTDIR/RUN_NAME: config.json, stats.jsonl, "
        + ("sample grids, " if host == "dcgan" else "ring.png, ")
        + "checkpoint-*.pt and scores.json.",
    )


def _run(host: str, values: dict[str, Any]) -> None:
    from presgan_plugin.train.checkpoint import CheckpointError, load_latest_checkpoint
    from presgan_plugin.train.loop import RunDirError, score_checkpoints, train

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    evaluate = values.pop("evaluate")
    if evaluate is not None:
        try:
            rows = score_checkpoints(
                Path(evaluate), eval_samples=values["eval_samples"]
            )
        except CheckpointError as error:
            raise click.UsageError(str(error)) from None
        click.echo(format_rows(rows))
        return
    config_file = values.pop("config_file")
    resume = values.pop("resume")
    dry_run = values.pop("dry_run")
    quiet = values.pop("quiet")
    try:
        if resume is not None:
            config = _resumed_config(Path(resume), values, load_latest_checkpoint)
        else:
            file_values = read_config_file(config_file) if config_file else {}
            file_host = file_values.pop("host", host)
            if file_host != host:
                raise ConfigError(
                    f"config file {config_file} is for host {file_host!r}; run "
                    f"presgan-wrap --host {file_host} --config {config_file}"
                )
            config = resolve_config(host, file_values, values, source=config_file)
    except (ConfigError, CheckpointError) as error:
        raise click.UsageError(str(error)) from None
    if dry_run:
        click.echo(json.dumps(config.to_dict(), indent=2))
        return
    try:
        run_dir, scores = train(
            config, resume=Path(resume) if resume else None, quiet=quiet
        )
    except (RunDirError, CheckpointError, DataError) as error:
        raise click.UsageError(str(error)) from None
    if scores is not None and not scores and _is_secondary_rank():
        return
    click.echo(f"run directory: {run_dir}")
    if scores is None:
        sys.exit(INTERRUPTED_EXIT_CODE)
    if scores:
        click.echo(format_scores(scores))


def _is_secondary_rank() -> bool:
    """True in every process but rank 0 of a torchrun job."""
    return int(os.environ.get("RANK", "0")) != 0


def _resumed_config(run_dir: Path, values: dict[str, Any], load: Any) -> TrainConfig:
    """The saved config of a run, with the options that may change on resume."""
    state = load(run_dir)
    saved = dict(state["config"])
    ignored = [k for k, v in values.items() if v is not None and k not in RESUMABLE]
    if ignored:
        raise ConfigError(
            f"--resume continues {run_dir} with its saved settings; these options "
            f"cannot change on resume: {', '.join(sorted(ignored))} (allowed: "
            f"{', '.join(RESUMABLE)})"
        )
    saved.update({k: v for k, v in values.items() if v is not None})
    return config_from_saved(saved)


def format_scores(scores: dict[str, float]) -> str:
    """An aligned two-column table of scores."""
    width = max(len(key) for key in scores)
    return "\n".join(f"{key:<{width}}  {value:.4g}" for key, value in scores.items())


def format_rows(rows: list[dict[str, float]]) -> str:
    """An aligned table, one row per checkpoint."""
    if not rows:
        return "no checkpoints"
    keys = list(rows[0])
    cells = [[f"{row.get(key, float('nan')):.4g}" for key in keys] for row in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))]
    lines += [
        "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells
    ]
    return "\n".join(lines)


class DCGANHost(Host):
    """Built-in DCGAN host (images: MNIST, StackedMNIST, your own folder)."""

    name: ClassVar[str] = "dcgan"
    summary: ClassVar[str] = "built-in DCGAN on images"

    def command(self) -> click.Command:
        """The ``presgan-wrap --host dcgan`` command."""
        return build_command("dcgan")


class MLPHost(Host):
    """Built-in MLP host (the paper's 2-D ring of Gaussians)."""

    name: ClassVar[str] = "mlp"
    summary: ClassVar[str] = "built-in MLP on the 2-D ring"

    def command(self) -> click.Command:
        """The ``presgan-wrap --host mlp`` command."""
        return build_command("mlp")
