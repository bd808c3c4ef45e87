"""Seconds per training iteration: plain GAN against PresGAN, same DCGAN nets.

One iteration is a D update and a G update (for the PresGAN: HMC over the
latents of the batch and the entropy term). MNIST at 64 px (and 32 px),
batch 64, latent 100, HMC burn-in 2, M 2, L 5, CPU with 2 threads by default.
Each configuration runs in its own process, so its peak memory (max RSS, or
the CUDA allocator's peak) is its own. Prints medians after warm-up and the
PresGAN/GAN ratio. Run: ``python benchmarks/step_time.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def time_one(model: str, resolution: int, args: argparse.Namespace) -> dict:
    """Runs inside a child process: time ``args.iters`` iterations of one model."""
    import torch

    from presgan_plugin.train.config import TrainConfig
    from presgan_plugin.train.loop import Trainer
    from presgan_plugin.train.stats import StatsReporter

    torch.set_num_threads(args.threads)
    config = TrainConfig(
        host="dcgan",
        model=model,
        dataset="mnist",
        resolution=resolution,
        batch_size=args.batch,
        latent_dim=100,
        device=args.device,
        outdir=tempfile.mkdtemp(),
    )
    trainer = Trainer(config, config.outdir)  # type: ignore[arg-type]
    stats = StatsReporter()
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        trainer.step(stats)
    times = []
    for _ in range(args.iters):
        sync()
        start = time.perf_counter()
        trainer.step(stats)
        sync()
        times.append(time.perf_counter() - start)
    if trainer.device.type == "cuda":
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"median_s": statistics.median(times), "peak_mib": peak_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", default="64,32")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "RESOLUTION"))
    args = parser.parse_args()

    if args.child:
        result = time_one(args.child[0], int(args.child[1]), args)
        print(json.dumps(result))
        return

    passthrough = [
        f"--batch={args.batch}",
        f"--threads={args.threads}",
        f"--warmup={args.warmup}",
        f"--iters={args.iters}",
        f"--device={args.device}",
    ]
    print(
        f"batch {args.batch}, latent 100, HMC burn-in 2, M 2, L 5, "
        f"{args.threads} threads, device {args.device}"
    )
    for resolution in (int(r) for r in args.resolutions.split(",")):
        results = {}
        for model in ("gan", "presgan"):
            output = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    *passthrough,
                    "--child",
                    model,
                    str(resolution),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[model] = json.loads(output.strip().splitlines()[-1])
        gan, presgan = results["gan"], results["presgan"]
        print(
            f"{resolution:3d} px  GAN {gan['median_s']:.3f} s/it ({gan['peak_mib']:.0f} MiB)"
            f"  PresGAN {presgan['median_s']:.3f} s/it ({presgan['peak_mib']:.0f} MiB)"
            f"  ratio {presgan['median_s'] / gan['median_s']:.2f}"
        )


if __name__ == "__main__":
    main()
