"""Mode coverage and KL divergence of class histograms (MNIST, StackedMNIST).

Dieng et al. (2019), Section 5.2, score a generator on MNIST and
StackedMNIST by labelling samples with a pretrained classifier, then
counting the classes that appear and the KL divergence between the class
histogram of the samples and that of the data.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

EMPTY_BIN_PROBABILITY = 1e-10
"""Stand-in for q_k = 0 where p_k > 0 in `kl_divergence`, so the KL is finite."""

LabelsLike = npt.ArrayLike | torch.Tensor


def _as_labels(labels: LabelsLike, num_classes: int, name: str) -> np.ndarray:
    """Integer labels as a 1-D int64 array, checked to lie in ``0..num_classes-1``."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {list(array.shape)}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {array.dtype}.")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(
            f"{name} must lie in 0..{num_classes - 1}, "
            f"found {array.min()}..{array.max()}."
        )
    return array


def class_histogram(labels: LabelsLike, num_classes: int) -> np.ndarray:
    """Number of samples in each class.

    Parameters
    ----------
    labels : array-like or torch.Tensor
        Integer labels ``[N]`` in ``0..num_classes-1``.
    num_classes : int
        Number of classes (10 for MNIST, 1000 for StackedMNIST).

    Returns
    -------
    np.ndarray
        int64 counts ``[num_classes]``.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}.")
    return np.bincount(_as_labels(labels, num_classes, "labels"), minlength=num_classes)


def count_modes(labels: LabelsLike, num_classes: int, min_count: int = 1) -> int:
    """Number of classes that hold at least ``min_count`` samples.

    A class counts as a captured mode when at least ``min_count`` of the
    labels equal it. With the default ``min_count=1`` one sample suffices, as
    in Dieng et al. (2019) and PacGAN's StackedMNIST protocol.

    Parameters
    ----------
    labels : array-like or torch.Tensor
        Integer labels ``[N]`` in ``0..num_classes-1``.
    num_classes : int
        Number of classes.
    min_count : int
        Samples a class needs to count as covered.

    Returns
    -------
    int
        Number of covered classes, in ``0..num_classes``.
    """
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}.")
    return int((class_histogram(labels, num_classes) >= min_count).sum())


def kl_divergence(p_counts: npt.ArrayLike, q_counts: npt.ArrayLike) -> float:
    """KL(p || q) between two histograms after normalising each to sum 1.

    With p the histogram of generated samples and q that of the data,

    .. math:: \\mathrm{KL}(p \\| q) = \\sum_k p_k \\log(p_k / q_k)

    in nats. Terms with p_k = 0 contribute 0. Where p_k > 0 but q_k = 0 the
    KL is infinite; q_k is then replaced by ``EMPTY_BIN_PROBABILITY``
    (1e-10), so such a bin adds about ``p_k * 23`` nats.

    Parameters
    ----------
    p_counts : array-like
        Non-negative counts (or weights) of the generated samples ``[K]``.
    q_counts : array-like
        Non-negative counts of the data ``[K]``.

    Returns
    -------
    float
        The divergence, >= 0 up to rounding.
    """
    p = np.asarray(p_counts, dtype=np.float64)
    q = np.asarray(q_counts, dtype=np.float64)
    if p.ndim != 1 or p.shape != q.shape:
        raise ValueError(
            "p_counts and q_counts must be 1-D of the same length, got shapes "
            f"{list(p.shape)} and {list(q.shape)}."
        )
    for name, counts in (("p_counts", p), ("q_counts", q)):
        if (counts < 0).any() or not np.isfinite(counts).all() or counts.sum() <= 0:
            raise ValueError(
                f"{name} must be finite, non-negative and not all zero; got {counts}."
            )
    p = p / p.sum()
    q = q / q.sum()
    support = p > 0
    q_safe = np.maximum(q[support], EMPTY_BIN_PROBABILITY)
    return float(np.sum(p[support] * np.log(p[support] / q_safe)))


def mode_scores(
    generated_labels: LabelsLike,
    data_labels: LabelsLike,
    num_classes: int,
    *,
    min_count: int = 1,
) -> dict[str, float]:
    """Modes covered by generated samples and the KL to the data histogram.

    Parameters
    ----------
    generated_labels : array-like or torch.Tensor
        Classifier labels of the generated samples ``[N]``.
    data_labels : array-like or torch.Tensor
        Labels of the data ``[M]`` (the reference histogram q).
    num_classes : int
        Number of classes (10 or 1000).
    min_count : int
        Samples a class needs to count as covered (see `count_modes`).

    Returns
    -------
    dict
        ``modes`` (number of covered classes) and ``kl`` (KL(generated || data),
        see `kl_divergence`).
    """
    generated = class_histogram(generated_labels, num_classes)
    data = class_histogram(data_labels, num_classes)
    return {
        "modes": count_modes(generated_labels, num_classes, min_count),
        "kl": kl_divergence(generated, data),
    }
