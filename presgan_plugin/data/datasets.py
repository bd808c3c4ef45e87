"""Torch datasets for training, and `build_dataset`, which makes them by name."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from presgan_plugin.data.image_folder import load_image_folder
from presgan_plugin.data.mnist import NUM_DIGITS, load_mnist
from presgan_plugin.data.ring import (
    DEFAULT_NUM_MODES,
    DEFAULT_RADIUS,
    DEFAULT_STD,
    sample_ring,
)
from presgan_plugin.data.variants import (
    NUM_STACKED_MODES,
    make_imbalanced_mnist,
    make_stacked_mnist,
)

logger = logging.getLogger(__name__)

DATASET_NAMES = ("mnist", "stackedmnist", "mnist_imbalanced", "ring", "images")
DEFAULT_IMAGE_RESOLUTION = 32  # the DCGAN's output size; build_dataset's None is native
DEFAULT_STACKED_SAMPLES = 50_000
DEFAULT_RING_SAMPLES = 100_000
DEFAULT_IMAGE_CHANNELS = 3  # for "images" when channels is None
_RESIZE_CHUNK = 4096  # images resized at once, to bound the float32 copy


def resize_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize square ``uint8`` images ``[N, C, H, H]`` to ``[N, C, R, R]``.

    Bilinear interpolation, antialiased when shrinking; the result is rounded
    back to ``uint8``.
    """
    if images.shape[-1] == resolution:
        return images

    chunks = []
    for chunk in images.split(_RESIZE_CHUNK):
        # When enlarging, the antialiased kernel gives the same values as plain
        # bilinear, and on CPU it runs faster, so it is used both ways.
        resized = F.interpolate(
            chunk.float().contiguous(memory_format=torch.channels_last),
            size=(resolution, resolution),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        resized = resized.round_().clamp_(0, 255).to(torch.uint8)
        chunks.append(resized.contiguous())

    if not chunks:
        return images.new_empty((0, images.shape[1], resolution, resolution))

    return torch.cat(chunks)


class ImageDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images as float tensors in ``[-1, 1]``, with optional class labels.

    The images are resized once, at construction, and kept as ``uint8``;
    each item is scaled to ``[-1, 1]`` when it is read.

    Parameters
    ----------
    images : np.ndarray or torch.Tensor
        ``uint8``, ``[N, C, H, H]`` (square).
    labels : np.ndarray, torch.Tensor or None
        Integer class of each image, ``[N]``; ``None`` when unlabelled.
    resolution : int or None
        Side of the images served; ``None`` keeps ``H``.
    num_classes : int or None
        Number of classes the labels range over; ``None`` when unlabelled.

    Attributes
    ----------
    images : torch.Tensor
        ``uint8``, ``[N, C, resolution, resolution]``, after resizing.
    labels : torch.Tensor or None
        ``int64``, ``[N]``.
    resolution, channels : int
        Side and number of channels of the images served.
    num_classes : int or None
        As given.

    Notes
    -----
    An item is ``(x, label)`` with ``x`` float32 ``[C, R, R]`` and ``label`` a
    0-d int64 tensor, ``-1`` when the dataset has no labels (so the default
    collate still works).
    """

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor | None = None,
        *,
        resolution: int | None = None,
        num_classes: int | None = None,
    ) -> None:
        images = torch.as_tensor(images)
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"images: expected uint8 of shape [N, C, H, W], found {images.dtype} "
                f"of shape {list(images.shape)}."
            )

        if images.shape[2] != images.shape[3]:
            raise ValueError(
                f"images: expected square images, found {images.shape[2]}x"
                f"{images.shape[3]}. Crop them first (load_image_folder does)."
            )

        if resolution is not None and resolution < 1:
            raise ValueError(f"resolution: expected >= 1 or None, found {resolution}.")

        if labels is not None:
            labels = torch.as_tensor(labels).long()
            if labels.shape != (len(images),):
                raise ValueError(
                    f"labels: expected shape [{len(images)}] (one per image), found "
                    f"shape {list(labels.shape)}."
                )

        self.resolution = images.shape[-1] if resolution is None else resolution
        self.channels = images.shape[1]
        self.images = resize_images(images, self.resolution)
        self.labels = labels
        self.num_classes = num_classes

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[index].float() / 127.5 - 1.0  # [C, R, R] in [-1, 1]
        label = self.labels[index] if self.labels is not None else torch.tensor(-1)
        return x, label


class PointDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Points in the plane with their mode labels.

    Parameters
    ----------
    points : torch.Tensor
        ``float32``, ``[N, 2]``.
    labels : torch.Tensor
        ``int64``, ``[N]``, the mode of each point.
    num_classes : int or None
        Number of modes.
    """

    def __init__(
        self,
        points: torch.Tensor,
        labels: torch.Tensor,
        *,
        num_classes: int | None = None,
    ) -> None:
        points = torch.as_tensor(points, dtype=torch.float32)
        labels = torch.as_tensor(labels).long()
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(
                f"points: expected shape [N, 2], found {list(points.shape)}."
            )

        if labels.shape != (len(points),):
            raise ValueError(
                f"labels: expected shape [{len(points)}] (one per point), found "
                f"shape {list(labels.shape)}."
            )

        self.points = points
        self.labels: torch.Tensor | None = labels
        self.num_classes = num_classes

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.points[index], self.labels[index]  # type: ignore[index]


def _subsample(
    images: np.ndarray, labels: np.ndarray, num_samples: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keep `num_samples` images chosen at random (all of them for ``None``)."""
    if num_samples is None:
        return images, labels

    if not 1 <= num_samples <= len(images):
        raise ValueError(
            f"num_samples: expected 1..{len(images)} (the digits available), "
            f"found {num_samples}. Pass None to use them all."
        )

    rng = np.random.default_rng(seed)
    kept = np.sort(rng.choice(len(images), size=num_samples, replace=False))
    return images[kept], labels[kept]


def _grey_to_channels(
    images: np.ndarray, channels: int | None, name: str
) -> np.ndarray:
    """Give grey ``[N, H, W]`` digits a channel axis, repeated for RGB."""
    images = images[:, None]  # [N, 1, H, W]
    if channels in (None, 1):
        return images

    if channels == 3:
        return np.repeat(images, 3, axis=1)

    raise ValueError(f"channels: expected 1, 3 or None for {name!r}, found {channels}.")


def build_dataset(
    name: str,
    *,
    path: str | Path | None = None,
    resolution: int | None = None,
    num_samples: int | None = None,
    imbalance_level: int = 0,
    seed: int = 0,
    ring_radius: float = DEFAULT_RADIUS,
    ring_std: float = DEFAULT_STD,
    ring_num_modes: int = DEFAULT_NUM_MODES,
    channels: int | None = None,
) -> ImageDataset | PointDataset:
    """Build a training dataset by name.

    Parameters
    ----------
    name : str
        One of `DATASET_NAMES`:

        - ``"mnist"``: MNIST digits, 1 channel, 10 classes.
        - ``"stackedmnist"``: three MNIST digits as RGB, 1,000 classes (see
          `make_stacked_mnist`).
        - ``"mnist_imbalanced"``: MNIST with digit ``d`` thinned to the share
          ``0.5 ** (imbalance_level * d / 9)`` (see `make_imbalanced_mnist`).
        - ``"ring"``: points from `sample_ring`; one class per mode.
        - ``"images"``: the user's images from a folder or zip (`path`).
    path : str, Path or None
        Source of the digits for the MNIST datasets (see `load_mnist`;
        ``None`` is the embedded digits' training split), or the folder or zip for
        ``"images"``, where it is required. Not used by ``"ring"``.
    resolution : int or None
        Side of the images served. ``None`` keeps the native size (28 for
        MNIST). The DCGAN needs `DEFAULT_IMAGE_RESOLUTION` (32), which the
        caller passes. Required for ``"images"``.
    num_samples : int or None
        ``"stackedmnist"``: how many stacked images (``None``: 50,000).
        ``"ring"``: how many points (``None``: 100,000). ``"mnist"`` and
        ``"mnist_imbalanced"``: a random subset of this size taken before any
        thinning (``None``: all). ``"images"``: must be ``None``.
    imbalance_level : int
        Level 0..9 for ``"mnist_imbalanced"``; must be 0 for other names.
    seed : int
        Seed of every random draw, so the same arguments give the same data.
    ring_radius, ring_std, ring_num_modes : float, float, int
        Geometry of the ring (see `sample_ring`).
    channels : int or None
        1 or 3. For MNIST, 3 repeats the grey digit; ``None`` keeps 1 (3 for
        ``"stackedmnist"``, which accepts only 3). For ``"images"``, the colour
        mode (``None``: 3). Not used by ``"ring"``.

    Returns
    -------
    ImageDataset or PointDataset
        With ``labels`` and ``num_classes`` set (``None`` for ``"images"``).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or arguments
        that do not apply to the chosen dataset.
    DataError
        If the files under `path` are missing or malformed.
    """
    if name not in DATASET_NAMES:
        raise ValueError(
            f"dataset name: expected one of {', '.join(DATASET_NAMES)}, found {name!r}."
        )

    if imbalance_level != 0 and name != "mnist_imbalanced":
        raise ValueError(
            f"imbalance_level: only 'mnist_imbalanced' uses it, found "
            f"imbalance_level={imbalance_level} with {name!r}. Drop it or use "
            "'mnist_imbalanced'."
        )

    if name == "ring":
        for option, value in (
            ("path", path),
            ("resolution", resolution),
            ("channels", channels),
        ):
            if value is not None:
                raise ValueError(
                    f"{option}: the 'ring' dataset has no {option}, found "
                    f"{value!r}. Leave it as None."
                )

        generator = torch.Generator().manual_seed(seed)
        points, labels = sample_ring(
            DEFAULT_RING_SAMPLES if num_samples is None else num_samples,
            num_modes=ring_num_modes,
            radius=ring_radius,
            std=ring_std,
            generator=generator,
        )
        return PointDataset(points, labels, num_classes=ring_num_modes)

    if name == "images":
        if path is None or resolution is None:
            raise ValueError(
                "path and resolution: the 'images' dataset needs both, found "
                f"path={path!r}, resolution={resolution!r}. Pass the folder or "
                "zip of images and the side of the square to train at."
            )

        if num_samples is not None:
            raise ValueError(
                f"num_samples: the 'images' dataset uses every image, found "
                f"{num_samples}. Leave it as None."
            )

        images = load_image_folder(
            path,
            resolution=resolution,
            channels=DEFAULT_IMAGE_CHANNELS if channels is None else channels,
        )
        return ImageDataset(images, None, resolution=resolution, num_classes=None)

    digits, digit_labels = load_mnist(path)
    if name == "stackedmnist":
        if channels not in (None, 3):
            raise ValueError(
                f"channels: 'stackedmnist' has 3 channels, found channels={channels}."
            )

        stacked, stacked_labels = make_stacked_mnist(
            digits,
            digit_labels,
            DEFAULT_STACKED_SAMPLES if num_samples is None else num_samples,
            seed,
        )
        return ImageDataset(
            stacked,
            stacked_labels,
            resolution=resolution,
            num_classes=NUM_STACKED_MODES,
        )

    digits, digit_labels = _subsample(digits, digit_labels, num_samples, seed)
    if name == "mnist_imbalanced":
        digits, digit_labels = make_imbalanced_mnist(
            digits, digit_labels, imbalance_level, seed
        )

    return ImageDataset(
        _grey_to_channels(digits, channels, name),
        digit_labels,
        resolution=resolution,
        num_classes=NUM_DIGITS,
    )
