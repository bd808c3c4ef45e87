"""The built-in hosts' training loop: steps, files, resume, interruption."""

import json

import pytest
import torch
from click.testing import CliRunner

from presgan_plugin.core import PrescribedGenerator
from presgan_plugin.hosts.builtin import build_command
from presgan_plugin.train.checkpoint import (
    CheckpointError,
    list_checkpoints,
    load_latest_checkpoint,
)
from presgan_plugin.train.config import (
    ConfigError,
    TrainConfig,
    read_config_file,
    resolve_config,
)
from presgan_plugin.train.loop import RunDirError, Trainer, train

TINY_DCGAN = dict(
    host="dcgan",
    resolution=28,
    width=8,
    batch_size=8,
    latent_dim=16,
    num_data_samples=256,
    tick_iters=2,
    snapshot_ticks=1,
    eval_samples=0,
)
TINY_MLP = dict(
    host="mlp",
    dataset="ring",
    resolution=None,
    latent_dim=10,
    width=32,
    batch_size=32,
    num_data_samples=2000,
    tick_iters=5,
    snapshot_ticks=1,
    eval_samples=500,
)


def make_config(tmp_path, base, **overrides):
    values = {**base, "outdir": str(tmp_path), **overrides}
    return TrainConfig(**values)


@pytest.mark.parametrize("model", ["presgan", "gan"])
def test_dcgan_steps_write_a_complete_run(tmp_path, model):
    config = make_config(tmp_path, TINY_DCGAN, model=model, iters=4)
    run_dir, scores = train(config, quiet=True)
    assert json.loads((run_dir / "config.json").read_text())["model"] == model
    records = [
        json.loads(x) for x in (run_dir / "stats.jsonl").read_text().splitlines()
    ]
    assert [r["iteration"] for r in records] == [2, 4]
    assert all(torch.isfinite(torch.tensor(r["Loss/D"])) for r in records)
    assert sorted(p.name for p in run_dir.glob("samples-*.png")) == [
        "samples-00000002.png",
        "samples-00000004.png",
    ]
    assert [p.name for p in list_checkpoints(run_dir)][-1] == "checkpoint-00000004.pt"
    state = load_latest_checkpoint(run_dir)
    assert state["iteration"] == 4 and state["cur_nimg"] == 32
    if model == "presgan":
        assert 0.01 <= records[-1]["Sigma/min"] <= records[-1]["Sigma/max"] <= 0.3
        assert 0.0 <= records[-1]["HMC/accept_rate"] <= 1.0
        assert "sigma_unconstrained" in state["generator"]
        assert state["hmc_step_size"].item() > 0
    else:
        assert "Sigma/mean" not in records[-1]


@pytest.mark.parametrize("model", ["presgan", "gan"])
def test_mlp_on_the_ring_scores_modes(tmp_path, model):
    config = make_config(tmp_path, TINY_MLP, model=model, iters=10)
    run_dir, scores = train(config, quiet=True)
    assert set(scores) >= {"modes", "high_quality_fraction", "kl", "num_samples"}
    assert 0 <= scores["modes"] <= 10
    assert scores["num_samples"] == 500
    assert (run_dir / "ring.png").stat().st_size > 0
    assert json.loads((run_dir / "scores.json").read_text()) == pytest.approx(
        scores, nan_ok=True
    )


@pytest.mark.parametrize("base", [TINY_DCGAN, TINY_MLP], ids=["dcgan", "mlp"])
def test_resume_is_bit_for_bit(tmp_path, base):
    """N steps equal k steps, a resume, and N - k steps."""
    straight = make_config(tmp_path / "a", base, iters=6, eval_samples=0)
    run_a, _ = train(straight, quiet=True)

    first = make_config(tmp_path / "b", base, iters=4, eval_samples=0)
    run_b, _ = train(first, quiet=True)
    resumed = TrainConfig(**{**first.to_dict(), "iters": 6})
    train(resumed, resume=run_b, quiet=True)

    state_a, state_b = load_latest_checkpoint(run_a), load_latest_checkpoint(run_b)
    assert state_a["iteration"] == state_b["iteration"] == 6
    for part in ("generator", "discriminator"):
        for key, value in state_a[part].items():
            assert torch.equal(value, state_b[part][key]), (part, key)
    assert torch.equal(state_a["hmc_step_size"], state_b["hmc_step_size"])
    # The last tick covers iteration 6 alone in both runs.
    last_a = json.loads((run_a / "stats.jsonl").read_text().splitlines()[-1])
    last_b = json.loads((run_b / "stats.jsonl").read_text().splitlines()[-1])
    last_a.pop("Timing/images_per_second")
    last_b.pop("Timing/images_per_second")
    assert last_a == last_b


def test_damaged_newest_checkpoint_names_the_intact_one(tmp_path):
    config = make_config(tmp_path, TINY_MLP, iters=10, eval_samples=0)
    run_dir, _ = train(config, quiet=True)
    newest = list_checkpoints(run_dir)[-1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    with pytest.raises(CheckpointError) as info:
        load_latest_checkpoint(run_dir)
    message = str(info.value)
    assert newest.name in message and "checkpoint-00000005.pt" in message


def test_new_run_refuses_a_directory_with_checkpoints(tmp_path):
    config = make_config(tmp_path, TINY_MLP, iters=5, eval_samples=0)
    train(config, quiet=True)
    with pytest.raises(RunDirError, match="--resume"):
        train(config, quiet=True)


def test_interrupt_saves_and_stops(tmp_path, monkeypatch):
    config = make_config(tmp_path, TINY_MLP, iters=50, eval_samples=0)
    original_step = Trainer.step

    def step_then_interrupt(self, stats):
        original_step(self, stats)
        if self.iteration == 3:
            self.stop_requested = True

    monkeypatch.setattr(Trainer, "step", step_then_interrupt)
    run_dir, scores = train(config, quiet=True)
    assert scores is None
    assert load_latest_checkpoint(run_dir)["iteration"] == 3


def test_sigma_stays_in_bounds_under_a_huge_learning_rate(tmp_path):
    config = make_config(tmp_path, TINY_MLP, iters=10, lr_sigma=10.0, eval_samples=0)
    trainer = Trainer(config, tmp_path / "run")
    (tmp_path / "run").mkdir()
    trainer.run(quiet=True)
    assert isinstance(trainer.generator, PrescribedGenerator)
    sigma = trainer.generator.sigma
    assert sigma.min().item() >= 0.01 and sigma.max().item() <= 0.3


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"description": "x", "batch_size": 16, "kimg": 2}))
    config = resolve_config("dcgan", read_config_file(path), {"batch_size": 32})
    assert config.batch_size == 32 and config.kimg == 2 and config.total_iters() == 62
    path.write_text(json.dumps({"batchsize": 16}))
    with pytest.raises(ConfigError, match="batchsize"):
        read_config_file(path)
    with pytest.raises(ConfigError, match="use host 'mlp'"):
        resolve_config("dcgan", {"dataset": "ring"}, {})


def test_cli_dry_run_and_errors(tmp_path):
    runner = CliRunner()
    command = build_command("dcgan")
    result = runner.invoke(command, ["--dry-run", "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["batch_size"] == 16
    result = runner.invoke(command, ["--batch-size", "0"])
    assert result.exit_code == 2 and "--batch-size" in result.output
    result = runner.invoke(command, ["--dataset", "ring"])
    assert result.exit_code == 2 and "use host 'mlp'" in result.output
    for bad in (
        ["--resolution", "30"],
        ["--sigma-init", "0.9"],
        ["--dataset", "images"],
    ):
        outdir = tmp_path / "bad"
        result = runner.invoke(command, [*bad, "--outdir", str(outdir)])
        assert result.exit_code == 2, (bad, result.output)
        assert not outdir.exists()


def test_config_file_values_are_type_checked(tmp_path):
    path = tmp_path / "typo.json"
    path.write_text(json.dumps({"batch_size": "64"}))
    with pytest.raises(ConfigError, match=r"typo.json: option batch_size must be int"):
        resolve_config("dcgan", read_config_file(path), {}, source=path)


def test_shipped_training_configs_resolve():
    from pathlib import Path

    folder = Path(__file__).parents[1] / "training_configs"
    files = sorted(folder.glob("*.json"))
    builtin = [f for f in files if not f.name.startswith("stylegan")]
    assert len(builtin) >= 8
    for file in builtin:
        values = read_config_file(file)
        config = resolve_config(values.pop("host"), values, {})
        assert config.total_iters() > 0, file.name


def test_checkpoint_scores_are_per_checkpoint_and_repeatable(tmp_path):
    """Same run, same numbers: the ring scored at every checkpoint (F11)."""
    from presgan_plugin.train.loop import score_checkpoints

    config = make_config(tmp_path, TINY_MLP, iters=10, eval_samples=300)
    run_dir, final = train(config, quiet=True)
    first = score_checkpoints(run_dir)
    second = score_checkpoints(run_dir)
    assert [row["iteration"] for row in first] == [5.0, 10.0]
    assert json.dumps(first) == json.dumps(second)
    assert first[-1]["modes"] == final["modes"]
    saved = json.loads((run_dir / "checkpoint_scores.json").read_text())
    assert json.dumps(saved) == json.dumps(first)
