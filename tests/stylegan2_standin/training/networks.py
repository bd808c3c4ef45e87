"""Stand-in networks: tiny, with the host's constructor and forward signatures."""

import torch
import torch.nn.functional as F
from torch_utils import persistence


@persistence.persistent_class
class MappingNetwork(torch.nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=2, w_avg_beta=0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        if c_dim > 0:
            self.embed = torch.nn.Linear(c_dim, w_dim)
        for index in range(num_layers):
            width = z_dim + (w_dim if c_dim > 0 else 0) if index == 0 else w_dim
            setattr(self, f"fc{index}", torch.nn.Linear(width, w_dim))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self, z, c, truncation_psi=1, truncation_cutoff=None, skip_w_avg_update=False
    ):
        x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        if self.c_dim > 0:
            x = torch.cat([x, self.embed(c.to(torch.float32))], dim=1)
        for index in range(self.num_layers):
            x = F.leaky_relu(getattr(self, f"fc{index}")(x), 0.2)
        if self.training and not skip_w_avg_update:
            self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return x.unsqueeze(1).repeat([1, self.num_ws, 1])


@persistence.persistent_class
class SynthesisNetwork(torch.nn.Module):
    def __init__(self, w_dim, img_resolution, img_channels, channels=8, num_fp16_res=0):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = (
            w_dim,
            img_resolution,
            img_channels,
        )
        self.num_ws, self.num_fp16_res = 2, num_fp16_res
        self.const = torch.nn.Parameter(torch.randn([channels, 4, 4]))
        self.affine0 = torch.nn.Linear(w_dim, channels)
        self.conv0 = torch.nn.Conv2d(channels, channels, 3, padding=1)
        self.affine1 = torch.nn.Linear(w_dim, channels)
        self.noise_strength = torch.nn.Parameter(torch.full([], 0.1))
        self.register_buffer(
            "noise_const", torch.randn([img_resolution, img_resolution])
        )
        self.torgb = torch.nn.Conv2d(channels, img_channels, 1)

    def forward(self, ws, noise_mode="random", force_fp32=False):
        dtype = (
            torch.float16 if self.num_fp16_res > 0 and not force_fp32 else torch.float32
        )
        x = self.const.unsqueeze(0) * (1 + self.affine0(ws[:, 0])[:, :, None, None])
        x = F.leaky_relu(self.conv0(x.to(dtype)).to(torch.float32), 0.2)
        x = F.interpolate(x, size=self.img_resolution, mode="nearest")
        if noise_mode == "random":
            x = x + self.noise_strength * torch.randn_like(x[:, :1])
        elif noise_mode == "const":
            x = x + self.noise_strength * self.noise_const
        x = x * (1 + self.affine1(ws[:, 1])[:, :, None, None])
        return self.torgb(x)


@persistence.persistent_class
class Generator(torch.nn.Module):
    def __init__(
        self,
        z_dim,
        c_dim,
        w_dim,
        img_resolution,
        img_channels,
        mapping_kwargs=None,
        synthesis_kwargs=None,
    ):
        super().__init__()
        mapping_kwargs, synthesis_kwargs = mapping_kwargs or {}, synthesis_kwargs or {}
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(
            w_dim, img_resolution, img_channels, **synthesis_kwargs
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim, c_dim, w_dim, self.num_ws, **mapping_kwargs
        )

    def forward(
        self, z, c, truncation_psi=1, truncation_cutoff=None, **synthesis_kwargs
    ):
        ws = self.mapping(z, c, truncation_psi=truncation_psi)
        return self.synthesis(ws, **synthesis_kwargs)


@persistence.persistent_class
class Discriminator(torch.nn.Module):
    def __init__(self, c_dim, img_resolution, img_channels, channels=8, num_fp16_res=0):
        super().__init__()
        self.c_dim, self.img_resolution, self.img_channels = (
            c_dim,
            img_resolution,
            img_channels,
        )
        self.conv = torch.nn.Conv2d(img_channels, channels, 3, stride=2, padding=1)
        self.out = torch.nn.Linear(channels * (img_resolution // 2) ** 2, 1)
        if c_dim > 0:
            self.embed = torch.nn.Linear(c_dim, 1)

    def forward(self, img, c, force_fp32=False):
        x = F.leaky_relu(self.conv(img.to(torch.float32)), 0.2)
        logits = self.out(x.flatten(1))
        if self.c_dim > 0:
            logits = logits + self.embed(c.to(torch.float32))
        return logits
