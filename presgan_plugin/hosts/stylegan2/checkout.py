"""Finding the host checkout and putting it on ``sys.path``."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ENV_VAR = "PRESGAN_STYLEGAN2_DIR"
REQUIRED = ("dnnlib", "torch_utils", "training", "legacy.py")
HOST_URL = "https://github.com/NVlabs/stylegan2-ada-pytorch"
# Modules the host imports that torch does not bring, with the host file that
# imports each: loading a pickle needs the first two, training all three.
LOADING_REQUIREMENTS = {"requests": "dnnlib/util.py", "click": "legacy.py"}
TRAINING_REQUIREMENTS = {**LOADING_REQUIREMENTS, "psutil": "training/training_loop.py"}


class HostNotFoundError(ValueError):
    """No usable StyleGAN2-ADA / StyleGAN3 checkout was found."""


class HostRequirementError(ValueError):
    """A module the host checkout imports is not installed."""


def _missing(folder: Path) -> list[str]:
    return [name for name in REQUIRED if not (folder / name).exists()]


def find_host_dir(host_dir: str | os.PathLike[str] | None = None) -> Path:
    """Locate the host checkout: ``host_dir``, then ``$PRESGAN_STYLEGAN2_DIR``,
    then importable ``dnnlib`` and ``torch_utils``.

    Raises
    ------
    HostNotFoundError
        Naming every place looked at and how to fix it.
    """
    if host_dir is not None:
        return _checked(Path(host_dir).expanduser(), "--host-dir")
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return _checked(Path(from_env).expanduser(), f"${ENV_VAR}")
    specs = [importlib.util.find_spec(name) for name in ("dnnlib", "torch_utils")]
    if all(spec is not None and spec.origin for spec in specs):
        origin = specs[0].origin  # type: ignore[union-attr]
        assert origin is not None
        folder = Path(origin).parent.parent
        if not _missing(folder):
            return folder.resolve()
    raise HostNotFoundError(
        "no StyleGAN2-ADA checkout found. Looked for: --host-dir (not given); "
        f"${ENV_VAR} (not set); importable 'dnnlib' and 'torch_utils' next to "
        f"'training/' and 'legacy.py' (not found). Fix: git clone {HOST_URL} "
        f"and pass --host-dir PATH (or set {ENV_VAR}=PATH)"
    )


def _checked(folder: Path, source: str) -> Path:
    if not folder.is_dir():
        raise HostNotFoundError(
            f"{source} {folder}: no such directory; expected a StyleGAN2-ADA "
            f"checkout (git clone {HOST_URL})"
        )
    missing = _missing(folder)
    if missing:
        raise HostNotFoundError(
            f"{source} {folder} is not a StyleGAN2-ADA checkout: missing "
            f"{', '.join(missing)} (expected {', '.join(REQUIRED)}); point it at "
            f"the folder holding train.py of a clone of {HOST_URL}"
        )
    return folder.resolve()


def use_host(folder: Path) -> str:
    """Put ``folder`` first on ``sys.path`` and return the host's flavour.

    The flavour is ``"stylegan2-ada"`` when ``train.py`` offers
    ``setup_training_loop_kwargs``, ``"stylegan3"`` when the checkout holds
    ``training/networks_stylegan3.py``, otherwise ``"generic"``.
    """
    path = str(folder)
    if path in sys.path:
        sys.path.remove(path)
    sys.path.insert(0, path)
    if (folder / "training" / "networks_stylegan3.py").exists():
        return "stylegan3"
    train = folder / "train.py"
    if train.exists() and "def setup_training_loop_kwargs" in train.read_text(
        encoding="utf-8", errors="replace"
    ):
        return "stylegan2-ada"
    return "generic"


def _is_installed(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None
    return importlib.util.find_spec(name) is not None


def check_host_requirements(
    folder: Path, requirements: dict[str, str] = TRAINING_REQUIREMENTS
) -> None:
    """Fail early when a module the host imports is not installed.

    Parameters
    ----------
    folder
        The host checkout (named in the message).
    requirements
        Module name -> the host file that imports it.

    Raises
    ------
    HostRequirementError
        Naming each missing module, the host file that imports it, and the
        ``pip install`` line that fixes it.
    """
    missing = [name for name in requirements if not _is_installed(name)]
    if missing:
        where = ", ".join(f"{name} (by {requirements[name]})" for name in missing)
        raise HostRequirementError(
            f"the StyleGAN2-ADA checkout at {folder} imports modules that are not "
            f"installed: {where}. Fix: pip install {' '.join(missing)}"
        )
