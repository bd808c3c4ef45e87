"""Atomic checkpoint files and finding the newest intact one of a run."""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing or damaged."""


def _readable_mode() -> int:
    """0o644 under the process umask (temporary files are created 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o644 & ~umask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp_name, _readable_mode())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike[str], value: Any) -> None:
    """Write ``value`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())


def atomic_torch_save(path: str | os.PathLike[str], value: Any) -> None:
    """``torch.save`` into memory, then write the bytes atomically to ``path``."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def checkpoint_path(run_dir: str | os.PathLike[str], iteration: int) -> Path:
    """``RUN_DIR/checkpoint-<iteration, 8 digits>.pt``."""
    return Path(run_dir) / f"checkpoint-{iteration:08d}.pt"


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The run's checkpoints, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [
        (int(match.group(1)), path)
        for path in run_dir.iterdir()
        if (match := CHECKPOINT_PATTERN.match(path.name))
    ]
    return [path for _, path in sorted(found)]


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load one checkpoint on the CPU; a damaged file raises ``CheckpointError``."""
    path = Path(path)
    try:
        value = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as error:
        raise CheckpointError(
            f"checkpoint {path} is damaged ({type(error).__name__}: {error})"
        ) from error
    if not isinstance(value, dict) or "iteration" not in value:
        raise CheckpointError(
            f"checkpoint {path} is not a presgan-plugin checkpoint (no 'iteration')"
        )
    return value


def load_latest_checkpoint(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Load the newest checkpoint of a run.

    If the newest is damaged, the error names it and the newest intact one,
    and says how to resume from that one.
    """
    run_dir = Path(run_dir)
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise CheckpointError(
            f"run directory {run_dir} holds no checkpoint-*.pt file to resume from"
        )
    newest = checkpoints[-1]
    try:
        return load_checkpoint(newest)
    except CheckpointError as error:
        intact = _newest_intact(checkpoints[:-1])
        advice = (
            f"the newest intact one is {intact}; delete {newest.name} to resume from it"
            if intact is not None
            else "no older intact checkpoint exists in this run"
        )
        raise CheckpointError(f"{error}; {advice}") from error.__cause__


def _newest_intact(checkpoints: list[Path]) -> Path | None:
    for path in reversed(checkpoints):
        try:
            load_checkpoint(path)
        except CheckpointError:
            continue
        return path
    return None
