"""Scores of a trained built-in host: modes and KL, as in VEEGAN and PacGAN.

- MNIST and imbalanced MNIST: a digit classifier labels generated samples;
  modes captured (of 10) and KL(generated histogram || data histogram).
- StackedMNIST: each channel classified; modes of 1000 and the KL.
- Ring: modes captured, share of high-quality samples, KL to uniform.

Samples are the generator's means mu(z) (the noise-free images).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from presgan_plugin.data import load_mnist, ring_centers
from presgan_plugin.metrics import (
    classify,
    load_or_train_classifier,
    mode_scores,
    plot_class_histograms,
    plot_ring_samples,
    ring_scores,
)
from presgan_plugin.train.config import TrainConfig

LOG = logging.getLogger(__name__)

EVAL_BATCH_SIZE = 500


def data_histogram_labels(dataset: Dataset) -> np.ndarray:
    """The training set's labels, for the data histogram."""
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise ValueError("this dataset has no labels to score modes against")
    return np.asarray(labels)


def classifier_for(config: TrainConfig, device: torch.device) -> tuple[Any, float]:
    """The cached digit classifier for the MNIST the run uses."""
    images, labels = load_mnist(config.data)
    key = "mnist-embedded" if config.data is None else f"mnist-{Path(config.data).name}"
    return load_or_train_classifier(key, images, labels, seed=0, device=device)


def score_images(
    config: TrainConfig,
    samples: torch.Tensor,
    dataset: Dataset,
    device: torch.device,
    plot_path: Path | None = None,
) -> dict[str, float]:
    """Modes and KL of generated images ``[N, C, H, W]`` in [-1, 1]."""
    classifier, accuracy = classifier_for(config, device)
    generated = classify(classifier, samples.to(device), EVAL_BATCH_SIZE).cpu()
    num_classes = 1000 if config.dataset == "stackedmnist" else 10
    data_labels = data_histogram_labels(dataset)
    scores = dict(mode_scores(generated.numpy(), data_labels, num_classes))
    scores["classifier_accuracy"] = accuracy
    scores["num_samples"] = float(len(samples))
    if plot_path is not None:
        plot_class_histograms(
            {config.model: np.bincount(generated.numpy(), minlength=num_classes)},
            np.bincount(data_labels, minlength=num_classes),
            plot_path,
            num_classes,
        )
    return scores


def score_points(
    config: TrainConfig, samples: torch.Tensor, plot_path: Path | None = None
) -> dict[str, float]:
    """Ring scores of generated points ``[N, 2]``."""
    centers = ring_centers(config.ring_num_modes, config.ring_radius)
    scores = dict(ring_scores(samples.cpu(), centers, config.ring_std))
    scores["num_samples"] = float(len(samples))
    if plot_path is not None:
        plot_ring_samples({config.model: samples.cpu()}, centers, plot_path)
    return scores


def score_samples(
    config: TrainConfig,
    samples: torch.Tensor,
    dataset: Dataset,
    device: torch.device,
    run_dir: Path | None = None,
) -> dict[str, float]:
    """The scores that fit the run's dataset (empty for a user's own images)."""
    if config.dataset == "ring":
        plot = run_dir / "ring.png" if run_dir is not None else None
        return score_points(config, samples, plot)
    if config.dataset in ("mnist", "mnist_imbalanced", "stackedmnist"):
        plot = run_dir / "class_histogram.png" if run_dir is not None else None
        return score_images(config, samples, dataset, device, plot)
    LOG.info("no mode metrics for dataset %r; use presgan-compare", config.dataset)
    return {}
