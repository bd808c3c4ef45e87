"""The built-in host's training loop: a PresGAN (or the plain GAN baseline).

One iteration reads as a recipe: draw a real batch and latents, run the
generator once, update D on noised reals and fakes, then update the mean
network and sigma on the adversarial loss minus the weighted entropy term.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from presgan_plugin.core import GANLoss, PrescribedGenerator, PresGANLoss
from presgan_plugin.data import build_dataset
from presgan_plugin.metrics import save_image_grid
from presgan_plugin.nets import build_networks
from presgan_plugin.train import distributed
from presgan_plugin.train.batches import BatchStream, dataset_to_tensor
from presgan_plugin.train.checkpoint import (
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    load_latest_checkpoint,
)
from presgan_plugin.train.config import TrainConfig, config_from_saved
from presgan_plugin.train.evaluate import EVAL_BATCH_SIZE, score_samples
from presgan_plugin.train.sampling import sample_means
from presgan_plugin.train.stats import StatsReporter, append_jsonl

LOG = logging.getLogger(__name__)

DEFAULT_EVAL_SAMPLES = 5_000  # checkpoint scoring of a run trained without scores
GRID_SIZE = 64  # fixed latents shown in each tick's sample grid
GRID_SEED_OFFSET = 7_919  # keeps the grid latents apart from training draws


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked."""


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but CUDA is not available")
    return device


def output_shape(config: TrainConfig, dataset: Any) -> tuple[int, ...]:
    """Shape of one generated sample."""
    if config.dataset == "ring":
        return (2,)
    return (dataset.channels, dataset.resolution, dataset.resolution)


def build_models(
    config: TrainConfig, output_shape: tuple[int, ...]
) -> tuple[nn.Module, nn.Module]:
    """A run's generator (a PrescribedGenerator for a PresGAN) and discriminator."""
    # The MLP takes channels * resolution**2 inputs: a 2-D point is (2, 1).
    channels = output_shape[0]
    resolution = output_shape[-1] if config.dataset != "ring" else 1
    mean_net, discriminator = build_networks(
        config.host,
        latent_dim=config.latent_dim,
        channels=channels,
        resolution=resolution,
        width=config.width,
    )
    if config.model == "gan":
        return mean_net, discriminator
    generator = PrescribedGenerator(
        mean_net,
        output_shape,
        config.latent_dim,
        sigma_min=config.sigma_min,
        sigma_max=config.sigma_max,
        sigma_init=config.sigma_init,
        share_sigma_across_channels=config.share_sigma_across_channels,
    )
    return generator, discriminator


class Trainer:
    """Holds the networks, optimisers, data stream and counters of one run."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path,
        *,
        dist_info: distributed.DistInfo | None = None,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.dist = dist_info or distributed.DistInfo()
        self.device = resolve_device(config.device)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        torch.manual_seed(config.seed)

        self.dataset = build_dataset(
            config.dataset,
            path=config.data,
            resolution=config.resolution if config.dataset != "ring" else None,
            num_samples=config.num_data_samples,
            imbalance_level=config.imbalance_level,
            seed=config.seed,
            ring_radius=config.ring_radius,
            ring_std=config.ring_std,
            ring_num_modes=config.ring_num_modes,
        )
        self.stream = BatchStream(
            dataset_to_tensor(self.dataset),
            config.batch_size,
            seed=config.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        self.output_shape = output_shape(config, self.dataset)
        self._build_models()
        self.iteration = 0
        self.cur_nimg = 0
        self.stop_requested = False
        # Each rank continues with its own random stream from here on.
        torch.manual_seed(config.seed * 1_000 + self.dist.rank)
        grid_generator = torch.Generator().manual_seed(config.seed + GRID_SEED_OFFSET)
        self.grid_latents = torch.randn(
            GRID_SIZE, config.latent_dim, generator=grid_generator
        )
        self.grid_noise = torch.randn(
            GRID_SIZE, *self.output_shape, generator=grid_generator
        )

    def _build_models(self) -> None:
        config = self.config
        generator, discriminator = build_models(config, self.output_shape)
        self.discriminator = discriminator.to(self.device)
        betas = (config.beta1, config.beta2)
        self.generator: nn.Module = generator.to(self.device)
        if isinstance(generator, PrescribedGenerator):
            prescribed = generator
            self.loss: GANLoss = PresGANLoss(
                prescribed,
                self.discriminator,
                adversarial=config.adversarial,
                entropy_weight=config.entropy_weight,
                hmc_config=config.hmc_config(),
                step_size=config.step_size,
            )
            sigma_params = [prescribed.sigma_unconstrained]
        else:
            self.loss = GANLoss(
                self.generator, self.discriminator, adversarial=config.adversarial
            )
            sigma_params = []
        mean_params = [
            p
            for n, p in self.generator.named_parameters()
            if n != "sigma_unconstrained"
        ]
        self.opt_generator = torch.optim.Adam(
            mean_params, lr=config.lr_generator, betas=betas
        )
        self.opt_sigma = (
            torch.optim.Adam(sigma_params, lr=config.lr_sigma, betas=betas)
            if sigma_params
            else None
        )
        self.opt_discriminator = torch.optim.Adam(
            self.discriminator.parameters(), lr=config.lr_discriminator, betas=betas
        )
        if self.dist.is_distributed:
            distributed.broadcast_parameters(self.generator)
            distributed.broadcast_parameters(self.discriminator)

    # ------------------------------------------------------------------ steps

    def step(self, stats: StatsReporter) -> None:
        """One iteration: a D update, then a G (and sigma) update."""
        config = self.config
        real = self.stream.next().to(self.device)
        latent = torch.randn(config.batch_size, config.latent_dim, device=self.device)
        fake = self.loss.generate(latent)

        # Update discriminator on noised reals and detached fakes.
        self.opt_discriminator.zero_grad(set_to_none=True)
        d_loss, d_stats = self.loss.discriminator_loss(real, fake)
        d_loss.backward()
        self._sync_gradients(self.discriminator)
        self.opt_discriminator.step()

        # Update generator: adversarial minus weighted entropy.
        self.opt_generator.zero_grad(set_to_none=True)
        if self.opt_sigma is not None:
            self.opt_sigma.zero_grad(set_to_none=True)
        self.discriminator.requires_grad_(False)
        g_loss, g_stats = self.loss.generator_loss(fake)
        g_loss.backward()
        self.discriminator.requires_grad_(True)
        self._sync_gradients(self.generator)
        self.opt_generator.step()
        if self.opt_sigma is not None:
            self.opt_sigma.step()
        self._sync_step_size()

        self.iteration += 1
        self.cur_nimg += config.batch_size * self.dist.world_size
        stats.report_dict(d_stats)
        stats.report_dict(g_stats)

    def _sync_gradients(self, module: nn.Module) -> None:
        if self.dist.is_distributed:
            distributed.average_gradients(module.parameters(), self.dist.world_size)

    def _sync_step_size(self) -> None:
        if self.dist.is_distributed and isinstance(self.loss, PresGANLoss):
            self.loss.step_size = distributed.average_tensor(
                self.loss.step_size, self.dist.world_size
            )

    # ------------------------------------------------------------ sampling

    def mean_fn(self, latent: torch.Tensor) -> torch.Tensor:
        """The generator's noise-free output."""
        return self.loss.mean(latent)

    def sample(self, num_samples: int, seed: int) -> torch.Tensor:
        """``num_samples`` means from latents drawn with ``seed``."""
        generator = torch.Generator().manual_seed(seed)
        latents = torch.randn(num_samples, self.config.latent_dim, generator=generator)
        return sample_means(
            self.mean_fn, self.generator, latents.to(self.device), EVAL_BATCH_SIZE
        ).cpu()

    def save_grid(self, path: Path) -> None:
        """Means of the fixed latents, and noisy samples beside them (PresGAN)."""
        if self.config.dataset == "ring":
            return
        means = sample_means(
            self.mean_fn, self.generator, self.grid_latents.to(self.device), GRID_SIZE
        ).cpu()
        if isinstance(self.generator, PrescribedGenerator):
            sigma = self.generator.sigma.detach().cpu()
            noisy = (means + sigma * self.grid_noise).clamp(-1, 1)
            images = torch.cat([means, noisy], dim=-1)  # side by side per cell
        else:
            images = means
        save_image_grid(images, path, nrow=8)

    # ---------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit."""
        state: dict[str, Any] = {
            "config": self.config.to_dict(),
            "iteration": self.iteration,
            "cur_nimg": self.cur_nimg,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_generator": self.opt_generator.state_dict(),
            "opt_discriminator": self.opt_discriminator.state_dict(),
            "stream": self.stream.state_dict(),
            "rng_cpu": torch.get_rng_state(),
        }
        if self.opt_sigma is not None:
            state["opt_sigma"] = self.opt_sigma.state_dict()
        if isinstance(self.loss, PresGANLoss):
            state["hmc_step_size"] = self.loss.step_size.cpu()
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        self.iteration = int(state["iteration"])
        self.cur_nimg = int(state["cur_nimg"])
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_generator.load_state_dict(state["opt_generator"])
        self.opt_discriminator.load_state_dict(state["opt_discriminator"])
        if self.opt_sigma is not None:
            self.opt_sigma.load_state_dict(state["opt_sigma"])
        if isinstance(self.loss, PresGANLoss):
            self.loss.step_size = state["hmc_step_size"].to(self.device)
        self.stream.load_state_dict(state["stream"])
        torch.set_rng_state(state["rng_cpu"])
        if self.device.type == "cuda" and "rng_cuda" in state:
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        if not self.dist.is_main:
            # Only rank 0's random state is saved; other ranks take fresh streams.
            torch.manual_seed(
                self.config.seed * 1_000 + self.dist.rank + 7 * self.iteration
            )

    def save_checkpoint(self) -> Path:
        """Write ``checkpoint-<iteration>.pt`` atomically (main process only)."""
        path = checkpoint_path(self.run_dir, self.iteration)
        if self.dist.is_main:
            atomic_torch_save(path, self.state_dict())
        return path

    # ---------------------------------------------------------------- loop

    def run(self, *, quiet: bool = False) -> dict[str, float]:
        """Train to the budget, writing ticks and checkpoints; return the scores."""
        config = self.config
        total = config.total_iters()
        stats = StatsReporter()
        show_progress = self.dist.is_main and not quiet and sys.stderr.isatty()
        bar = tqdm(
            total=total,
            initial=self.iteration,
            disable=not show_progress,
            unit="it",
            dynamic_ncols=True,
        )
        tick_start, tick_nimg = time.perf_counter(), self.cur_nimg
        num_ticks = self.iteration // config.tick_iters
        with _graceful_interrupt(self):
            while self.iteration < total and not self._should_stop():
                self.step(stats)
                bar.update(1)
                at_end = self.iteration == total
                if self.iteration % config.tick_iters != 0 and not at_end:
                    continue
                num_ticks += 1
                elapsed = time.perf_counter() - tick_start
                images_per_second = (self.cur_nimg - tick_nimg) / max(elapsed, 1e-9)
                record = self._tick(stats.summary(), images_per_second)
                bar.set_postfix(_postfix(record), refresh=False)
                if num_ticks % config.snapshot_ticks == 0 and not at_end:
                    self.save_checkpoint()
                tick_start, tick_nimg = time.perf_counter(), self.cur_nimg
        bar.close()
        self.save_checkpoint()
        if self.stop_requested:
            LOG.warning(
                "interrupted at iteration %d; checkpoint saved; continue with "
                "--resume %s",
                self.iteration,
                self.run_dir,
            )
            return {}
        return self.evaluate()

    def _should_stop(self) -> bool:
        """Whether any rank was interrupted (all ranks then stop together)."""
        if not self.dist.is_distributed:
            return self.stop_requested
        flag = torch.tensor([float(self.stop_requested)], device=self.device)
        self.stop_requested = bool(distributed.max_across_ranks(flag).item())
        return self.stop_requested

    def _tick(self, summary: dict[str, float], images_per_second: float) -> dict:
        record: dict[str, Any] = {
            "iteration": self.iteration,
            "kimg": self.cur_nimg / 1000,
            **summary,
            "Timing/images_per_second": images_per_second,
        }
        if self.dist.is_main:
            append_jsonl(self.run_dir / "stats.jsonl", record)
            self.save_grid(self.run_dir / f"samples-{self.iteration:08d}.png")
        return record

    def evaluate(self) -> dict[str, float]:
        """Score ``eval_samples`` generated samples; write ``scores.json``."""
        if not self.dist.is_main or self.config.eval_samples <= 0:
            return {}
        samples = self.sample(self.config.eval_samples, seed=self.config.seed + 1)
        scores = score_samples(
            self.config, samples, self.dataset, self.device, self.run_dir
        )
        scores = {"iteration": float(self.iteration), **scores}
        atomic_write_json(self.run_dir / "scores.json", scores)
        return scores


def _postfix(record: dict[str, Any]) -> dict[str, str]:
    keys = {
        "Loss/D": "D",
        "Loss/G": "G",
        "Sigma/mean": "sigma",
        "HMC/accept_rate": "accept",
    }
    return {short: f"{record[key]:.3g}" for key, short in keys.items() if key in record}


@contextlib.contextmanager
def _graceful_interrupt(trainer: Trainer) -> Iterator[None]:
    """First Ctrl-C: finish the iteration, save, exit. Second: stop at once."""
    if os.name == "nt":
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def new_run_dir(config: TrainConfig) -> Path:
    """``outdir/run_name`` for a new run; refuse one that holds checkpoints."""
    run_dir = Path(config.outdir) / (config.run_name or config.default_run_name())
    if run_dir.exists() and any(run_dir.glob("checkpoint-*.pt")):
        raise RunDirError(
            f"run directory {run_dir} already holds checkpoints; continue it with "
            f"--resume {run_dir}, or choose another --run-name or --outdir"
        )
    return run_dir


def trim_stats(path: Path, iteration: int) -> None:
    """Drop stats lines written after ``iteration`` (they will be redone)."""
    if not path.exists():
        return
    kept = [
        line
        for line in path.read_text().splitlines()
        if line.strip() and json.loads(line).get("iteration", 0) <= iteration
    ]
    atomic_write_bytes(path, ("\n".join(kept) + "\n").encode() if kept else b"")


def score_checkpoints(
    run_dir: Path, *, eval_samples: int | None = None
) -> list[dict[str, float]]:
    """Score every checkpoint of a run with the run's own rule and sample seed.

    The samples of each checkpoint come from latents drawn with ``seed + 1``,
    so the same run gives the same numbers every time. Writes
    ``checkpoint_scores.json`` in the run directory.
    """
    rows = []
    for path in list_checkpoints(run_dir):
        state = load_checkpoint(path)
        config = config_from_saved(state["config"])
        if eval_samples is None:
            # One count for every checkpoint: the run's own, if it scored at all.
            eval_samples = config.eval_samples or DEFAULT_EVAL_SAMPLES
        config.eval_samples = eval_samples
        trainer = Trainer(config, run_dir)
        trainer.load_state_dict(state)
        samples = trainer.sample(config.eval_samples, seed=config.seed + 1)
        scores = score_samples(config, samples, trainer.dataset, trainer.device)
        rows.append({"iteration": float(trainer.iteration), **scores})
    atomic_write_json(Path(run_dir) / "checkpoint_scores.json", rows)
    return rows


def train(
    config: TrainConfig, *, resume: Path | None = None, quiet: bool = False
) -> tuple[Path, dict[str, float] | None]:
    """Run the built-in host end to end.

    Returns the run directory and the scores, or None for the scores when the
    run was interrupted (its checkpoint is saved). Data and networks are
    built before anything is written, so bad input leaves no run directory.
    """
    device = resolve_device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    dist_info = distributed.init_distributed(device)
    try:
        if resume is not None:
            state = load_latest_checkpoint(resume)
            run_dir = Path(resume)
        else:
            state = None
            run_dir = new_run_dir(config)
        trainer = Trainer(config, run_dir, dist_info=dist_info)
        if dist_info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(run_dir / "config.json", config.to_dict())
        if state is not None:
            trainer.load_state_dict(state)
            if dist_info.is_main:
                trim_stats(run_dir / "stats.jsonl", trainer.iteration)
        scores = trainer.run(quiet=quiet)
    finally:
        distributed.cleanup()
    return run_dir, None if trainer.stop_requested else scores
