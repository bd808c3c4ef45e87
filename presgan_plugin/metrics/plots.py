"""Figures for the experiments: ring scatter plots, class histograms, image grids.

Matplotlib is imported inside the functions and drawn on its Agg canvas
directly, so importing this module is cheap and no global backend is set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANEL_SIZE = 4.0  # inches per subplot side
DPI = 100


def _to_numpy(array: npt.ArrayLike | torch.Tensor) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def _new_figure(num_panels: int, height: float = PANEL_SIZE) -> tuple[Figure, Any]:
    """A figure with ``num_panels`` side-by-side axes on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(PANEL_SIZE * num_panels, height), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, num_panels, squeeze=False)[0]
    return figure, axes


def _save(figure: Figure, path: str | os.PathLike[str]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)


def plot_ring_samples(
    samples_by_name: Mapping[str, npt.ArrayLike | torch.Tensor],
    centers: npt.ArrayLike | torch.Tensor,
    path: str | os.PathLike[str],
) -> None:
    """Scatter 2-D samples of several models side by side over the centres.

    Parameters
    ----------
    samples_by_name : mapping of str to array
        Panel title (e.g. ``"GAN"``, ``"PresGAN"``) to points ``[N, 2]``.
    centers : array-like or torch.Tensor
        Mixture centres ``[K, 2]``, drawn as red crosses in every panel.
    path : path-like
        Output image file (format from the suffix, e.g. ``.png``).
    """
    if not samples_by_name:
        raise ValueError(
            "samples_by_name is empty; pass at least one named sample set."
        )
    modes = _to_numpy(centers)
    if modes.ndim != 2 or modes.shape[1] != 2:
        raise ValueError(f"centers must be [K, 2], got shape {list(modes.shape)}.")

    figure, axes = _new_figure(len(samples_by_name))
    radius = 1.25 * float(np.abs(modes).max(initial=1.0))
    for ax, (name, samples) in zip(axes, samples_by_name.items(), strict=True):
        points = _to_numpy(samples)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(
                f"samples of {name!r} must be [N, 2], got shape {list(points.shape)}."
            )
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.3, color="tab:blue")
        ax.scatter(modes[:, 0], modes[:, 1], s=30, marker="x", color="tab:red")
        ax.set_xlim(-radius, radius)
        ax.set_ylim(-radius, radius)
        ax.set_aspect("equal")
        ax.set_title(name)
    _save(figure, path)


def plot_class_histograms(
    hist_by_name: Mapping[str, npt.ArrayLike],
    data_hist: npt.ArrayLike,
    path: str | os.PathLike[str],
    num_classes: int,
) -> None:
    """Plot normalised class histograms of several models against the data's.

    Each model gets a panel with its class frequencies and, in outline, those
    of the data. Up to 100 classes are drawn as bars, more (StackedMNIST's
    1000) as step lines.

    Parameters
    ----------
    hist_by_name : mapping of str to array
        Panel title to class counts ``[num_classes]``.
    data_hist : array-like
        Class counts of the data ``[num_classes]``.
    path : path-like
        Output image file.
    num_classes : int
        Number of classes.
    """
    if not hist_by_name:
        raise ValueError("hist_by_name is empty; pass at least one named histogram.")
    reference = _frequencies(data_hist, num_classes, "data_hist")
    classes = np.arange(num_classes)

    figure, axes = _new_figure(len(hist_by_name))
    for ax, (name, counts) in zip(axes, hist_by_name.items(), strict=True):
        frequencies = _frequencies(counts, num_classes, f"histogram of {name!r}")
        if num_classes <= 100:
            ax.bar(classes, frequencies, color="tab:blue", label="generated")
            ax.step(classes, reference, where="mid", color="black", label="data")
            if num_classes <= 10:
                ax.set_xticks(classes)
        else:
            ax.step(
                classes, frequencies, where="mid", color="tab:blue", label="generated"
            )
            ax.step(
                classes, reference, where="mid", color="black", lw=0.5, label="data"
            )
        ax.set_xlabel("class")
        ax.set_ylabel("frequency")
        ax.set_title(name, fontsize="small", wrap=True)
        ax.legend(fontsize="x-small", loc="upper left")
    _save(figure, path)


def _frequencies(counts: npt.ArrayLike, num_classes: int, name: str) -> np.ndarray:
    array = np.asarray(counts, dtype=np.float64)
    if array.shape != (num_classes,):
        raise ValueError(
            f"{name} must have shape [{num_classes}], got {list(array.shape)}."
        )
    total = array.sum()
    return array / total if total > 0 else array


def images_to_grid(
    images: npt.ArrayLike | torch.Tensor, nrow: int = 8, padding: int = 2
) -> np.ndarray:
    """Tile images ``[B, C, H, W]`` in [-1, 1] into one uint8 picture.

    The grid has ``ncol = min(nrow, B)`` images per row and ``ceil(B / ncol)``
    rows, separated and framed by ``padding`` black pixels, so its size is
    ``rows * (H + padding) + padding`` by ``ncol * (W + padding) + padding``.

    Returns
    -------
    np.ndarray
        uint8 array ``[height, width]`` for C = 1 or ``[height, width, 3]`` for C = 3.
    """
    batch = _to_numpy(images).astype(np.float64)
    if batch.ndim != 4 or batch.shape[1] not in (1, 3) or batch.shape[0] == 0:
        raise ValueError(
            f"images must be [B, C, H, W] with B >= 1 and C in (1, 3), "
            f"got shape {list(batch.shape)}."
        )
    if nrow < 1 or padding < 0:
        raise ValueError(f"nrow must be >= 1 and padding >= 0, got {nrow}, {padding}.")
    count, channels, height, width = batch.shape
    num_cols = min(nrow, count)
    num_rows = math.ceil(count / num_cols)
    pixels = np.round((np.clip(batch, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)

    grid = np.zeros(
        (
            num_rows * (height + padding) + padding,
            num_cols * (width + padding) + padding,
            channels,
        ),
        dtype=np.uint8,
    )
    for index in range(count):
        row, col = divmod(index, num_cols)
        top = padding + row * (height + padding)
        left = padding + col * (width + padding)
        grid[top : top + height, left : left + width] = pixels[index].transpose(1, 2, 0)
    return grid[..., 0] if channels == 1 else grid


def save_image_grid(
    images: npt.ArrayLike | torch.Tensor,
    path: str | os.PathLike[str],
    nrow: int = 8,
    padding: int = 2,
) -> None:
    """Write images ``[B, C, H, W]`` in [-1, 1] as one PNG grid.

    Parameters
    ----------
    images : array-like or torch.Tensor
        Images with C = 1 (grayscale) or C = 3 (RGB); values are clipped to [-1, 1].
    path : path-like
        Output PNG file; parent folders are created.
    nrow : int
        Images per row.
    padding : int
        Black pixels between and around images (see `images_to_grid`).
    """
    from PIL import Image

    grid = images_to_grid(images, nrow=nrow, padding=padding)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path, format="PNG")
