"""Stand-in training loop with the host's structure.

Phases Gmain, Greg, Dmain, Dreg (or Gboth, Dboth without lazy
regularisation), the optimiser built with params positionally or by keyword,
the G_ema lerp, the ADA collector, stats.jsonl and network snapshots.
"""

import copy
import json
import os
import pickle
import time

import dnnlib
import legacy
import numpy as np
import torch
from torch_utils import misc, training_stats
from torch_utils.ops import conv2d_gradfix


def training_loop(
    run_dir=".",
    training_set_kwargs=None,
    data_loader_kwargs=None,
    G_kwargs=None,
    D_kwargs=None,
    G_opt_kwargs=None,
    D_opt_kwargs=None,
    augment_kwargs=None,
    loss_kwargs=None,
    metrics=None,
    random_seed=0,
    num_gpus=1,
    rank=0,
    batch_size=4,
    batch_gpu=4,
    ema_kimg=10,
    ema_rampup=None,
    G_reg_interval=4,
    D_reg_interval=16,
    augment_p=0,
    ada_target=None,
    ada_interval=4,
    ada_kimg=500,
    total_kimg=25000,
    kimg_per_tick=4,
    image_snapshot_ticks=50,
    network_snapshot_ticks=50,
    resume_pkl=None,
    cudnn_benchmark=True,
    allow_tf32=False,
    abort_fn=None,
    progress_fn=None,
):
    training_set_kwargs, data_loader_kwargs = (
        training_set_kwargs or {},
        data_loader_kwargs or {},
    )
    G_kwargs, D_kwargs, loss_kwargs = G_kwargs or {}, D_kwargs or {}, loss_kwargs or {}
    G_opt_kwargs, D_opt_kwargs = G_opt_kwargs or {}, D_opt_kwargs or {}
    start_time = time.time()
    device = torch.device("cuda", rank)
    np.random.seed(random_seed * num_gpus + rank)
    torch.manual_seed(random_seed * num_gpus + rank)
    conv2d_gradfix.enabled = True

    training_set = dnnlib.util.construct_class_by_name(**training_set_kwargs)
    sampler = misc.InfiniteSampler(
        dataset=training_set, rank=rank, num_replicas=num_gpus, seed=random_seed
    )
    iterator = iter(
        torch.utils.data.DataLoader(
            dataset=training_set,
            sampler=sampler,
            batch_size=batch_size // num_gpus,
            **data_loader_kwargs,
        )
    )

    common_kwargs = dict(
        c_dim=training_set.label_dim,
        img_resolution=training_set.resolution,
        img_channels=training_set.num_channels,
    )
    G = (
        dnnlib.util.construct_class_by_name(**G_kwargs, **common_kwargs)
        .train()
        .requires_grad_(False)
        .to(device)
    )
    D = (
        dnnlib.util.construct_class_by_name(**D_kwargs, **common_kwargs)
        .train()
        .requires_grad_(False)
        .to(device)
    )
    G_ema = copy.deepcopy(G).eval()
    if resume_pkl is not None and rank == 0:
        with dnnlib.util.open_url(resume_pkl) as f:
            resume_data = legacy.load_network_pkl(f)
        for name, module in [("G", G), ("D", D), ("G_ema", G_ema)]:
            misc.copy_params_and_buffers(resume_data[name], module, require_all=False)

    augment_pipe, ada_stats = None, None
    if augment_kwargs is not None and (augment_p > 0 or ada_target is not None):
        augment_pipe = (
            dnnlib.util.construct_class_by_name(**augment_kwargs)
            .train()
            .requires_grad_(False)
            .to(device)
        )
        if ada_target is not None:
            ada_stats = training_stats.Collector(regex="Loss/signs/real")

    modules = dict(
        G_mapping=G.mapping, G_synthesis=G.synthesis, D=D, augment_pipe=augment_pipe
    )
    loss = dnnlib.util.construct_class_by_name(device=device, **modules, **loss_kwargs)
    phases = []
    for name, module, opt_kwargs, reg_interval in [
        ("G", G, G_opt_kwargs, G_reg_interval),
        ("D", D, D_opt_kwargs, D_reg_interval),
    ]:
        if reg_interval is None:
            opt = dnnlib.util.construct_class_by_name(
                params=module.parameters(), **opt_kwargs
            )
            phases += [
                dnnlib.EasyDict(name=name + "both", module=module, opt=opt, interval=1)
            ]
        else:
            mb_ratio = reg_interval / (reg_interval + 1)
            opt_kwargs = dnnlib.EasyDict(opt_kwargs)
            opt_kwargs.lr = opt_kwargs.lr * mb_ratio
            opt_kwargs.betas = [beta**mb_ratio for beta in opt_kwargs.betas]
            opt = dnnlib.util.construct_class_by_name(module.parameters(), **opt_kwargs)
            phases += [
                dnnlib.EasyDict(name=name + "main", module=module, opt=opt, interval=1)
            ]
            phases += [
                dnnlib.EasyDict(
                    name=name + "reg", module=module, opt=opt, interval=reg_interval
                )
            ]
    if rank == 0:
        for phase in phases:
            phase.start_event = torch.cuda.Event(enable_timing=True)

    stats_collector = training_stats.Collector(regex=".*")
    stats_jsonl = open(os.path.join(run_dir, "stats.jsonl"), "w") if rank == 0 else None
    cur_nimg, cur_tick, batch_idx, tick_start_nimg = 0, 0, 0, 0
    while True:
        real_img, real_c = next(iterator)
        real_img = (real_img.to(device).to(torch.float32) / 127.5 - 1).split(batch_gpu)
        real_c = real_c.to(device).split(batch_gpu)
        all_gen_z = torch.randn([len(phases) * batch_size, G.z_dim], device=device)
        all_gen_z = [z.split(batch_gpu) for z in all_gen_z.split(batch_size)]
        all_gen_c = [
            training_set.get_label(np.random.randint(len(training_set)))
            for _ in range(len(phases) * batch_size)
        ]
        all_gen_c = torch.from_numpy(np.stack(all_gen_c)).pin_memory().to(device)
        all_gen_c = [c.split(batch_gpu) for c in all_gen_c.split(batch_size)]

        for phase, phase_gen_z, phase_gen_c in zip(
            phases, all_gen_z, all_gen_c, strict=False
        ):
            if batch_idx % phase.interval != 0:
                continue
            phase.opt.zero_grad(set_to_none=True)
            phase.module.requires_grad_(True)
            rounds = list(zip(real_img, real_c, phase_gen_z, phase_gen_c, strict=False))
            for round_idx, (img, c, gen_z, gen_c) in enumerate(rounds):
                sync = round_idx == batch_size // (batch_gpu * num_gpus) - 1
                loss.accumulate_gradients(
                    phase=phase.name,
                    real_img=img,
                    real_c=c,
                    gen_z=gen_z,
                    gen_c=gen_c,
                    sync=sync,
                    gain=phase.interval,
                )
            phase.module.requires_grad_(False)
            for param in phase.module.parameters():
                if param.grad is not None:
                    misc.nan_to_num(
                        param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad
                    )
            phase.opt.step()

        ema_nimg = ema_kimg * 1000
        if ema_rampup is not None:
            ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
        ema_beta = 0.5 ** (batch_size / max(ema_nimg, 1e-8))
        for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
            p_ema.copy_(p.lerp(p_ema, ema_beta))
        for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
            b_ema.copy_(b)
        cur_nimg += batch_size
        batch_idx += 1
        if ada_stats is not None and batch_idx % ada_interval == 0:
            ada_stats.update()
            adjust = (
                np.sign(ada_stats["Loss/signs/real"] - ada_target)
                * batch_size
                * ada_interval
                / (ada_kimg * 1000)
            )
            augment_pipe.p.copy_(
                (augment_pipe.p + adjust).max(misc.constant(0, device=device))
            )

        done = cur_nimg >= total_kimg * 1000
        if (
            not done
            and cur_tick != 0
            and cur_nimg < tick_start_nimg + kimg_per_tick * 1000
        ):
            continue
        training_stats.report0("Progress/kimg", cur_nimg / 1e3)
        snapshot_pkl = None
        if network_snapshot_ticks is not None and (
            done or cur_tick % network_snapshot_ticks == 0
        ):
            snapshot = dict(training_set_kwargs=dict(training_set_kwargs))
            for name, module in [
                ("G", G),
                ("D", D),
                ("G_ema", G_ema),
                ("augment_pipe", augment_pipe),
            ]:
                if module is not None:
                    module = copy.deepcopy(module).eval().requires_grad_(False).cpu()
                snapshot[name] = module
            snapshot_pkl = os.path.join(
                run_dir, f"network-snapshot-{cur_nimg // 1000:06d}.pkl"
            )
            if rank == 0:
                with open(snapshot_pkl, "wb") as f:
                    pickle.dump(snapshot, f)
        stats_collector.update()
        if stats_jsonl is not None:
            fields = dict(stats_collector.as_dict(), timestamp=time.time() - start_time)
            stats_jsonl.write(json.dumps(fields) + "\n")
            stats_jsonl.flush()
        cur_tick += 1
        tick_start_nimg = cur_nimg
        if done:
            break
    if stats_jsonl is not None:
        stats_jsonl.close()
