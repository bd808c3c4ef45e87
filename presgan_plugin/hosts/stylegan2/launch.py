"""Training arguments for the host's ``training_loop``, and a per-rank launcher.

The launcher is ours: per rank it starts ``torch.distributed`` when there is
more than one GPU, initialises the host's statistics, applies
``presgan_plugin.patches.stylegan`` and calls
``training_loop.training_loop(rank=rank, **args)``. Spawned workers run the
same function, so they get the patches too.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from presgan_plugin.hosts.stylegan2 import resume as resume_lib

logger = logging.getLogger(__name__)

LOSS_CLASS = "presgan_plugin.hosts.stylegan2.loss.PresGANLoss"
GENERATOR_FACTORY = "presgan_plugin.hosts.stylegan2.networks.make_generator"
OPTIMIZER_FACTORY = "presgan_plugin.hosts.stylegan2.networks.make_optimizer"
DATASET_CLASS = "training.dataset.ImageFolderDataset"
AUGMENT_CLASS = "training.augment.AugmentPipe"
AUGMENT_BGC = dict(
    xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
    brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1,
)  # fmt: skip
ADA_TARGET = 0.6


def _host_defaults(options: dict[str, Any], resume_path: Path, flavour: str) -> Any:
    """Base arguments: the host's own ``setup_training_loop_kwargs`` when it has one."""
    import dnnlib

    if flavour == "stylegan2-ada":
        import train

        try:
            _, args = train.setup_training_loop_kwargs(
                gpus=options["gpus"],
                snap=options["snap"],
                metrics=options["metrics"],
                seed=options["seed"],
                data=str(options["data"]),
                mirror=options["mirror"],
                gamma=options["gamma"],
                batch=options["batch"],
                aug=options["aug"],
                p=options["p"],
                target=options["target"],
                resume=str(resume_path),
                workers=options["workers"],
            )
        except train.UserError as error:
            raise ValueError(str(error)) from error
        return args
    args = dnnlib.EasyDict(
        num_gpus=options["gpus"],
        image_snapshot_ticks=options["snap"],
        network_snapshot_ticks=options["snap"],
        metrics=list(options["metrics"]),
        random_seed=options["seed"],
        training_set_kwargs=dnnlib.EasyDict(
            class_name=DATASET_CLASS,
            path=str(options["data"]),
            use_labels=False,
            max_size=None,
            xflip=bool(options["mirror"]),
        ),
        data_loader_kwargs=dnnlib.EasyDict(
            pin_memory=True, num_workers=options["workers"], prefetch_factor=2
        ),
        G_opt_kwargs=dnnlib.EasyDict(
            class_name="torch.optim.Adam", lr=0.0025, betas=[0, 0.99], eps=1e-8
        ),
        D_opt_kwargs=dnnlib.EasyDict(
            class_name="torch.optim.Adam", lr=0.0025, betas=[0, 0.99], eps=1e-8
        ),
        loss_kwargs=dnnlib.EasyDict(r1_gamma=options["gamma"] or 10.0),
        batch_size=options["batch"] or 32,
        ema_kimg=10.0,
        ema_rampup=None,
        resume_pkl=str(resume_path),
        ada_kimg=100,
    )
    if options["aug"] != "noaug":
        args.augment_kwargs = dnnlib.EasyDict(class_name=AUGMENT_CLASS, **AUGMENT_BGC)
        if options["aug"] == "ada":
            args.ada_target = options["target"] or ADA_TARGET
        else:
            args.augment_p = options["p"]
    return args


def build_args(
    options: dict[str, Any],
    flavour: str,
    resume_path: Path,
    resume_data: dict[str, Any],
) -> Any:
    """Arguments for ``training_loop`` with the PresGAN pieces in place.

    The networks are rebuilt from the pickle's recorded ``init_kwargs`` (so
    the architecture matches and no layer is silently dropped), the generator
    through :func:`~presgan_plugin.hosts.stylegan2.networks.make_generator`,
    the G optimiser through ``make_optimizer`` (sigma's own rate, float betas),
    and the loss is :class:`~presgan_plugin.hosts.stylegan2.loss.PresGANLoss`.
    """
    import dnnlib

    from presgan_plugin.patches import stylegan as patches

    args = _host_defaults(options, resume_path, flavour)
    args.pop("run_dir", None)
    G, D = resume_data["G"], resume_data["D"]
    G_kwargs = dnnlib.EasyDict(resume_lib.network_kwargs(G))
    D_kwargs = dnnlib.EasyDict(resume_lib.network_kwargs(D))
    if options["cpu"]:
        # Half-precision layers on CPU: HMC differentiates through them (F4).
        if "num_fp16_res" in G_kwargs.get("synthesis_kwargs", {}):
            G_kwargs.synthesis_kwargs = dict(G_kwargs.synthesis_kwargs, num_fp16_res=0)
        if "num_fp16_res" in D_kwargs:
            D_kwargs.num_fp16_res = 0
    args.G_kwargs = dnnlib.EasyDict(
        class_name=GENERATOR_FACTORY,
        host_class_name=resume_lib.class_name_of(G, flavour),
        sigma_min=options["sigma_min"],
        sigma_max=options["sigma_max"],
        sigma_init=options["sigma_init"],
        share_sigma_across_channels=options["share_sigma_across_channels"],
        **G_kwargs,
    )
    args.D_kwargs = dnnlib.EasyDict(
        class_name=resume_lib.class_name_of(D, flavour), **D_kwargs
    )
    for key in ("G_opt_kwargs", "D_opt_kwargs"):
        args[key] = dnnlib.EasyDict(patches.float_betas(args[key]))
        if options.get("lr") is not None:
            args[key].lr = options["lr"]
    host_optimizer = args.G_opt_kwargs.pop("class_name")
    args.G_opt_kwargs = dnnlib.EasyDict(
        class_name=OPTIMIZER_FACTORY,
        host_class_name=host_optimizer,
        sigma_lr=options["sigma_lr"],
        base_lr=args.G_opt_kwargs.lr,
        **args.G_opt_kwargs,
    )
    r1_gamma = args.loss_kwargs.get("r1_gamma", 10.0)
    args.loss_kwargs = dnnlib.EasyDict(
        class_name=LOSS_CLASS,
        r1_gamma=r1_gamma if options["gamma"] is None else options["gamma"],
        entropy_weight=options["entropy_weight"],
        num_burn_in=options["num_burn_in"],
        num_posterior_samples=options["num_posterior_samples"],
        num_leapfrog_steps=options["num_leapfrog_steps"],
    )
    if options["batch"] is not None:
        args.batch_size = options["batch"]
    if options["batch_gpu"] is not None:
        args.batch_gpu = options["batch_gpu"]
    args.batch_gpu = min(args.get("batch_gpu", args.batch_size), args.batch_size)
    if args.batch_size % (args.batch_gpu * options["gpus"]):
        raise ValueError(
            f"--batch {args.batch_size} must be a multiple of --batch-gpu "
            f"{args.batch_gpu} times --gpus {options['gpus']}"
        )
    args.total_kimg = options["kimg"]
    args.kimg_per_tick = options["tick"]
    args.resume_pkl = str(resume_path)
    args.training_set_kwargs.resolution = int(G.img_resolution)
    if options["cpu"]:
        args.data_loader_kwargs = dnnlib.EasyDict(pin_memory=False, num_workers=0)
    args.data_loader_kwargs = dnnlib.EasyDict(
        patches.drop_prefetch_without_workers(args.data_loader_kwargs)
    )
    return args


def make_run_dir(outdir: Path, data: Path) -> Path:
    """``outdir/NNNNN-presgan-DATASET``, numbered after the runs already there."""
    outdir.mkdir(parents=True, exist_ok=True)
    numbers = [
        int(match.group())
        for name in os.listdir(outdir)
        if (match := re.match(r"^\d+", name)) is not None
    ]
    run_id = max(numbers, default=-1) + 1
    run_dir = outdir / f"{run_id:05d}-presgan-{data.stem}"
    run_dir.mkdir()
    return run_dir


def subprocess_fn(rank: int, args: Any, temp_dir: str, cpu: bool) -> None:
    """One training process: distributed init, statistics, patches, the host loop."""
    from torch_utils import training_stats

    from presgan_plugin.patches import stylegan as patches

    if args.num_gpus > 1:
        init_file = os.path.abspath(os.path.join(temp_dir, ".torch_distributed_init"))
        torch.distributed.init_process_group(
            backend="nccl",
            init_method=f"file://{init_file}",
            rank=rank,
            world_size=args.num_gpus,
        )
        # One process keeps the module's defaults (rank 0, no sync device),
        # which also lets a process that already collected statistics train.
        sync_device = torch.device("cuda", rank)
        training_stats.init_multiprocessing(rank=rank, sync_device=sync_device)
    patches.apply_all(cpu=cpu)
    from training import training_loop

    training_loop.training_loop(rank=rank, **args)


def _worker(rank: int, host_dir: str, args: Any, temp_dir: str, cpu: bool) -> None:
    """Entry of a spawned process: the host on the path first, then train."""
    from presgan_plugin.hosts.stylegan2.checkout import use_host

    use_host(Path(host_dir))
    subprocess_fn(rank, args, temp_dir, cpu)


def launch(args: Any, host_dir: Path, *, cpu: bool) -> None:
    """Write ``training_options.json`` and run one process per GPU."""
    run_dir = Path(args.run_dir)
    with open(run_dir / "training_options.json", "w") as file:
        json.dump(args, file, indent=2)
    with tempfile.TemporaryDirectory() as temp_dir:
        if args.num_gpus == 1:
            subprocess_fn(0, args, temp_dir, cpu)
        else:
            torch.multiprocessing.set_start_method("spawn", force=True)
            torch.multiprocessing.spawn(
                fn=_worker,
                args=(str(host_dir), copy.deepcopy(args), temp_dir, cpu),
                nprocs=args.num_gpus,
            )
