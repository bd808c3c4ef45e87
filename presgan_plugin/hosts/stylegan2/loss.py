"""The PresGAN loss for the StyleGAN2-ADA and StyleGAN3 training loops.

Named in ``loss_kwargs.class_name``, it replaces the host's ``StyleGAN2Loss``.
The host's generator is the mean mu(z) of p(x | z) = N(mu(z), diag(sigma^2)),
with sigma on ``G.synthesis`` (see :mod:`presgan_plugin.hosts.stylegan2.networks`).

- Gmain: x = mu(z) + sigma * noise; the non-saturating loss on D(x) minus
  ``entropy_weight`` times the entropy surrogate, whose score comes from HMC
  over z on the unwrapped modules (deterministic mu: constant layer noise,
  no style mixing, no w_avg update).
- Greg: the host's path-length penalty on mu, plus ``0 * sigma`` so that sigma
  has a gradient in every synced backward (DDP needs that).
- Dmain / Dreg: D sees fakes and reals with noise sigma * noise added (sigma
  detached); R1 is taken on the noised reals.

Host modules are imported when the loss is built, so this module imports
without a host on the path.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from presgan_plugin.core.entropy import entropy_surrogate
from presgan_plugin.core.losses import ENTROPY_WEIGHT
from presgan_plugin.core.posterior import sample_latent_posterior
from presgan_plugin.core.sampler import HMCConfig
from presgan_plugin.hosts.stylegan2.networks import (
    SIGMA_NAME,
    STEP_SIZE_NAME,
    sigma_of,
)

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")


def unwrap(module: Any) -> Any:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return getattr(module, "module", module)


def _mapping_no_update_kwargs(mapping: nn.Module) -> dict[str, bool]:
    """Keyword that stops a mapping network from updating its w_avg."""
    parameters = inspect.signature(unwrap(mapping).forward).parameters
    if "skip_w_avg_update" in parameters:
        return {"skip_w_avg_update": True}
    if "update_emas" in parameters:
        return {"update_emas": False}
    return {}


class PresGANLoss:
    """PresGAN objective for the host's phases (Gmain, Greg, Gboth, Dmain, Dreg, Dboth).

    Parameters
    ----------
    device
        The host's device.
    G_mapping, G_synthesis
        The generator's parts (StyleGAN2-ADA passes these, maybe DDP-wrapped).
    D
        The discriminator.
    augment_pipe
        The host's augmentation pipe, or None.
    G
        The whole generator (StyleGAN3 passes this instead of the parts).
    r1_gamma, pl_batch_shrink, pl_decay, pl_weight
        The host's R1 and path-length settings.
    style_mixing_prob
        Style mixing in the path-length phase only; the samples that enter
        the adversarial and entropy terms are never mixed.
    entropy_weight
        lambda of the entropy term.
    num_burn_in, num_posterior_samples, num_leapfrog_steps
        HMC settings (see :class:`presgan_plugin.core.sampler.HMCConfig`).
    target_accept_rate, adaptation_rate, chain_layout
        Step-size adaptation and chain layout.
    force_fp32
        Run G and D in float32; None: on any device but CUDA.
    **unused
        Other host loss options (e.g. StyleGAN3's blur settings), ignored.
    """

    def __init__(
        self,
        device: torch.device | str,
        G_mapping: nn.Module | None = None,
        G_synthesis: nn.Module | None = None,
        D: nn.Module | None = None,
        augment_pipe: nn.Module | None = None,
        G: nn.Module | None = None,
        *,
        r1_gamma: float = 10.0,
        pl_batch_shrink: int = 2,
        pl_decay: float = 0.01,
        pl_weight: float = 2.0,
        style_mixing_prob: float = 0.0,
        entropy_weight: float = ENTROPY_WEIGHT,
        num_burn_in: int = 2,
        num_posterior_samples: int = 2,
        num_leapfrog_steps: int = 5,
        target_accept_rate: float = 0.67,
        adaptation_rate: float = 0.02,
        chain_layout: str = "sequential",
        force_fp32: bool | None = None,
        **unused: Any,
    ) -> None:
        from torch_utils import misc, training_stats
        from torch_utils.ops import conv2d_gradfix

        if G is not None:
            G_mapping = getattr(G, "mapping", None)
            G_synthesis = getattr(G, "synthesis", None)
        if G_mapping is None or G_synthesis is None or D is None:
            raise TypeError(
                "PresGANLoss needs D and either G or both G_mapping and G_synthesis"
            )
        self.device = torch.device(device)
        self.G_mapping = G_mapping
        self.G_synthesis = G_synthesis
        self.D = D
        self.augment_pipe = augment_pipe
        self.r1_gamma = float(r1_gamma)
        self.pl_batch_shrink = int(pl_batch_shrink)
        self.pl_decay = float(pl_decay)
        self.pl_weight = float(pl_weight)
        self.style_mixing_prob = float(style_mixing_prob)
        self.entropy_weight = float(entropy_weight)
        self.hmc_config = HMCConfig(
            num_burn_in=num_burn_in,
            num_posterior_samples=num_posterior_samples,
            num_leapfrog_steps=num_leapfrog_steps,
            target_accept_rate=target_accept_rate,
            adaptation_rate=adaptation_rate,
            chain_layout=chain_layout,
        )
        if force_fp32 is None:
            force_fp32 = self.device.type != "cuda"
        self.force_fp32 = bool(force_fp32)
        self.pl_mean = torch.zeros([], device=self.device)
        self._misc = misc
        self._training_stats = training_stats
        self._no_weight_gradients: Callable[[], Any] = (
            conv2d_gradfix.no_weight_gradients
        )
        self._no_update = _mapping_no_update_kwargs(G_mapping)
        sigma_of(unwrap(G_synthesis))  # fails early with a clear message

    # Networks.

    @property
    def synthesis(self) -> nn.Module:
        """The synthesis network, unwrapped from DDP."""
        return unwrap(self.G_synthesis)

    @property
    def mapping(self) -> nn.Module:
        """The mapping network, unwrapped from DDP."""
        return unwrap(self.G_mapping)

    def sigma(self) -> torch.Tensor:
        """sigma ``[C or 1, H, W]``, in the graph."""
        return sigma_of(self.synthesis)

    def _sync(self, module: nn.Module, sync: bool) -> contextlib.AbstractContextManager:
        """The host's DDP sync context (a no-op without DDP)."""
        return self._misc.ddp_sync(module, sync)  # type: ignore[no-any-return]

    def _synthesis_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"noise_mode": "const"}
        if self.force_fp32:
            kwargs["force_fp32"] = True
        return kwargs

    def run_mean(
        self,
        z: torch.Tensor,
        c: torch.Tensor,
        sync: bool,
        *,
        update_w_avg: bool = True,
        style_mixing: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """mu(z, c) through the (possibly wrapped) modules; returns ``(mu, ws)``."""
        no_update = {} if update_w_avg else self._no_update
        with self._sync(self.G_mapping, sync):
            ws = self.G_mapping(z, c, **no_update)
            if style_mixing and self.style_mixing_prob > 0:
                cutoff = int(torch.randint(1, ws.shape[1], []).item())
                if float(torch.rand([])) < self.style_mixing_prob:
                    mixed = self.G_mapping(torch.randn_like(z), c, **self._no_update)
                    ws = torch.cat([ws[:, :cutoff], mixed[:, cutoff:]], dim=1)
        with self._sync(self.G_synthesis, sync):
            mean = self.G_synthesis(ws, **self._synthesis_kwargs())
        return mean.to(torch.float32), ws

    def mean_fn(self, c: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """``z -> mu(z, c)`` on the unwrapped modules, deterministic, for HMC."""
        mapping, synthesis = self.mapping, self.synthesis
        no_update = self._no_update
        synthesis_kwargs = self._synthesis_kwargs()

        def mean(latent: torch.Tensor) -> torch.Tensor:
            labels = c.repeat(latent.shape[0] // c.shape[0], 1)
            ws = mapping(latent, labels, **no_update)
            return synthesis(ws, **synthesis_kwargs).to(torch.float32)

        return mean

    def run_D(self, img: torch.Tensor, c: torch.Tensor, sync: bool) -> torch.Tensor:
        """D logits, after the augmentation pipe when there is one."""
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        kwargs = {"force_fp32": True} if self.force_fp32 else {}
        with self._sync(self.D, sync):
            logits = self.D(img, c, **kwargs)
        return logits  # type: ignore[no-any-return]

    # Entropy.

    def entropy_term(
        self, z: torch.Tensor, c: torch.Tensor, x: torch.Tensor
    ) -> torch.Tensor:
        """The entropy surrogate for fakes ``x`` made from ``z``; HMC over z."""
        synthesis = self.synthesis
        step_buffer = getattr(synthesis, STEP_SIZE_NAME)
        sigma = self.sigma().detach()
        posterior = sample_latent_posterior(
            self.mean_fn(c.detach()),
            x.detach(),
            z.detach(),
            sigma,
            step_buffer.detach().clone().to(torch.float32),
            self.hmc_config,
            grad_context=self._no_weight_gradients,
        )
        step_buffer.copy_(posterior.step_size.detach().reshape(step_buffer.shape))
        surrogate = entropy_surrogate(
            x, posterior.posterior_means, sigma, posterior.is_valid
        )
        report = self._training_stats.report
        report("PresGAN/entropy", surrogate.detach())
        report("PresGAN/accept_rate", posterior.accept_rate)
        report("PresGAN/step_size", posterior.step_size.detach().reshape(1))
        report("PresGAN/num_divergent", posterior.num_divergent.float())
        return surrogate

    # Phases.

    def accumulate_gradients(
        self,
        phase: str,
        real_img: torch.Tensor,
        real_c: torch.Tensor,
        gen_z: torch.Tensor,
        gen_c: torch.Tensor,
        sync: bool = True,
        gain: float = 1,
        cur_nimg: int = 0,
    ) -> None:
        """Accumulate the gradients of one phase over one round (the host's contract)."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}; got {phase!r}")
        do_Gmain = phase in ("Gmain", "Gboth")
        do_Dmain = phase in ("Dmain", "Dboth")
        do_Gpl = phase in ("Greg", "Gboth") and self.pl_weight != 0
        do_Dr1 = phase in ("Dreg", "Dboth") and self.r1_gamma != 0
        report = self._training_stats.report

        if do_Gmain:
            self._generator_main(gen_z, gen_c, sync and not do_Gpl, gain)
        if do_Gpl or phase == "Greg":
            self._generator_path_length(gen_z, gen_c, sync, gain, do_Gpl)

        loss_Dgen: torch.Tensor | float = 0.0
        if do_Dmain:
            with torch.no_grad():
                fake_mean, _ = self.run_mean(gen_z, gen_c, sync=False)
                fake = fake_mean + self.sigma() * torch.randn_like(fake_mean)
            fake_logits = self.run_D(fake, gen_c, sync=False)
            report("Loss/scores/fake", fake_logits)
            report("Loss/signs/fake", fake_logits.sign())
            loss_Dgen = F.softplus(fake_logits)
            loss_Dgen.mean().mul(gain).backward()

        if do_Dmain or do_Dr1:
            with torch.no_grad():
                noised = real_img + self.sigma() * torch.randn_like(real_img)
            real = noised.detach().requires_grad_(do_Dr1)
            real_logits = self.run_D(real, real_c, sync=sync)
            report("Loss/scores/real", real_logits)
            report("Loss/signs/real", real_logits.sign())
            loss_Dreal: torch.Tensor | float = 0.0
            if do_Dmain:
                loss_Dreal = F.softplus(-real_logits)
                report("Loss/D/loss", loss_Dgen + loss_Dreal)
            loss_Dr1: torch.Tensor | float = 0.0
            if do_Dr1:
                with self._no_weight_gradients():
                    (r1_grads,) = torch.autograd.grad(
                        [real_logits.sum()], [real], create_graph=True
                    )
                r1_penalty = r1_grads.square().sum([1, 2, 3])
                loss_Dr1 = r1_penalty * (self.r1_gamma / 2)
                report("Loss/r1_penalty", r1_penalty)
                report("Loss/D/reg", loss_Dr1)
            (real_logits * 0 + loss_Dreal + loss_Dr1).mean().mul(gain).backward()

    def _generator_main(
        self, gen_z: torch.Tensor, gen_c: torch.Tensor, sync: bool, gain: float
    ) -> None:
        """Adversarial loss on noised fakes minus lambda times the entropy surrogate."""
        report = self._training_stats.report
        mean, _ = self.run_mean(gen_z, gen_c, sync=sync)
        sigma = self.sigma()
        fake = mean + sigma * torch.randn_like(mean)
        fake_logits = self.run_D(fake, gen_c, sync=False)
        report("Loss/scores/fake", fake_logits)
        report("Loss/signs/fake", fake_logits.sign())
        loss_adversarial = F.softplus(-fake_logits)
        report("Loss/G/loss", loss_adversarial)
        loss = loss_adversarial.mean()
        if self.entropy_weight != 0:
            loss = loss - self.entropy_weight * self.entropy_term(gen_z, gen_c, fake)
        report("PresGAN/sigma_mean", sigma.detach().mean().reshape(1))
        loss.mul(gain).backward()

    def _generator_path_length(
        self,
        gen_z: torch.Tensor,
        gen_c: torch.Tensor,
        sync: bool,
        gain: float,
        do_Gpl: bool,
    ) -> None:
        """The host's path-length penalty on mu, with sigma kept in the backward."""
        sigma_touch = getattr(self.synthesis, SIGMA_NAME).sum() * 0
        if not do_Gpl:
            sigma_touch.mul(gain).backward()
            return
        report = self._training_stats.report
        batch_size = max(gen_z.shape[0] // self.pl_batch_shrink, 1)
        mean, ws = self.run_mean(
            gen_z[:batch_size], gen_c[:batch_size], sync=sync, style_mixing=True
        )
        pl_noise = torch.randn_like(mean) / np.sqrt(mean.shape[2] * mean.shape[3])
        with self._no_weight_gradients():
            (pl_grads,) = torch.autograd.grad(
                [(mean * pl_noise).sum()], [ws], create_graph=True
            )
        pl_lengths = pl_grads.square().sum(2).mean(1).sqrt()
        pl_mean = self.pl_mean.lerp(pl_lengths.mean(), self.pl_decay)
        self.pl_mean.copy_(pl_mean.detach())
        pl_penalty = (pl_lengths - pl_mean).square()
        report("Loss/pl_penalty", pl_penalty)
        loss_Gpl = pl_penalty * self.pl_weight
        report("Loss/G/reg", loss_Gpl)
        (mean[:, 0, 0, 0] * 0 + loss_Gpl + sigma_touch).mean().mul(gain).backward()
