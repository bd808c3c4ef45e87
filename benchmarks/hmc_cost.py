"""What one latent-posterior HMC call costs, in generator gradient evaluations.

Times, for a DCGAN generator (batch 64, latent 100) in training mode with
BatchNorm statistics frozen as during PresGAN training:

- one evaluation: generator forward plus backward to the latent only;
- one full ``sample_latent_posterior`` call (burn-in 2, M 2, L 5 by default);

and prints their ratio against the floor of one evaluation per leapfrog step,
L x (burn-in + M) = 20. Run: ``python benchmarks/hmc_cost.py [--resolution 64]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from presgan_plugin.core import (
    HMCConfig,
    PrescribedGenerator,
    frozen_batch_statistics,
    make_log_joint_fn,
    record_batch_statistics,
    sample_latent_posterior,
)
from presgan_plugin.core.hmc import value_and_grad
from presgan_plugin.nets import DCGANGenerator


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=32, choices=(28, 32, 64))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--latent-dim", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--layout", default="sequential", choices=("sequential", "parallel")
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    net = DCGANGenerator(
        latent_dim=args.latent_dim, channels=1, resolution=args.resolution
    )
    shape = (1, args.resolution, args.resolution)
    generator = PrescribedGenerator(net, shape, args.latent_dim)
    latent = torch.randn(args.batch, args.latent_dim)
    with record_batch_statistics(generator) as batch_statistics:
        x = generator(latent).detach()
    sigma = generator.sigma.detach()
    config = HMCConfig(chain_layout=args.layout)
    step_size = torch.tensor(1.0 / args.latent_dim)
    log_prob_fn = make_log_joint_fn(generator.mean, x, sigma)

    with frozen_batch_statistics(generator, batch_statistics):
        per_evaluation = median_seconds(
            lambda: value_and_grad(log_prob_fn, latent), args.repeats * 4
        )
        per_call = median_seconds(
            lambda: sample_latent_posterior(
                generator.mean, x, latent, sigma, step_size, config
            ),
            args.repeats,
        )

    floor = config.num_leapfrog_steps * (
        config.num_burn_in + config.num_posterior_samples
    )
    print(
        f"DCGAN generator {args.resolution}px, batch {args.batch}, latent {args.latent_dim}, "
        f"{args.threads} threads, layout {args.layout}"
    )
    print(f"  forward+backward to latent : {per_evaluation * 1e3:8.2f} ms")
    print(f"  one HMC call               : {per_call * 1e3:8.2f} ms")
    print(
        f"  evaluations it costs       : {per_call / per_evaluation:8.2f} "
        f"(floor {floor}; {config.num_gradient_evaluations} counting the initial one)"
    )


if __name__ == "__main__":
    main()
