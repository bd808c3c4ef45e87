"""The presgan-wrap dispatcher."""

import subprocess
import sys

import click
import pytest

from presgan_plugin import __version__
from presgan_plugin.cli import wrap


def test_split_host_forms():
    assert wrap.split_host(["--host", "mlp", "--iters", "3"]) == (
        "mlp",
        ["--iters", "3"],
    )
    assert wrap.split_host(["--host=dcgan"]) == ("dcgan", [])
    assert wrap.split_host(["--iters", "3"]) == (None, ["--iters", "3"])
    with pytest.raises(click.UsageError, match="--host needs a value"):
        wrap.split_host(["--host"])


def test_version_and_help(capsys):
    wrap.main(["--version"])
    assert capsys.readouterr().out.strip() == f"presgan-wrap {__version__}"
    wrap.main(["--help"])
    out = capsys.readouterr().out
    assert "Hosts: " in out and "dcgan" in out and "stylegan2" in out


def test_unknown_host_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        wrap.main(["--host", "biggan"])
    assert info.value.code == 2
    assert "--host 'biggan' is not a known host" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "presgan_plugin.cli.wrap", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout
