"""Evaluation metrics: mode coverage, KL of class histograms, and figures."""

from presgan_plugin.metrics.classifier import (
    MNISTClassifier,
    classify,
    classify_stacked,
    default_cache_dir,
    load_or_train_classifier,
    train_mnist_classifier,
)
from presgan_plugin.metrics.modes import (
    class_histogram,
    count_modes,
    kl_divergence,
    mode_scores,
)
from presgan_plugin.metrics.plots import (
    images_to_grid,
    plot_class_histograms,
    plot_ring_samples,
    save_image_grid,
)
from presgan_plugin.metrics.ring import ring_scores

__all__ = [
    "MNISTClassifier",
    "class_histogram",
    "classify",
    "classify_stacked",
    "count_modes",
    "default_cache_dir",
    "images_to_grid",
    "kl_divergence",
    "load_or_train_classifier",
    "mode_scores",
    "plot_class_histograms",
    "plot_ring_samples",
    "ring_scores",
    "save_image_grid",
    "train_mnist_classifier",
]
