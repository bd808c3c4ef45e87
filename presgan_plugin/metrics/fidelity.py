"""FID, KID, Inception Score and precision/recall through torch-fidelity.

Two feature extractors:

- ``"inception"``: torch-fidelity's InceptionV3 (``inception-v3-compat``),
  which needs its pretrained weights file. :func:`resolve_inception_weights`
  finds it (an explicit path, or torch hub's cache) and checks it before any
  heavy work: a missing file, an empty one or one whose SHA-256 does not
  match the name's hash prefix raises :class:`WeightsError` naming the file,
  the URL and the fix.
- ``"classifier"``: the package's MNIST digit classifier
  (:mod:`presgan_plugin.metrics.classifier`), registered with torch-fidelity
  as :data:`CLASSIFIER_EXTRACTOR_NAME`. Its ``"features"`` are the 128 units
  before the last layer (FID, KID, precision/recall) and its
  ``"logits_unbiased"`` the 10 digit logits (the "Inception" Score of digit
  data). For 3-channel StackedMNIST each channel is read as a digit:
  features are concatenated (384) and the logits are the 1000 joint log
  probabilities log p(r) + log p(g) + log p(b).

The statistics themselves (Frechet distance, polynomial-kernel MMD, the
score, k-NN precision/recall) are torch-fidelity's functions; features of
the reference data are extracted once and reused for every generator.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from torch_fidelity import FeatureExtractorBase, register_feature_extractor
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torch_fidelity.metric_fid import (
    KEY_METRIC_FID,
    fid_featuresdict_to_statistics,
    fid_statistics_to_metric,
)
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, isc_featuresdict_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_featuresdict_to_metric
from torch_fidelity.metric_prc import (
    KEY_METRIC_PRECISION,
    KEY_METRIC_RECALL,
    prc_featuresdict_to_metric,
)
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

from presgan_plugin.metrics.classifier import MNISTClassifier

CLASSIFIER_EXTRACTOR_NAME = "presgan-mnist-classifier"
INCEPTION_EXTRACTOR_NAME = "inception-v3-compat"
FEATURE_KINDS = ("classifier", "inception")
FIDELITY_METRICS = ("fid", "kid", "isc", "prc")
INCEPTION_WEIGHTS_NAME = Path(URL_INCEPTION_V3).name
_HASH_PREFIX = re.compile(r"-([0-9a-f]{8,})\.")
MIN_INCEPTION_BYTES = 50_000_000  # the genuine file is about 95 MB
DEFAULT_KID_SUBSETS = 100
DEFAULT_KID_SUBSET_SIZE = 1000


class WeightsError(ValueError):
    """A feature extractor's weights file is missing or damaged."""


# ------------------------------------------------------- classifier features


class ClassifierFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity feature extractor backed by the MNIST digit classifier.

    Takes ``uint8`` images ``[B, C, H, W]`` with C = 1 (digits) or 3
    (StackedMNIST, one digit per channel). Built by torch-fidelity as
    ``cls(name, features_list, classifier=model)``.
    """

    def __init__(
        self,
        name: str,
        features_list: list[str],
        classifier: nn.Module | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, features_list)
        if not isinstance(classifier, MNISTClassifier):
            raise TypeError(
                f"feature extractor {name!r} needs classifier=<MNISTClassifier>; "
                f"got {type(classifier).__name__}"
            )
        self.classifier = classifier.eval().requires_grad_(False)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        """Names of the features this extractor provides."""
        return ("features", "logits_unbiased")

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        """``logits_unbiased`` for the score, ``features`` for the rest."""
        return "logits_unbiased" if metric == "isc" else "features"

    @staticmethod
    def can_be_compiled() -> bool:
        """Not compiled (small network)."""
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        """A dummy input batch."""
        return torch.zeros(1, 1, 28, 28, dtype=torch.uint8)

    def forward(self, input: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Features of a uint8 batch, in the order of ``features_list``."""
        if input.dim() != 4 or input.shape[1] not in (1, 3):
            raise ValueError(
                f"{self.name} expects uint8 images [B, 1 or 3, H, W]; got "
                f"{list(input.shape)}"
            )
        batch, channels = input.shape[:2]
        digits = input.float().reshape(batch * channels, 1, *input.shape[2:])
        digits = digits / 127.5 - 1.0
        model = self.classifier
        hidden = model.head[:-1](model.features(_resize(digits)))  # [B * C, 128]
        log_p = F.log_softmax(model.head[-1](hidden), dim=1)  # [B * C, 10]
        features = hidden.reshape(batch, -1)
        if channels == 1:
            logits = log_p
        else:
            per_channel = log_p.reshape(batch, 3, 10)
            logits = (
                per_channel[:, 0, :, None, None]
                + per_channel[:, 1, None, :, None]
                + per_channel[:, 2, None, None, :]
            ).reshape(batch, 1000)
        named = {"features": features, "logits_unbiased": logits}
        return tuple(named[name] for name in self.features_list)


def _resize(images: torch.Tensor) -> torch.Tensor:
    if images.shape[-2:] == (28, 28):
        return images
    return F.interpolate(images, size=(28, 28), mode="bilinear", antialias=True)


if CLASSIFIER_EXTRACTOR_NAME not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(CLASSIFIER_EXTRACTOR_NAME, ClassifierFeatureExtractor)


# --------------------------------------------------------- inception weights


def inception_cache_path() -> Path:
    """Where torch hub caches the InceptionV3 weights (honours ``$TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_NAME


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_weights_file(path: Path, *, option: str = "--inception-weights") -> None:
    """Raise :class:`WeightsError` if ``path`` is empty, cut short or corrupt.

    A file named like torch hub's downloads (``name-<hash prefix>.pth``) must
    have a SHA-256 starting with that prefix; the canonical InceptionV3 file
    must also be at least :data:`MIN_INCEPTION_BYTES` long.
    """
    size = path.stat().st_size
    fix = (
        f"delete {path} and fetch it again from {URL_INCEPTION_V3} (or pass "
        f"{option} PATH to an intact copy)"
    )
    if size == 0:
        raise WeightsError(f"weights file {path} is empty (0 bytes); {fix}")
    if path.name == INCEPTION_WEIGHTS_NAME and size < MIN_INCEPTION_BYTES:
        raise WeightsError(
            f"weights file {path} is truncated ({size} bytes, expected about 95 MB); "
            f"{fix}"
        )
    match = _HASH_PREFIX.search(path.name)
    if match is not None:
        prefix = match.group(1)
        actual = _sha256(path)
        if not actual.startswith(prefix):
            raise WeightsError(
                f"weights file {path} is damaged: its SHA-256 starts with "
                f"{actual[: len(prefix)]}, the name says {prefix} ({size} bytes); "
                f"{fix}"
            )


def resolve_inception_weights(
    path: str | os.PathLike[str] | None = None, *, allow_download: bool = False
) -> Path | None:
    """The InceptionV3 weights file to use, checked; fails fast when absent.

    Parameters
    ----------
    path
        An explicit weights file (``--inception-weights``).
    allow_download
        When no file is given or cached, return ``None`` so torch-fidelity
        downloads it into the cache; otherwise raise.

    Raises
    ------
    WeightsError
        Naming the file or cache path, the URL and how to provide the weights.
    """
    if path is not None:
        weights = Path(path).expanduser()
        if not weights.is_file():
            raise WeightsError(
                f"--inception-weights {weights}: no such file; download "
                f"{URL_INCEPTION_V3} and pass its path"
            )
        check_weights_file(weights)
        return weights
    cached = inception_cache_path()
    if cached.is_file():
        check_weights_file(cached)
        return cached
    if allow_download:
        return None
    raise WeightsError(
        f"the Inception features need the InceptionV3 weights, which are not in the "
        f"cache ({cached}). Provide them with --inception-weights PATH (a copy of "
        f"{URL_INCEPTION_V3}), or put that file at {cached}, or allow the download "
        "with --download-weights, or use --features classifier for digit data"
    )


# --------------------------------------------------------------- scoring


class _ImageDataset(Dataset[torch.Tensor]):
    """uint8 images ``[N, C, H, W]`` served one by one, 3 channels if asked."""

    def __init__(self, images: torch.Tensor, rgb: bool) -> None:
        self.images = images
        self.rgb = rgb

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.images[index]
        if self.rgb and image.shape[0] == 1:
            image = image.expand(3, *image.shape[1:])
        return image


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] to ``uint8`` in [0, 255] (rounded, clamped)."""
    return ((images.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


class FidelityScorer:
    """Scores generated images against reference images with torch-fidelity.

    Parameters
    ----------
    metrics
        Any of ``"fid"``, ``"kid"``, ``"isc"``, ``"prc"``.
    features
        ``"classifier"`` (needs ``classifier``) or ``"inception"``.
    reference
        Reference images ``[N, C, H, W]`` in [-1, 1]; their features are
        extracted once, here.
    classifier
        The MNIST digit classifier for ``features="classifier"``.
    inception_weights
        Checked weights file for ``features="inception"`` (None: torch-fidelity
        downloads it into the cache).
    device
        Where features are computed (CUDA or CPU).
    batch_size
        Images per feature batch.
    kid_subsets, kid_subset_size
        KID's subsets; the size is clamped to the sample counts with a warning.
    seed
        Seed of KID's subsets and the score's shuffle.
    """

    def __init__(
        self,
        metrics: list[str] | tuple[str, ...],
        features: str,
        reference: torch.Tensor,
        *,
        classifier: nn.Module | None = None,
        inception_weights: Path | None = None,
        device: torch.device | str = "cpu",
        batch_size: int = 64,
        kid_subsets: int = DEFAULT_KID_SUBSETS,
        kid_subset_size: int = DEFAULT_KID_SUBSET_SIZE,
        seed: int = 0,
    ) -> None:
        unknown = sorted(set(metrics) - set(FIDELITY_METRICS))
        if unknown:
            raise ValueError(
                f"unknown fidelity metric(s) {unknown}; expected {FIDELITY_METRICS}"
            )
        if features not in FEATURE_KINDS:
            raise ValueError(
                f"features must be one of {FEATURE_KINDS}; got {features!r}"
            )
        self.metrics = tuple(metrics)
        self.features = features
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.kid_subsets = int(kid_subsets)
        self.kid_subset_size = int(kid_subset_size)
        self.seed = int(seed)
        cuda = self.device.type == "cuda"
        if features == "classifier":
            if classifier is None:
                raise ValueError("features='classifier' needs the digit classifier")
            self.extractor_name = CLASSIFIER_EXTRACTOR_NAME
            layers = ["features", "logits_unbiased"]
            self.extractor = create_feature_extractor(
                CLASSIFIER_EXTRACTOR_NAME,
                layers,
                cuda=cuda,
                verbose=False,
                classifier=classifier.cpu(),
            )
        else:
            self.extractor_name = INCEPTION_EXTRACTOR_NAME
            layers = ["2048", "logits_unbiased"]
            self.extractor = create_feature_extractor(
                INCEPTION_EXTRACTOR_NAME,
                layers,
                cuda=cuda,
                verbose=False,
                feature_extractor_weights_path=(
                    str(inception_weights) if inception_weights is not None else None
                ),
            )
        self.layer = layers[0]
        self.reference = self._featuresdict(reference)

    def _featuresdict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        dataset = _ImageDataset(
            to_uint8(images.cpu()), rgb=self.features == "inception"
        )
        features = get_featuresdict_from_dataset(
            dataset,
            self.extractor,
            self.batch_size,
            self.device.type == "cuda",
            True,  # save_cpu_ram: no worker processes
            False,  # verbose
        )
        # float64 keeps KID's cubic kernel and the covariances exact enough.
        return {name: value.double() for name, value in features.items()}

    def score(self, images: torch.Tensor) -> dict[str, float]:
        """Scores of generated images ``[N, C, H, W]`` in [-1, 1].

        Keys: ``fid``; ``kid`` (mean) and ``kid_std``; ``isc`` and ``isc_std``;
        ``precision`` and ``recall``, for the metrics asked for.
        """
        generated = self._featuresdict(images)
        kwargs: dict[str, Any] = {"verbose": False, "rng_seed": self.seed}
        scores: dict[str, float] = {}
        if "fid" in self.metrics:
            statistics_1 = fid_featuresdict_to_statistics(generated, self.layer)
            statistics_2 = fid_featuresdict_to_statistics(self.reference, self.layer)
            fid = fid_statistics_to_metric(statistics_1, statistics_2, False)
            scores["fid"] = fid[KEY_METRIC_FID]
        if "kid" in self.metrics:
            num_generated = len(generated[self.layer])
            num_reference = len(self.reference[self.layer])
            subset_size = min(self.kid_subset_size, num_generated, num_reference)
            if subset_size < self.kid_subset_size:
                warnings.warn(
                    f"KID subset size {self.kid_subset_size} (--kid-subset-size) is "
                    f"larger than the samples ({num_generated} generated, "
                    f"{num_reference} reference); using {subset_size}",
                    UserWarning,
                    stacklevel=2,
                )
            kid = kid_featuresdict_to_metric(
                generated,
                self.reference,
                self.layer,
                kid_subsets=self.kid_subsets,
                kid_subset_size=subset_size,
                **kwargs,
            )
            scores["kid"] = kid[KEY_METRIC_KID_MEAN]
            # Subsets as large as the whole set are all the same set: no spread.
            is_whole_set = subset_size >= min(num_generated, num_reference)
            scores["kid_std"] = (
                float("nan") if is_whole_set else kid["kernel_inception_distance_std"]
            )
        if "isc" in self.metrics:
            isc = isc_featuresdict_to_metric(
                generated,
                "logits_unbiased",
                isc_splits=10,
                samples_shuffle=True,
                **kwargs,
            )
            scores["isc"] = isc[KEY_METRIC_ISC_MEAN]
            scores["isc_std"] = isc["inception_score_std"]
        if "prc" in self.metrics:
            prc = prc_featuresdict_to_metric(
                generated,
                self.reference,
                self.layer,
                prc_neighborhood=3,
                prc_batch_size=10_000,
                save_cpu_ram=False,
                **kwargs,
            )
            scores["precision"] = prc[KEY_METRIC_PRECISION]
            scores["recall"] = prc[KEY_METRIC_RECALL]
        return scores
