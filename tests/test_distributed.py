"""Two CPU processes with gloo keep identical parameters."""

import subprocess
import sys
import textwrap

import torch

from presgan_plugin.core import sigma_to_unconstrained

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import torch
    from presgan_plugin.train import distributed
    from presgan_plugin.train.config import TrainConfig
    from presgan_plugin.train.loop import Trainer

    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    config = TrainConfig(
        host="mlp", dataset="ring", resolution=None, latent_dim=10, width=16,
        batch_size=16, num_data_samples=1000, iters=6, tick_iters=3,
        eval_samples=0, outdir=str(out),
    )
    info = distributed.init_distributed(torch.device("cpu"))
    run_dir = out / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(config, run_dir, dist_info=info)
    trainer.run(quiet=True)
    torch.save(
        {
            "generator": trainer.generator.state_dict(),
            "discriminator": trainer.discriminator.state_dict(),
            "step_size": trainer.loss.step_size,
            "first_batch_seen": trainer.stream.state_dict(),
        },
        out / f"rank{info.rank}.pt",
    )
    distributed.cleanup()
    """
)


def test_two_gloo_processes_stay_identical(tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(SCRIPT)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    for part in ("generator", "discriminator"):
        for key, value in rank0[part].items():
            assert torch.equal(value, rank1[part][key]), (part, key)
    assert torch.equal(rank0["step_size"], rank1["step_size"])
    # The ranks trained: sigma moved away from its initial value.
    initial = sigma_to_unconstrained(0.29, 0.01, 0.3)
    moved = rank0["generator"]["sigma_unconstrained"] - initial
    assert moved.abs().max() > 1e-4
