"""Runtime patches that let StyleGAN2-ADA / StyleGAN3 run on torch 2.6+ and on CPU.

Each function fixes one symptom, names the host attribute it replaces, leaves
the host's files untouched and is safe to call more than once. The plugin's
launcher calls :func:`apply_all` in every training process, spawned workers
included, before the host's ``training_loop`` runs. Functions that take a
host module receive it from the caller; this module imports no host code.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import types
import warnings
from collections.abc import Iterator
from typing import Any

import torch

_PATCHED = "_presgan_patched"


def _mark(obj: Any) -> bool:
    """Mark ``obj`` as patched; return False when it already was."""
    if getattr(obj, _PATCHED, False):
        return False
    setattr(obj, _PATCHED, True)
    return True


def fix_infinite_sampler_init(misc: types.ModuleType) -> None:
    """``misc.InfiniteSampler.__init__`` without ``Sampler.__init__(dataset)``.

    Symptom (torch >= 2.10): ``TypeError: object.__init__() takes exactly one
    argument`` from ``training_loop`` when it builds the sampler, on CPU and
    GPU alike, because ``Sampler.__init__`` no longer takes ``data_source``.
    The replacement checks the same conditions and stores the same fields.
    """
    sampler_class = misc.InfiniteSampler
    if not _mark(sampler_class):
        return

    def __init__(  # noqa: N807
        self: Any,
        dataset: Any,
        rank: int = 0,
        num_replicas: int = 1,
        shuffle: bool = True,
        seed: int = 0,
        window_size: float = 0.5,
    ) -> None:
        if len(dataset) <= 0:
            raise ValueError("InfiniteSampler needs a dataset with at least one item")
        if not (num_replicas > 0 and 0 <= rank < num_replicas):
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.dataset = dataset
        self.rank = rank
        self.num_replicas = num_replicas
        self.shuffle = shuffle
        self.seed = seed
        self.window_size = window_size

    sampler_class.__init__ = __init__


def float_betas(opt_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return ``opt_kwargs`` with ``betas`` as floats.

    Symptom (torch >= 2.6): ``ValueError: betas must be either both floats or
    both Tensors`` from Adam when the host passes ``betas=[0, 0.99]`` on its
    non-lazy path (``Gboth``/``Dboth``; StyleGAN3's default configs).
    """
    fixed = type(opt_kwargs)(opt_kwargs)
    if "betas" in fixed:
        fixed["betas"] = [float(beta) for beta in fixed["betas"]]
    return fixed


def drop_prefetch_without_workers(loader_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return DataLoader kwargs without ``prefetch_factor`` when there are no workers.

    Symptom: ``ValueError: prefetch_factor option could only be specified in
    multiprocessing`` from ``torch.utils.data.DataLoader`` with
    ``num_workers=0`` (the CPU test mode uses no workers).
    """
    fixed = type(loader_kwargs)(loader_kwargs)
    if not fixed.get("num_workers", 0):
        fixed.pop("prefetch_factor", None)
    return fixed


def install_pkg_resources_stub() -> None:
    """Provide ``pkg_resources.parse_version`` when setuptools no longer ships it.

    Symptom (StyleGAN3, setuptools >= 81): ``ModuleNotFoundError: No module
    named 'pkg_resources'`` when ``torch_utils.ops.conv2d_gradfix`` is
    imported. The stub is installed only if the real module is missing.
    """
    if "pkg_resources" in sys.modules:
        return
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        try:
            from packaging.version import parse
        except ImportError:
            from torch._vendor.packaging.version import (  # type: ignore[assignment]
                parse,
            )

        stub = types.ModuleType("pkg_resources")
        stub.parse_version = parse  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = stub


def make_pin_memory_noop() -> None:
    """CPU mode: make ``torch.Tensor.pin_memory`` return the tensor itself.

    Symptom (no GPU): ``RuntimeError: Cannot access accelerator device when
    none is available`` from ``training_loop`` (and the metrics code), which
    pin labels before moving them to the device. Only for CPU runs.
    """
    if getattr(torch.Tensor.pin_memory, _PATCHED, False):
        return

    def pin_memory(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self

    setattr(pin_memory, _PATCHED, True)
    torch.Tensor.pin_memory = pin_memory  # type: ignore[method-assign,assignment]


class _Event:
    """Stands in for ``torch.cuda.Event`` on CPU: records nothing, times zero."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def record(self, *args: Any) -> None:
        """Do nothing."""

    def synchronize(self) -> None:
        """Do nothing."""

    def elapsed_time(self, other: Any) -> float:
        """Zero milliseconds."""
        return 0.0


class _CPUCuda(types.SimpleNamespace):
    """The parts of ``torch.cuda`` a training loop touches, answered for CPU."""

    def __init__(self) -> None:
        super().__init__(
            Event=_Event,
            current_stream=lambda *args, **kwargs: None,
            max_memory_allocated=lambda *args, **kwargs: 0,
            reset_peak_memory_stats=lambda *args, **kwargs: None,
            synchronize=lambda *args, **kwargs: None,
            is_available=lambda: False,
            device_count=lambda: 0,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.cuda, name)


class _CPUTorch(types.ModuleType):
    """``torch`` as seen by a CUDA-only training loop, sending it to the CPU."""

    def __init__(self) -> None:
        super().__init__("torch")
        self.cuda = _CPUCuda()

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    @staticmethod
    def device(*args: Any, **kwargs: Any) -> torch.device:
        """Every device is the CPU."""
        return torch.device("cpu")


def send_training_loop_to_cpu(training_loop: types.ModuleType) -> None:
    """CPU mode: give ``training_loop`` a ``torch`` whose devices are the CPU.

    Symptom (no GPU): ``AssertionError: Torch not compiled with CUDA enabled``
    or ``RuntimeError: Tried to instantiate dummy base class Event`` from the
    hard-coded ``torch.device('cuda', rank)`` and ``torch.cuda.Event`` in the
    host's loop. Only that module's global ``torch`` is replaced.
    """
    if not isinstance(training_loop.torch, _CPUTorch):
        training_loop.torch = _CPUTorch()  # type: ignore[attr-defined]


@contextlib.contextmanager
def _atomic_writer(path: str, mode: str) -> Iterator[Any]:
    """Write to a temporary file beside ``path``; rename it over ``path`` on success."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(
        prefix=".tmp-", suffix=os.path.basename(path), dir=folder
    )
    try:
        with os.fdopen(handle, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def atomic_snapshots(training_loop: types.ModuleType) -> None:
    """Make the loop's ``open(path, 'wb')`` write through a temporary file.

    Symptom: a run killed while ``pickle.dump`` writes a network snapshot
    leaves a truncated ``network-snapshot-*.pkl`` that then fails to resume.
    The loop's module-global ``open`` is replaced: binary writes go to a
    temporary file renamed over the target when complete; every other mode
    is the builtin ``open``.
    """
    if getattr(getattr(training_loop, "open", None), _PATCHED, False):
        return

    def open_atomic(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode in ("wb", "bw") and isinstance(file, str | os.PathLike) and not args:
            return _atomic_writer(os.fspath(file), mode)
        return open(file, mode, *args, **kwargs)

    setattr(open_atomic, _PATCHED, True)
    training_loop.open = open_atomic  # type: ignore[attr-defined]


def quiet_gradfix_warnings() -> None:
    """Show the host's "gradfix not supported on PyTorch X" warning once, not per call.

    Symptom: ``conv2d_gradfix`` / ``grid_sample_gradfix`` warn on every
    augmented batch that their custom op is off for this torch version and
    that they fall back to the plain op, which is correct (and supports the
    double backward R1 needs on torch >= 2.13).
    """
    warnings.filterwarnings(
        "once", message=r"(conv2d|grid_sample)_gradfix not supported on PyTorch"
    )


def apply_all(*, cpu: bool) -> None:
    """Apply every runtime patch in this process (CPU ones only when ``cpu``).

    Imports the host's ``torch_utils.misc`` and ``training.training_loop``,
    which must be importable (the launcher puts the checkout on the path).
    """
    install_pkg_resources_stub()
    from torch_utils import misc
    from training import training_loop

    fix_infinite_sampler_init(misc)
    quiet_gradfix_warnings()
    atomic_snapshots(training_loop)
    if cpu:
        make_pin_memory_noop()
        send_training_loop_to_cpu(training_loop)
