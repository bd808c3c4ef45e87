"""MNIST variants for measuring mode coverage: StackedMNIST and imbalanced MNIST."""

from __future__ import annotations

import numpy as np

from presgan_plugin.data.mnist import NUM_DIGITS

NUM_STACKED_MODES = NUM_DIGITS**3  # one mode per (red, green, blue) digit triple
MAX_IMBALANCE_LEVEL = 9


def _check_digits(images: np.ndarray, labels: np.ndarray) -> None:
    """Raise ValueError unless images are ``[N, H, W]`` with N labels."""
    if images.ndim != 3:
        raise ValueError(
            f"images: expected shape [N, H, W] (one grey digit per row), found "
            f"shape {list(images.shape)}."
        )

    if labels.shape != (len(images),):
        raise ValueError(
            f"labels: expected shape [{len(images)}] (one per image), found shape "
            f"{list(labels.shape)}."
        )


def make_stacked_mnist(
    images: np.ndarray, labels: np.ndarray, num_samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stack three independently drawn digits as the R, G and B channels.

    Each sample draws three indices uniformly, with replacement and
    independently, from the ``N`` source digits, and stacks those digits as
    its red, green and blue channels. Its label is
    ``100 * d_R + 10 * d_G + d_B``, one of 1,000 modes.

    Parameters
    ----------
    images : np.ndarray
        ``uint8`` grey digits, ``[N, H, W]``.
    labels : np.ndarray
        Digit classes 0..9, ``[N]``.
    num_samples : int
        How many stacked images to make.
    seed : int
        Seed of the `numpy.random.Generator` that draws the indices; the same
        seed gives the same samples.

    Returns
    -------
    stacked_images : np.ndarray
        ``uint8``, ``[num_samples, 3, H, W]``.
    stacked_labels : np.ndarray
        ``int64``, ``[num_samples]``, values in 0..999.

    Raises
    ------
    ValueError
        If the shapes disagree, `images` is empty or `num_samples` is negative.
    """
    _check_digits(images, labels)
    if len(images) == 0:
        raise ValueError("images: expected at least one digit to stack, found none.")

    if num_samples < 0:
        raise ValueError(f"num_samples: expected >= 0, found {num_samples}.")

    rng = np.random.default_rng(seed)
    indices = rng.integers(0, len(images), size=(num_samples, 3))  # [N, RGB]
    stacked_images = np.asarray(images, dtype=np.uint8)[indices]  # [N, 3, H, W]
    digits = np.asarray(labels, dtype=np.int64)[indices]  # [N, 3]
    stacked_labels = digits @ np.array([100, 10, 1], dtype=np.int64)
    return stacked_images, stacked_labels


def imbalance_fractions(level: int) -> np.ndarray:
    """Return the fraction of its images that each digit keeps at `level`.

    Digit ``d`` keeps ``0.5 ** (level * d / 9)``: digit 0 keeps all of its
    images, digit 9 keeps ``0.5 ** level``, and the fractions between fall
    geometrically. Level 0 is balanced.

    Parameters
    ----------
    level : int
        Imbalance level, 0..9.

    Returns
    -------
    np.ndarray
        ``float64``, ``[10]``, the fraction for digits 0..9.

    Raises
    ------
    TypeError
        If `level` is not an integer.
    ValueError
        If `level` is outside 0..9.
    """
    if isinstance(level, bool) or not isinstance(level, int | np.integer):
        raise TypeError(f"level: expected an int in 0..9, found {type(level)}.")

    if not 0 <= level <= MAX_IMBALANCE_LEVEL:
        raise ValueError(
            f"level: expected an imbalance level in 0..{MAX_IMBALANCE_LEVEL}, "
            f"found {level}."
        )

    digits = np.arange(NUM_DIGITS, dtype=np.float64)
    return 0.5 ** (level * digits / 9)


def imbalanced_counts(class_sizes: np.ndarray, level: int) -> np.ndarray:
    """Return how many images each digit keeps, given how many it has.

    ``count[d] = max(1, floor(class_sizes[d] * fraction[d] + 0.5))``, that is
    the kept fraction rounded half up, with at least one image per digit that
    has any. A digit with no images keeps none.
    """
    class_sizes = np.asarray(class_sizes, dtype=np.int64)
    counts = np.floor(class_sizes * imbalance_fractions(level) + 0.5).astype(np.int64)
    return np.where(class_sizes > 0, np.maximum(counts, 1), 0)


def make_imbalanced_mnist(
    images: np.ndarray, labels: np.ndarray, level: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Keep a geometrically shrinking share of each digit class.

    Digit ``d`` with ``n_d`` images keeps
    ``max(1, floor(n_d * 0.5 ** (level * d / 9) + 0.5))`` of them: the
    fraction of `imbalance_fractions`, rounded half up, and never fewer than
    one image (a digit with no images stays empty). Which images are kept is
    a uniformly random subset per digit, drawn from a
    `numpy.random.Generator` seeded with `seed`. The kept images keep their
    order in the input. Level 0 keeps everything.

    Parameters
    ----------
    images : np.ndarray
        Digits, ``[N, H, W]`` (or any ``[N, ...]``).
    labels : np.ndarray
        Digit classes 0..9, ``[N]``.
    level : int
        Imbalance level, 0..9.
    seed : int
        Seed for the choice of kept images.

    Returns
    -------
    kept_images : np.ndarray
        ``[M, ...]``, same dtype as `images`.
    kept_labels : np.ndarray
        ``int64``, ``[M]``.

    Raises
    ------
    ValueError
        If the level is outside 0..9, labels are outside 0..9 or the number
        of labels differs from the number of images.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(images),):
        raise ValueError(
            f"labels: expected shape [{len(images)}] (one per image), found shape "
            f"{list(labels.shape)}."
        )

    if labels.size and (labels.min() < 0 or labels.max() >= NUM_DIGITS):
        raise ValueError(
            f"labels: expected digit classes in 0..{NUM_DIGITS - 1}, found values "
            f"from {labels.min()} to {labels.max()}."
        )

    class_sizes = np.bincount(labels, minlength=NUM_DIGITS)
    counts = imbalanced_counts(class_sizes, level)
    rng = np.random.default_rng(seed)
    kept = [
        rng.permutation(np.flatnonzero(labels == digit))[: counts[digit]]
        for digit in range(NUM_DIGITS)
    ]
    kept_indices = np.sort(np.concatenate(kept))
    return images[kept_indices], labels[kept_indices]
