"""The StyleGAN2-ADA host adapter, against a real checkout or the stand-in.

With ``PRESGAN_STYLEGAN2_DIR`` pointing at a StyleGAN2-ADA checkout the tests
use it; otherwise they use ``tests/stylegan2_standin``. The end-to-end run of
the host loop takes minutes with a real checkout, so there it runs only when
``PRESGAN_STYLEGAN2_E2E=1``.
"""

from __future__ import annotations

import copy
import gc
import io
import itertools
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import click
import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner
from presgan_plugin.patches import stylegan as patches

from presgan_plugin.core.sigma import sigma_from_unconstrained, sigma_to_unconstrained
from presgan_plugin.hosts.stylegan2 import StyleGAN2Host, checkout, run
from presgan_plugin.hosts.stylegan2 import resume as resume_lib
from presgan_plugin.hosts.stylegan2.networks import (
    add_sigma,
    is_sigma_parameter,
    make_generator,
    make_optimizer,
    sigma_of,
)

STANDIN = Path(__file__).parent / "stylegan2_standin"
REAL_HOST = os.environ.get(checkout.ENV_VAR)
HOST_DIR = Path(REAL_HOST) if REAL_HOST else STANDIN
checkout.use_host(HOST_DIR)
patches.install_pkg_resources_stub()

import dnnlib  # noqa: E402
from torch_utils import training_stats  # noqa: E402

from presgan_plugin.hosts.stylegan2.loss import PHASES, PresGANLoss  # noqa: E402

RESOLUTION = 16
Z_DIM = 16


def network_kwargs() -> tuple[dict, dict]:
    """Tiny G and D constructor kwargs for the host in use."""
    if REAL_HOST:
        G = dict(
            z_dim=Z_DIM,
            w_dim=Z_DIM,
            mapping_kwargs=dict(num_layers=2),
            synthesis_kwargs=dict(channel_base=256, channel_max=16, num_fp16_res=1),
        )
        D = dict(channel_base=256, channel_max=16, num_fp16_res=1)
    else:
        G = dict(z_dim=Z_DIM, w_dim=Z_DIM, synthesis_kwargs=dict(num_fp16_res=1))
        D = dict(num_fp16_res=1)
    return G, D


def build_networks(channels: int = 3, **sigma_kwargs):
    G_kwargs, D_kwargs = network_kwargs()
    common = dict(c_dim=0, img_resolution=RESOLUTION, img_channels=channels)
    G = make_generator(**sigma_kwargs, **G_kwargs, **common).train()
    D = dnnlib.util.construct_class_by_name(
        class_name="training.networks.Discriminator", **D_kwargs, **common
    ).train()
    return G.requires_grad_(False), D.requires_grad_(False)


def write_zip(path: Path, resolution: int, mode: str = "RGB", count: int = 8) -> Path:
    rng = np.random.RandomState(0)
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(count):
            shape = (resolution, resolution) + ((3,) if mode == "RGB" else ())
            array = rng.randint(0, 255, shape).astype(np.uint8)
            buffer = io.BytesIO()
            PIL.Image.fromarray(array, mode).save(buffer, "png")
            archive.writestr(f"{index:05d}.png", buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny host pickle without sigma, and datasets that fit it or do not."""
    folder = tmp_path_factory.mktemp("stylegan2")
    torch.manual_seed(0)
    G_kwargs, D_kwargs = network_kwargs()
    common = dict(c_dim=0, img_resolution=RESOLUTION, img_channels=3)
    G = dnnlib.util.construct_class_by_name(
        class_name="training.networks.Generator", **G_kwargs, **common
    ).eval()
    D = dnnlib.util.construct_class_by_name(
        class_name="training.networks.Discriminator", **D_kwargs, **common
    ).eval()
    data = dict(G=G, D=D, G_ema=copy.deepcopy(G), augment_pipe=None)
    with open(folder / "tiny.pkl", "wb") as file:
        pickle.dump(data, file)
    return {
        "pkl": folder / "tiny.pkl",
        "data": write_zip(folder / "tiny.zip", RESOLUTION),
        "small": write_zip(folder / "small.zip", RESOLUTION // 2),
        "gray": write_zip(folder / "gray.zip", RESOLUTION, mode="L"),
        "folder": folder,
    }


def options(files: dict[str, Path], outdir: Path, **overrides) -> dict:
    """The command's options, as click would pass them, for a CPU run."""
    command = StyleGAN2Host().command()
    context = command.make_context(
        "stylegan2",
        [
            "--resume",
            str(files["pkl"]),
            "--data",
            str(files["data"]),
            "--outdir",
            str(outdir),
            "--host-dir",
            str(HOST_DIR),
            "--cpu",
            "--kimg",
            "0.008",
            "--tick",
            "0.004",
            "--aug",
            "noaug",
            "--batch",
            "4",
            "--batch-gpu",
            "2",
            "--num-burn-in",
            "1",
            "--num-posterior-samples",
            "1",
            "--num-leapfrog-steps",
            "2",
        ],  # fmt: skip
    )
    return {**context.params, **overrides}


def test_generator_carries_sigma_and_step_size() -> None:
    G, _ = build_networks(sigma_init=0.2, sigma_min=0.01, sigma_max=0.3)
    sigma = G.synthesis.sigma_unconstrained
    assert isinstance(sigma, torch.nn.Parameter)
    assert tuple(sigma.shape) == (3, RESOLUTION, RESOLUTION)
    assert is_sigma_parameter(sigma)
    assert torch.allclose(sigma_of(G.synthesis), torch.full_like(sigma, 0.2))
    assert float(G.synthesis.hmc_step_size) == pytest.approx(1.0 / Z_DIM)
    assert any(p is sigma for p in G.parameters())
    G_ema = copy.deepcopy(G)
    assert torch.equal(G_ema.synthesis.sigma_unconstrained, sigma)
    names = [name for name, _ in G.named_parameters()]
    assert names == [name for name, _ in G_ema.named_parameters()]
    assert "synthesis.sigma_unconstrained" in names
    restored = pickle.loads(pickle.dumps(G))
    assert torch.equal(restored.synthesis.sigma_unconstrained, sigma)
    shared, _ = build_networks(share_sigma_across_channels=True)
    assert tuple(shared.synthesis.sigma_unconstrained.shape) == (1, 16, 16)


def test_optimizer_factory_both_host_paths_float_betas() -> None:
    G, _ = build_networks()
    sigma = G.synthesis.sigma_unconstrained
    # Lazy regularisation: params positionally, lr and betas already scaled.
    lazy = make_optimizer(
        G.parameters(), lr=0.002, betas=[0, 0.99**0.8], sigma_lr=0.01, base_lr=0.0025
    )
    # No lazy regularisation: params by keyword, integer beta as given by users.
    both = make_optimizer(params=G.parameters(), lr=0.0025, betas=[0, 0.99])
    for optimizer in (lazy, both):
        assert all(type(b) is float for g in optimizer.param_groups for b in g["betas"])
        assert [len(g["params"]) for g in optimizer.param_groups][1] == 1
        assert optimizer.param_groups[1]["params"][0] is sigma
    assert lazy.param_groups[0]["betas"] == (0.0, 0.99**0.8)
    assert lazy.param_groups[1]["lr"] == pytest.approx(0.01 * 0.002 / 0.0025)
    assert both.param_groups[1]["lr"] == 0.0025
    with pytest.raises(TypeError, match="positionally or as params"):
        make_optimizer(G.parameters(), params=G.parameters(), lr=0.1)


def _collect(collector, names: list[str]) -> dict[str, float]:
    collector.update()
    return {name: collector.mean(name) for name in names}


@pytest.mark.parametrize("phase", PHASES)
def test_every_loss_phase_on_cpu(phase: str) -> None:
    torch.manual_seed(1)
    G, D = build_networks()
    loss = PresGANLoss(
        torch.device("cpu"),
        G_mapping=G.mapping,
        G_synthesis=G.synthesis,
        D=D,
        r1_gamma=1.0,
        pl_batch_shrink=2,
        num_burn_in=1,
        num_posterior_samples=1,
        num_leapfrog_steps=2,
    )
    assert loss.force_fp32
    module = G if phase.startswith("G") else D
    module.requires_grad_(True)
    step_before = float(G.synthesis.hmc_step_size)
    collector = training_stats.Collector(regex=".*")  # counts from here on
    real = torch.rand(4, 3, RESOLUTION, RESOLUTION) * 2 - 1
    loss.accumulate_gradients(
        phase=phase,
        real_img=real,
        real_c=torch.zeros(4, 0),
        gen_z=torch.randn(4, Z_DIM),
        gen_c=torch.zeros(4, 0),
        sync=True,
        gain=1,
    )
    grads = {name: p.grad for name, p in module.named_parameters()}
    assert all(g is None or torch.isfinite(g).all() for g in grads.values())
    stats = _collect(
        collector, ["Loss/signs/real", "PresGAN/entropy", "PresGAN/sigma_mean"]
    )
    if phase.startswith("G"):
        sigma_grad = grads["synthesis.sigma_unconstrained"]
        assert sigma_grad is not None  # every synced G backward reaches sigma
        assert all(p.grad is None for p in D.parameters())
        if phase in ("Gmain", "Gboth"):
            assert sigma_grad.abs().sum() > 0
            assert np.isfinite(stats["PresGAN/entropy"])
            assert stats["PresGAN/sigma_mean"] == pytest.approx(0.29, abs=1e-6)
            assert float(G.synthesis.hmc_step_size) != step_before
        else:
            assert torch.count_nonzero(sigma_grad) == 0
    else:
        assert sum(int(g is not None and g.abs().sum() > 0) for g in grads.values()) > 0
        assert all(p.grad is None for p in G.parameters())
        assert -1.0 <= stats["Loss/signs/real"] <= 1.0  # reported, so ADA is fed
        assert float(G.synthesis.hmc_step_size) == step_before


def test_loss_accepts_stylegan3_keywords() -> None:
    torch.manual_seed(2)
    G, D = build_networks()
    loss = PresGANLoss(device="cpu", G=G, D=D, augment_pipe=None, blur_init_sigma=0)
    G.requires_grad_(True)
    loss.accumulate_gradients(
        phase="Gboth",
        real_img=torch.zeros(2, 3, RESOLUTION, RESOLUTION),
        real_c=torch.zeros(2, 0),
        gen_z=torch.randn(2, Z_DIM),
        gen_c=torch.zeros(2, 0),
        gain=1,
        cur_nimg=0,
    )
    assert G.synthesis.sigma_unconstrained.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="phase must be one of"):
        loss.accumulate_gradients("Gpl", *[torch.zeros(1)] * 4)


def test_loss_needs_sigma_on_the_generator() -> None:
    G, D = build_networks()
    del G.synthesis.sigma_unconstrained
    with pytest.raises(ValueError, match="make_generator"):
        PresGANLoss("cpu", G=G, D=D)


STOCK_LOADER = textwrap.dedent(
    """
    import importlib.abc, json, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "presgan_plugin":
                raise ImportError("presgan_plugin is not installed here")
    sys.meta_path.insert(0, Block())
    sys.path.insert(0, sys.argv[1])
    import legacy
    with open(sys.argv[2], "rb") as file:
        data = legacy.load_network_pkl(file)
    out = {k: data[k].synthesis.sigma_unconstrained.flatten()[:4].tolist()
           for k in ("G", "G_ema")}
    out["step"] = float(data["G"].synthesis.hmc_step_size)
    out["bounds"] = [data["G"].synthesis.presgan_sigma_min,
                     data["G"].synthesis.presgan_sigma_max]
    out["plugin"] = any(m.startswith("presgan_plugin") for m in sys.modules)
    print(json.dumps(out))
    """
)


def load_with_stock_host(snapshot: Path) -> dict:
    """Load ``snapshot`` in a fresh python that has the host but no presgan_plugin."""
    result = subprocess.run(
        [sys.executable, "-c", STOCK_LOADER, str(HOST_DIR), str(snapshot)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=snapshot.parent,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained_run(files: dict[str, Path]) -> Path:
    """Two iterations of the host's own loop on CPU, resumed from a sigma-less pickle."""
    if REAL_HOST and not os.environ.get("PRESGAN_STYLEGAN2_E2E"):
        pytest.skip("set PRESGAN_STYLEGAN2_E2E=1 for the minutes-long real-host run")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        # The host's loop leaves its stats.jsonl open when it returns.
        warnings.simplefilter("ignore", ResourceWarning)
        run_dir = run(options(files, files["folder"] / "runs", sigma_lr=0.05))
        gc.collect()
    assert run_dir is not None
    return run_dir


def test_host_loop_writes_snapshot_with_sigma(trained_run: Path) -> None:
    snapshots = sorted(trained_run.glob("network-snapshot-*.pkl"))
    assert snapshots
    loaded = load_with_stock_host(snapshots[-1])
    assert loaded["plugin"] is False
    initial = sigma_to_unconstrained(0.29, 0.01, 0.3)
    assert loaded["G"] != pytest.approx([initial] * 4, abs=1e-7)  # sigma trained
    assert loaded["G_ema"] != loaded["G"]  # and EMA-smoothed
    assert loaded["G_ema"] == pytest.approx([initial] * 4, abs=1e-3)
    assert loaded["bounds"] == [0.01, 0.3]
    assert 0 < loaded["step"] != pytest.approx(1.0 / Z_DIM)
    lines = (trained_run / "stats.jsonl").read_text().splitlines()
    stats = [json.loads(line) for line in lines]
    names = set().union(*stats)
    for name in ("PresGAN/entropy", "PresGAN/sigma_mean", "PresGAN/accept_rate"):
        assert name in names
    options_json = json.loads((trained_run / "training_options.json").read_text())
    assert options_json["loss_kwargs"]["class_name"].endswith("loss.PresGANLoss")
    assert options_json["G_opt_kwargs"]["betas"] == [0.0, 0.99]


def test_resume_from_presgan_snapshot_keeps_sigma(
    trained_run: Path, files: dict[str, Path]
) -> None:
    snapshot = sorted(trained_run.glob("network-snapshot-*.pkl"))[-1]
    data = resume_lib.load_network(snapshot)
    assert json.loads(resume_lib.describe(data))["has_sigma"] is True
    resume_lib.check_data_matches(files["data"], snapshot, data["G"], False)
    with pytest.raises(ValueError, match=r"sigma of shape \[3, 16, 16\]"):
        resume_lib.check_data_matches(files["data"], snapshot, data["G"], True)


def test_truncated_snapshot_names_file_and_last_intact(
    trained_run: Path, tmp_path: Path
) -> None:
    good = sorted(trained_run.glob("network-snapshot-*.pkl"))[-1]
    intact = tmp_path / "network-snapshot-000000.pkl"
    intact.write_bytes(good.read_bytes())
    cut = tmp_path / "network-snapshot-000004.pkl"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError) as error:
        resume_lib.load_network(cut)
    message = str(error.value)
    assert str(cut) in message and "damaged or cut short" in message
    assert f"last intact snapshot, {intact}" in message


def test_bad_pickle_is_a_usage_error(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(files["pkl"].read_bytes()[:100])
    with pytest.raises(click.UsageError, match=f"--resume {bad}: not a loadable"):
        run(options(files, tmp_path, resume=str(bad)))
    assert not any(tmp_path.glob("0*"))  # stopped before making a run folder


def test_resolution_mismatch_names_both_files(
    files: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(click.UsageError) as error:
        run(options(files, tmp_path, data=files["small"]))
    message = error.value.message
    assert str(files["small"]) in message and str(files["pkl"]) in message
    assert "8x8 images" in message and "is 16x16" in message
    assert "--width=16 --height=16" in message


def test_channel_mismatch_names_both_counts(
    files: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(click.UsageError) as error:
        run(options(files, tmp_path, data=files["gray"]))
    message = error.value.message
    assert "1-channel images" in message and "3-channel images" in message
    assert "convert('RGB')" in message and str(files["gray"]) in message


def test_missing_host_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(checkout.HostNotFoundError, match="no such directory"):
        checkout.find_host_dir(tmp_path / "absent")
    with pytest.raises(checkout.HostNotFoundError, match="missing dnnlib, torch_utils"):
        checkout.find_host_dir(tmp_path)
    monkeypatch.delenv(checkout.ENV_VAR, raising=False)
    monkeypatch.setattr(checkout.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(checkout.HostNotFoundError) as error:
        checkout.find_host_dir(None)
    message = str(error.value)
    assert "--host-dir (not given)" in message
    assert f"${checkout.ENV_VAR} (not set)" in message
    assert "importable 'dnnlib'" in message


def test_missing_host_dir_on_the_command_line(
    files: dict[str, Path], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        StyleGAN2Host().command(),
        ["--resume", str(files["pkl"]), "--data", str(files["data"]),
         "--outdir", str(tmp_path), "--host-dir", str(tmp_path / "nowhere")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"--host-dir {tmp_path / 'nowhere'}: no such directory" in result.output


def test_config_file_and_dry_run(files: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"entropy_weight": 0.05, "kimg": 3, "gamma": 2.0}))
    args = ["--config", str(config), "--resume", str(files["pkl"]), "--data",
            str(files["data"]), "--outdir", str(tmp_path), "--host-dir",
            str(HOST_DIR), "--cpu", "--gamma", "1.5", "--dry-run"]  # fmt: skip
    result = CliRunner().invoke(StyleGAN2Host().command(), args)
    assert result.exit_code == 0, result.output
    resolved = json.loads(result.output[result.output.index("{") :])
    training = resolved["training_args"]
    assert training["loss_kwargs"]["entropy_weight"] == 0.05
    assert training["loss_kwargs"]["r1_gamma"] == 1.5  # the command line wins
    assert training["total_kimg"] == 3
    assert training["G_kwargs"]["synthesis_kwargs"]["num_fp16_res"] == 0  # F4
    assert training["D_kwargs"]["num_fp16_res"] == 0
    assert not any(tmp_path.glob("0*"))
    config.write_text(json.dumps({"entropy_wieght": 0.05}))
    result = CliRunner().invoke(StyleGAN2Host().command(), args)
    assert result.exit_code == 2 and "unknown option(s) entropy_wieght" in result.output


def test_url_from_unlisted_host_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--allow-host example.org"):
        resume_lib.resolve("https://example.org/net.pkl", tmp_path)
    url = "https://nvlabs-fi-cdn.nvidia.com/x/ffhq.pkl"
    cached = resume_lib.cached_path(url, tmp_path)
    cached.write_bytes(b"cached")  # already downloaded: no network
    assert resume_lib.resolve(url, tmp_path) == cached
    assert cached.name.endswith("_ffhq.pkl")


def test_patches_fix_sampler_betas_and_prefetch() -> None:
    from torch_utils import misc

    patches.fix_infinite_sampler_init(misc)
    patches.fix_infinite_sampler_init(misc)  # idempotent
    sampler = misc.InfiniteSampler(dataset=list(range(5)), seed=3)
    order = [int(i) for i in itertools.islice(iter(sampler), 10)]
    assert sorted(order[:5]) == [0, 1, 2, 3, 4]  # one pass visits every item once
    assert patches.float_betas({"betas": [0, 1]})["betas"] == [0.0, 1.0]
    loader = patches.drop_prefetch_without_workers
    assert loader({"num_workers": 0, "prefetch_factor": 2}) == {"num_workers": 0}
    assert loader({"num_workers": 2, "prefetch_factor": 2})["prefetch_factor"] == 2


def test_add_sigma_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError, match="sigma_init=0.5"):
        add_sigma(torch.nn.Module(), (3, 4, 4), sigma_init=0.5)
    value = sigma_from_unconstrained(torch.tensor(0.0), 0.01, 0.3)
    assert float(value) == pytest.approx(0.155)


# ------------------------------------------------- loading pickles to compare


def write_pickle(path: Path, G: torch.nn.Module, D: torch.nn.Module) -> Path:
    data = dict(G=G, D=D, G_ema=copy.deepcopy(G).eval(), augment_pipe=None)
    with open(path, "wb") as file:
        pickle.dump(data, file)
    return path


@pytest.fixture(scope="module")
def pickles(files: dict[str, Path]) -> dict[str, Path]:
    """A PresGAN snapshot (sigma 0.2, in a run folder) and a conditional pickle."""
    torch.manual_seed(3)
    G, D = build_networks(sigma_init=0.2, sigma_min=0.01, sigma_max=0.3)
    run_dir = files["folder"] / "00007-presgan-tiny"
    run_dir.mkdir()
    G_kwargs, D_kwargs = network_kwargs()
    common = dict(c_dim=2, img_resolution=RESOLUTION, img_channels=3)
    conditional = [
        dnnlib.util.construct_class_by_name(
            class_name=f"training.networks.{name}", **kwargs, **common
        )
        for name, kwargs in (("Generator", G_kwargs), ("Discriminator", D_kwargs))
    ]
    return {
        "snapshot": write_pickle(run_dir / "network-snapshot-000004.pkl", G, D),
        "conditional": write_pickle(files["folder"] / "cond.pkl", *conditional),
    }


@pytest.fixture
def host_on_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """presgan-compare has no ``--host-dir``: the checkout comes from the environment."""
    monkeypatch.setenv(checkout.ENV_VAR, str(HOST_DIR))


def test_plain_pickle_loads_as_mean_without_density(
    files: dict[str, Path], host_on_env: None
) -> None:
    from presgan_plugin.hosts.stylegan2 import load_generator

    loaded = load_generator(files["pkl"])
    assert (loaded.name, loaded.kind, loaded.sigma) == ("tiny", "stylegan2-pkl", None)
    assert not loaded.has_density
    assert (loaded.latent_dim, loaded.output_shape) == (Z_DIM, (3, 16, 16))
    latent = torch.randn(3, Z_DIM, generator=torch.Generator().manual_seed(0))
    with open(files["pkl"], "rb") as file:
        G_ema = pickle.load(file)["G_ema"].eval()
    with torch.no_grad():
        mean = loaded.mean_fn(latent)
        expected = G_ema(latent, torch.zeros(3, 0), noise_mode="const", force_fp32=True)
        alone = torch.cat([loaded.mean_fn(z[None]) for z in latent])
    assert mean.shape == (3, 3, 16, 16) and mean.dtype == torch.float32
    assert torch.equal(mean, loaded.mean_fn(latent))  # deterministic
    assert torch.allclose(mean, expected, atol=1e-6)
    assert torch.allclose(mean, alone, atol=1e-5)  # per sample
    latent.requires_grad_(True)
    (grad,) = torch.autograd.grad(loaded.mean_fn(latent).square().sum(), [latent])
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loaded.info["module"].parameters())


def test_presgan_snapshot_loads_with_its_sigma(
    pickles: dict[str, Path], host_on_env: None
) -> None:
    from presgan_plugin.generators import load_generator

    loaded = load_generator(pickles["snapshot"])  # through the compare registry
    assert loaded.name == "00007-presgan-tiny-network-snapshot-000004"
    assert loaded.kind == "stylegan2-pkl" and loaded.has_density
    assert loaded.sigma is not None and loaded.sigma.shape == (3, 16, 16)
    assert torch.allclose(loaded.sigma, torch.full((3, 16, 16), 0.2), atol=1e-6)
    assert loaded.info["has_sigma"] is True


def test_conditional_pickle_is_not_implemented(
    pickles: dict[str, Path], host_on_env: None
) -> None:
    from presgan_plugin.generators import GeneratorLoadError
    from presgan_plugin.hosts.stylegan2 import load_generator

    with pytest.raises(NotImplementedError) as error:
        load_generator(pickles["conditional"])
    assert isinstance(error.value, GeneratorLoadError)  # a usage error in the CLI
    message = str(error.value)
    assert "c_dim=2" in message and str(pickles["conditional"]) in message
    assert "class-conditional pickles are not supported yet" in message


def test_pickle_loading_errors_name_the_file_and_fix(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from presgan_plugin.generators import GeneratorLoadError
    from presgan_plugin.hosts.stylegan2 import load_generator

    monkeypatch.setenv(checkout.ENV_VAR, str(HOST_DIR))
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(files["pkl"].read_bytes()[:200])
    with pytest.raises(GeneratorLoadError, match=f"generator {cut}: the stylegan2"):
        load_generator(cut)
    with pytest.raises(GeneratorLoadError, match="no such file"):
        load_generator(tmp_path / "absent.pkl")
    monkeypatch.setitem(sys.modules, "requests", None)
    with pytest.raises(GeneratorLoadError, match="Fix: pip install requests$"):
        load_generator(files["pkl"])
    monkeypatch.delitem(sys.modules, "requests")
    monkeypatch.delenv(checkout.ENV_VAR)
    monkeypatch.setattr(checkout.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GeneratorLoadError) as error:
        load_generator(files["pkl"])
    message = str(error.value)
    assert "stylegan2 host" in message and f"{checkout.ENV_VAR}=PATH" in message


def test_compare_table_shows_density_only_for_the_snapshot(
    files: dict[str, Path],
    pickles: dict[str, Path],
    tmp_path: Path,
    host_on_env: None,
) -> None:
    from presgan_plugin.cli.compare import NO_DENSITY, main

    outdir = tmp_path / "compare"
    args = [str(files["pkl"]), str(pickles["snapshot"]), "--data", str(files["data"]),
            "--metrics", "loglik", "--num-samples", "4", "--loglik-images", "2",
            "--importance-samples", "8", "--device", "cpu", "--outdir", str(outdir),
            "--json", "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["generators"]
    plain, snapshot = rows["tiny"], rows["00007-presgan-tiny-network-snapshot-000004"]
    assert plain["kind"] == snapshot["kind"] == "stylegan2-pkl"
    assert plain["loglik_nats"] == NO_DENSITY
    assert np.isfinite(snapshot["loglik_nats"]) and snapshot["loglik_images"] == 2
    assert (outdir / "sheet-all.png").is_file()


def test_missing_psutil_stops_training_at_start_up(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)
    result = CliRunner().invoke(
        StyleGAN2Host().command(),
        ["--resume", str(files["pkl"]), "--data", str(files["data"]),
         "--outdir", str(tmp_path), "--host-dir", str(HOST_DIR), "--dry-run"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "psutil (by training/training_loop.py)" in result.output
    assert "Fix: pip install psutil" in result.output
    assert not any(tmp_path.glob("0*"))
