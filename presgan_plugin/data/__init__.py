"""Training data: MNIST and its mode-counting variants, the ring, user images."""

from presgan_plugin.data.datasets import (
    DATASET_NAMES,
    DEFAULT_IMAGE_RESOLUTION,
    ImageDataset,
    PointDataset,
    build_dataset,
    resize_images,
)
from presgan_plugin.data.errors import DataError
from presgan_plugin.data.image_folder import IMAGE_SUFFIXES, load_image_folder
from presgan_plugin.data.mnist import load_mnist, read_idx
from presgan_plugin.data.ring import ring_centers, sample_ring
from presgan_plugin.data.variants import (
    NUM_STACKED_MODES,
    imbalance_fractions,
    imbalanced_counts,
    make_imbalanced_mnist,
    make_stacked_mnist,
)

__all__ = [
    "DATASET_NAMES",
    "DEFAULT_IMAGE_RESOLUTION",
    "IMAGE_SUFFIXES",
    "NUM_STACKED_MODES",
    "DataError",
    "ImageDataset",
    "PointDataset",
    "build_dataset",
    "imbalance_fractions",
    "imbalanced_counts",
    "load_image_folder",
    "load_mnist",
    "make_imbalanced_mnist",
    "make_stacked_mnist",
    "read_idx",
    "resize_images",
    "ring_centers",
    "sample_ring",
]
