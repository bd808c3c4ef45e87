"""A small CNN digit classifier that reads the modes of generated MNIST images.

The mode metrics of Dieng et al. (2019), Section 5.2, label each generated
image (or each channel of a StackedMNIST image) with a pretrained MNIST
classifier. This module trains one on the given digits, caches its weights
on disk, and classifies batches of images in [-1, 1].
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

MNIST_SIDE = 28
NUM_DIGITS = 10
HELD_OUT_FRACTION = 0.1  # stratified share of each class kept for the accuracy
MAX_SHIFT = 2  # pixels of random translation used as augmentation
CACHE_ENV_VAR = "PRESGAN_CACHE_DIR"
CACHE_FORMAT_VERSION = 1  # bump when the architecture or training recipe changes


class MNISTClassifier(nn.Module):
    """Three-block CNN for 28 x 28 digits, returning logits ``[B, 10]``.

    Inputs are single-channel images in [-1, 1]; any other side is resized
    to 28 x 28 (bilinear, antialiased) before the convolutions.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # [B, 16, 14, 14]
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # [B, 32, 7, 7]
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(32 * 7 * 7, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(0.25),
            nn.Linear(128, NUM_DIGITS),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map images ``[B, 1, H, W]`` in [-1, 1] to logits ``[B, 10]``."""
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(
                "MNISTClassifier expects single-channel images [B, 1, H, W], "
                f"got {list(images.shape)}; classify StackedMNIST with classify()."
            )
        return self.head(self.features(_resize_to_mnist(images)))


def _resize_to_mnist(images: torch.Tensor) -> torch.Tensor:
    """Resize ``[B, C, H, W]`` to ``[B, C, 28, 28]`` when needed."""
    if images.shape[-2:] == (MNIST_SIDE, MNIST_SIDE):
        return images
    return F.interpolate(
        images, size=(MNIST_SIDE, MNIST_SIDE), mode="bilinear", antialias=True
    )


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _check_digits(images: np.ndarray, labels: np.ndarray) -> None:
    """Raise ValueError unless images are [N, 28, 28] and labels [N] in 0..9."""
    if images.ndim != 3 or images.shape[1:] != (MNIST_SIDE, MNIST_SIDE):
        raise ValueError(
            f"images must have shape [N, 28, 28], got {list(images.shape)}."
        )
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"labels must have shape [{images.shape[0]}] to match the images, "
            f"got {list(labels.shape)}."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_DIGITS):
        raise ValueError(
            f"labels must lie in 0..9, found {labels.min()}..{labels.max()}."
        )


def _uint8_to_unit_range(images: np.ndarray) -> torch.Tensor:
    """Map uint8 ``[N, 28, 28]`` to float ``[N, 1, 28, 28]`` in [-1, 1]."""
    pixels = torch.as_tensor(np.asarray(images, dtype=np.float32))
    return (pixels / 127.5 - 1.0)[:, None]


def _stratified_split(
    labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, held_out)`` keeping ``fraction`` of every class out."""
    train, held_out = [], []
    for digit in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == digit))
        num_held_out = max(1, round(fraction * members.size))
        held_out.append(members[:num_held_out])
        train.append(members[num_held_out:])
    return np.concatenate(train), np.concatenate(held_out)


def _random_shift(
    images: torch.Tensor, max_shift: int, generator: torch.Generator
) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels, filling with -1."""
    batch, _, height, width = images.shape
    padded = F.pad(images, [max_shift] * 4, value=-1.0)
    offsets = torch.randint(0, 2 * max_shift + 1, (batch, 2), generator=generator)
    rows = offsets[:, 0, None] + torch.arange(height)  # [B, H]
    cols = offsets[:, 1, None] + torch.arange(width)  # [B, W]
    index = torch.arange(batch)[:, None, None]
    return padded[index, 0, rows[:, :, None], cols[:, None, :]][:, None]


@torch.no_grad()
def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    predictions = torch.cat([model(chunk).argmax(1) for chunk in images.split(500)])
    return (predictions == labels).float().mean().item()


def train_mnist_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    epochs: int = 8,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    device: str | torch.device | None = None,
) -> tuple[MNISTClassifier, float]:
    """Train the digit classifier, holding out a stratified 10% for accuracy.

    Parameters
    ----------
    images : np.ndarray
        uint8 digits ``[N, 28, 28]`` (0 is background).
    labels : np.ndarray
        Integer labels ``[N]`` in 0..9.
    seed : int
        Seed of the split, the initialisation, the batch order and the
        augmentation (random shifts of up to 2 pixels).
    epochs : int
        Passes over the training split; the learning rate follows a one-cycle
        schedule over them.
    batch_size : int
        Images per optimisation step.
    learning_rate : float
        Peak learning rate of Adam.
    device : str or torch.device, optional
        Where to train; ``None`` picks CUDA when available, else CPU.

    Returns
    -------
    model : MNISTClassifier
        The trained classifier in eval mode, on ``device``.
    accuracy : float
        Accuracy on the held-out 10%, in [0, 1].
    """
    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.int64)
    _check_digits(images, labels)
    device = torch.device(device) if device is not None else _default_device()

    # Split and move the data.
    train_index, held_out_index = _stratified_split(
        labels, HELD_OUT_FRACTION, np.random.default_rng(seed)
    )
    pixels = _uint8_to_unit_range(images)
    targets = torch.as_tensor(labels)
    train_images, train_labels = pixels[train_index], targets[train_index]
    held_out_images = pixels[held_out_index].to(device)
    held_out_labels = targets[held_out_index].to(device)

    # Build the model and the optimiser.
    generator = torch.Generator().manual_seed(seed)
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(seed)
        model = MNISTClassifier().to(device)
    steps_per_epoch = -(-len(train_index) // batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=learning_rate, total_steps=epochs * steps_per_epoch
    )

    # Train.
    start = time.perf_counter()
    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(seed)  # dropout masks
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(train_index), generator=generator)
            for batch in order.split(batch_size):
                inputs = _random_shift(train_images[batch], MAX_SHIFT, generator)
                loss = F.cross_entropy(
                    model(inputs.to(device)), train_labels[batch].to(device)
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()

    accuracy = _accuracy(model, held_out_images, held_out_labels)
    logger.info(
        "trained MNIST classifier: held-out accuracy %.4f on %d digits in %.1f s",
        accuracy,
        len(held_out_index),
        time.perf_counter() - start,
    )
    return model, accuracy


def default_cache_dir() -> Path:
    """Classifier cache folder: ``$PRESGAN_CACHE_DIR`` or ``~/.cache/...``."""
    root = os.environ.get(CACHE_ENV_VAR)
    if root:
        return Path(root)
    return Path.home() / ".cache" / "presgan_plugin" / "classifiers"


def data_hash(images: np.ndarray, labels: np.ndarray, seed: int) -> str:
    """SHA-1 of the image bytes, label bytes, shapes, seed and cache format."""
    digest = hashlib.sha1()
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    header = f"v{CACHE_FORMAT_VERSION};{images.shape};{labels.shape};seed={seed};"
    digest.update(header.encode())
    digest.update(images.tobytes())
    digest.update(labels.tobytes())
    return digest.hexdigest()


def _read_cache(path: Path, key: str) -> dict[str, Any] | None:
    """Load a cache entry; ``None`` (with a warning) if it is unusable."""
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(entry, dict) or entry.get("key") != key:
            raise ValueError(f"expected a dict with key {key!r}")
        model = MNISTClassifier()
        model.load_state_dict(entry["state_dict"])
        accuracy = float(entry["accuracy"])
    except Exception as error:  # a cache file can fail to load in many ways
        warnings.warn(
            f"classifier cache file {path} is unreadable or stale "
            f"({type(error).__name__}: {error}); retraining and overwriting it.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return {"model": model, "accuracy": accuracy}


def _write_cache(path: Path, entry: dict[str, Any]) -> None:
    """Write ``entry`` to ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        torch.save(entry, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_or_train_classifier(
    data_key: str,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
) -> tuple[MNISTClassifier, float]:
    """Return a cached classifier for these digits, training it if needed.

    The cache file is ``<cache_dir>/<data_key>-<hash>.pt`` where the hash
    covers the image bytes, the labels and the seed. It holds the state dict,
    the held-out accuracy and the full hash, and is written atomically. A
    file that cannot be loaded (truncated, empty, wrong contents) raises a
    ``RuntimeWarning`` naming it and is replaced by a retrained model.

    Parameters
    ----------
    data_key : str
        Short name of the data (e.g. ``"mnist"``), used in the file name.
    images : np.ndarray
        uint8 digits ``[N, 28, 28]``.
    labels : np.ndarray
        Integer labels ``[N]`` in 0..9.
    seed : int
        Training seed (see `train_mnist_classifier`).
    cache_dir : path-like, optional
        Cache folder; ``None`` means `default_cache_dir`.
    device : str or torch.device, optional
        Where to put (and train) the model; ``None`` picks CUDA when available.

    Returns
    -------
    model : MNISTClassifier
        Classifier in eval mode on ``device``.
    accuracy : float
        Held-out accuracy measured when it was trained.
    """
    if not data_key or any(c in data_key for c in "/\\ \t\n"):
        raise ValueError(
            f"data_key={data_key!r} must be a non-empty name without slashes "
            "or whitespace, e.g. 'mnist'."
        )
    images = np.asarray(images)
    labels = np.asarray(labels)
    _check_digits(images, labels)
    device = torch.device(device) if device is not None else _default_device()
    key = data_hash(images, labels, seed)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"{data_key}-{key[:16]}.pt"

    if path.exists():
        entry = _read_cache(path, key)
        if entry is not None:
            logger.info("loaded MNIST classifier from %s", path)
            return entry["model"].to(device).eval(), entry["accuracy"]

    model, accuracy = train_mnist_classifier(images, labels, seed=seed, device=device)
    state_dict = {name: t.detach().cpu() for name, t in model.state_dict().items()}
    _write_cache(path, {"key": key, "accuracy": accuracy, "state_dict": state_dict})
    logger.info("saved MNIST classifier to %s", path)
    return model, accuracy


@torch.no_grad()
def _predict(model: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Digit of each single-channel image ``[N, 1, H, W]`` -> ``[N]``."""
    model.eval()
    device = next(model.parameters()).device
    predictions = [
        model(chunk.to(device=device, dtype=torch.float32)).argmax(1).cpu()
        for chunk in images.split(batch_size)
    ]
    if not predictions:
        return torch.zeros(0, dtype=torch.long)
    return torch.cat(predictions)


def classify_stacked(
    model: nn.Module, images: torch.Tensor, batch_size: int = 500
) -> torch.Tensor:
    """Mode of each StackedMNIST image: ``100 * r + 10 * g + b``.

    Parameters
    ----------
    model : nn.Module
        Single-channel digit classifier.
    images : torch.Tensor
        Images ``[B, 3, H, W]`` in [-1, 1]; each channel is one digit.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    torch.Tensor
        Long tensor ``[B]`` with values in 0..999.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"classify_stacked expects images [B, 3, H, W], got {list(images.shape)}."
        )
    batch = images.shape[0]
    channels = images.reshape(batch * 3, 1, *images.shape[2:])  # [3B, 1, H, W]
    digits = _predict(model, channels, batch_size).reshape(batch, 3)
    return digits @ torch.tensor([100, 10, 1])


def classify(
    model: nn.Module, images: torch.Tensor, batch_size: int = 500
) -> torch.Tensor:
    """Class of each image: a digit, or a StackedMNIST mode for 3 channels.

    Parameters
    ----------
    model : nn.Module
        Single-channel digit classifier, e.g. from `load_or_train_classifier`.
    images : torch.Tensor
        Float images ``[B, C, H, W]`` in [-1, 1] with C = 1 (digits 0..9) or
        C = 3 (modes 0..999, see `classify_stacked`). Sides other than 28 are
        resized to 28.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    torch.Tensor
        Long tensor ``[B]`` on the CPU.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            "classify expects images [B, C, H, W] with C = 1 (MNIST) or 3 "
            f"(StackedMNIST), got {list(images.shape)}."
        )
    if images.shape[1] == 3:
        return classify_stacked(model, images, batch_size)
    return _predict(model, images, batch_size)
