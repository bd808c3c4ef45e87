"""``presgan-compare``: score two or more generators against the same data.

Every generator is fed the same latents (drawn once from ``--seed``), scored
with the metrics asked for, and drawn on image sheets. Results go to stdout
(an aligned table, or JSON with ``--json``) and to ``--outdir`` as
``scores.md`` and ``scores.json``, beside ``sheet-<name>.png`` per generator,
``sheet-all.png`` side by side, and ``class_histogram.png`` (digit data) or
``ring.png`` (ring data). Progress goes to stderr.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from tqdm import tqdm

from presgan_plugin.data import (
    DataError,
    ImageDataset,
    PointDataset,
    build_dataset,
    load_mnist,
    ring_centers,
)
from presgan_plugin.data.ring import DEFAULT_NUM_MODES, DEFAULT_RADIUS, DEFAULT_STD
from presgan_plugin.generators import (
    GeneratorLoadError,
    LoadedGenerator,
    load_generator,
)

LOG = logging.getLogger(__name__)

DIGIT_DATA = ("mnist", "stackedmnist", "mnist_imbalanced")
NAMED_DATA = (*DIGIT_DATA, "ring")
LOW_ESS_FRACTION = 0.05  # importance weights below this share: warn
SHEET_SIZE = 64  # fixed latents drawn on each sheet
SHEET_SEED_OFFSET = 104_729  # keeps the sheet latents apart from the scored ones
NO_DENSITY = "n/a (no density)"
NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class MetricSpec:
    """A metric ``presgan-compare`` can report."""

    name: str
    columns: tuple[str, ...]
    summary: str
    needs_images: bool = False
    needs_labels: bool = False


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("fid", ("fid",), "Frechet distance (torch-fidelity)", True),
        MetricSpec("kid", ("kid", "kid_std"), "kernel distance (torch-fidelity)", True),
        MetricSpec("isc", ("isc", "isc_std"), "Inception Score (torch-fidelity)", True),
        MetricSpec(
            "prc", ("precision", "recall"), "precision/recall (torch-fidelity)", True
        ),
        MetricSpec("modes", ("modes", "kl"), "modes covered and KL", False, True),
        MetricSpec(
            "loglik",
            ("loglik_nats", "loglik_nats_se", "bits_per_dim", "bits_per_dim_se"),
            "predictive log-likelihood (PresGANs)",
        ),
    )
}


def _metric_list(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    """``--metrics``: a comma list, each checked against :data:`METRICS`."""
    if value.strip() == "auto":
        return ["auto"]
    choice = click.Choice(list(METRICS))
    names = [item.strip() for item in value.split(",") if item.strip()]
    if not names:
        raise click.BadParameter("give at least one metric name", ctx, param)
    return [choice.convert(name, param, ctx) for name in names]


def _auto_metrics(data: str) -> list[str]:
    if data == "ring":
        return ["modes", "loglik"]
    if data in DIGIT_DATA:
        return ["fid", "kid", "isc", "prc", "modes", "loglik"]
    return ["fid", "kid", "prc", "loglik"]


@click.command(
    name="presgan-compare",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.argument("generators", nargs=-1, required=True)
@click.option(
    "--data",
    required=True,
    help="Reference data: mnist, stackedmnist, mnist_imbalanced, ring, or a PATH "
    "to a folder or zip of images.",
)
@click.option(
    "--mnist-path",
    type=click.Path(path_type=Path),
    default=None,
    help="MNIST source for the digit data (IDX folder or .npz); default: the "
    "embedded digits (4,500 training, 500 held out).",
)
@click.option(
    "--imbalance-level", type=click.IntRange(0, 9), default=0, show_default=True
)
@click.option(
    "--metrics",
    default="auto",
    show_default=True,
    callback=_metric_list,
    help=f"Comma list of {', '.join(METRICS)}; auto picks those that fit the data.",
)
@click.option(
    "--features",
    type=click.Choice(["classifier", "inception"]),
    default=None,
    help="Features of fid/kid/isc/prc: the package's MNIST classifier (default "
    "for digit data) or torch-fidelity's InceptionV3 (default otherwise).",
)
@click.option(
    "--inception-weights",
    type=click.Path(path_type=Path),
    default=None,
    help="InceptionV3 weights file (weights-inception-2015-12-05-6726825d.pth); "
    "default: torch hub's cache.",
)
@click.option(
    "--download-weights",
    is_flag=True,
    help="Let torch-fidelity download the InceptionV3 weights when not cached.",
)
@click.option("--num-samples", type=click.IntRange(2), default=1000, show_default=True)
@click.option(
    "--num-reference",
    type=click.IntRange(2),
    default=None,
    help="Reference images or points (default: --num-samples).",
)
@click.option(
    "--loglik-images",
    type=click.IntRange(1),
    default=16,
    show_default=True,
    help="Reference images whose log p(x) is estimated.",
)
@click.option(
    "--importance-samples",
    type=click.IntRange(1),
    default=500,
    show_default=True,
    help="Importance samples per image for the log-likelihood.",
)
@click.option(
    "--kid-subset-size", type=click.IntRange(2), default=1000, show_default=True
)
@click.option("--kid-subsets", type=click.IntRange(1), default=100, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--device", default="auto", show_default=True, help="auto, cpu, cuda[:N]."
)
@click.option(
    "--outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("compare"),
    show_default=True,
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON instead of the table."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def main(
    generators: tuple[str, ...],
    data: str,
    mnist_path: Path | None,
    imbalance_level: int,
    metrics: list[str],
    features: str | None,
    inception_weights: Path | None,
    download_weights: bool,
    num_samples: int,
    num_reference: int | None,
    loglik_images: int,
    importance_samples: int,
    kid_subset_size: int,
    kid_subsets: int,
    batch_size: int,
    seed: int,
    device: str,
    outdir: Path,
    as_json: bool,
    quiet: bool,
) -> None:
    """Compare GENERATORS (run directories or network pickles) on --data."""
    start = time.perf_counter()
    if len(generators) < 2:
        raise click.UsageError(
            f"give two or more generators to compare; got {len(generators)}"
        )
    if metrics == ["auto"]:
        metrics = _auto_metrics(data)
    if features is None:
        features = "classifier" if data in DIGIT_DATA else "inception"
    fidelity_metrics = [m for m in metrics if METRICS[m].needs_images]
    if fidelity_metrics and data == "ring":
        raise click.UsageError(
            f"--metrics {','.join(fidelity_metrics)}: image metrics do not apply to "
            "2-D ring points; use --metrics modes,loglik"
        )
    if fidelity_metrics and features == "classifier" and data not in DIGIT_DATA:
        raise click.UsageError(
            f"--features classifier reads digits, but --data is {data!r}; use "
            "--features inception for other images"
        )
    if "modes" in metrics and data not in NAMED_DATA:
        raise click.UsageError(
            f"--metrics modes needs labelled data (mnist, stackedmnist, "
            f"mnist_imbalanced, ring); --data is {data!r}"
        )

    if data not in NAMED_DATA and not Path(data).exists():
        raise click.BadParameter(
            f"{data}: not a dataset name ({', '.join(NAMED_DATA)}) and no such "
            "folder or zip of images",
            param_hint="--data",
        )

    # Fail fast on missing or damaged weights, before any heavy work.
    weights: Path | None = None
    if fidelity_metrics and features == "inception":
        from presgan_plugin.metrics.fidelity import (
            WeightsError,
            resolve_inception_weights,
        )

        try:
            weights = resolve_inception_weights(
                inception_weights, allow_download=download_weights
            )
        except WeightsError as error:
            raise click.BadParameter(
                str(error), param_hint="--inception-weights"
            ) from None

    torch_device = _device(device)
    progress = not quiet
    loaded = [_load(source, torch_device) for source in generators]
    _check_same_shape(loaded)
    names = _unique_names(loaded)
    reference = _reference_data(
        data,
        loaded[0],
        mnist_path=mnist_path,
        imbalance_level=imbalance_level,
        num_reference=num_reference or num_samples,
        seed=seed,
    )

    latent_dims = {g.latent_dim for g in loaded}
    generator_rng = torch.Generator().manual_seed(seed)
    latents = {
        dim: torch.randn(num_samples, dim, generator=generator_rng)
        for dim in sorted(latent_dims)
    }
    samples = {
        name: _sample(gen, latents[gen.latent_dim], batch_size, torch_device)
        for name, gen in tqdm(
            zip(names, loaded, strict=True),
            total=len(loaded),
            desc="sampling",
            disable=not progress,
        )
    }

    rows: dict[str, dict[str, Any]] = {
        name: {"kind": gen.kind, "source": gen.source}
        for name, gen in zip(names, loaded, strict=True)
    }
    figures: dict[str, str] = {}
    if fidelity_metrics:
        _fidelity(
            rows,
            samples,
            reference,
            fidelity_metrics,
            features,
            weights,
            torch_device,
            batch_size,
            kid_subsets,
            kid_subset_size,
            seed,
            progress,
        )
    if "modes" in metrics:
        figures.update(_modes(rows, samples, reference, outdir, torch_device))
    if "loglik" in metrics:
        _loglik(
            rows,
            names,
            loaded,
            reference,
            loglik_images,
            importance_samples,
            seed,
            torch_device,
            progress,
        )
    if data != "ring":
        figures.update(_sheets(names, loaded, outdir, seed, torch_device))

    columns = [c for m in metrics for c in METRICS[m].columns]
    elapsed = time.perf_counter() - start
    report = {
        "data": data,
        "metrics": metrics,
        "features": features if fidelity_metrics else None,
        "num_samples": num_samples,
        "num_reference": len(reference.values),
        "seed": seed,
        "generators": rows,
        "figures": figures,
        "seconds": elapsed,
    }
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "scores.json").write_text(json.dumps(report, indent=2) + "\n")
    (outdir / "scores.md").write_text(format_markdown(rows, columns) + "\n")
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(format_table(rows, columns))
    if progress:
        click.echo(f"wrote {outdir} in {elapsed:.1f} s", err=True)


# ---------------------------------------------------------------- loading


def _device(name: str) -> torch.device:
    from presgan_plugin.train.loop import resolve_device

    try:
        return resolve_device(name)
    except (ValueError, RuntimeError) as error:
        raise click.BadParameter(str(error), param_hint="--device") from None


def _load(source: str, device: torch.device) -> LoadedGenerator:
    try:
        return load_generator(source, device)
    except GeneratorLoadError as error:
        raise click.BadParameter(str(error), param_hint="GENERATORS") from None


def _check_same_shape(loaded: list[LoadedGenerator]) -> None:
    first = loaded[0]
    for other in loaded[1:]:
        if other.output_shape != first.output_shape:
            raise click.UsageError(
                f"generators make samples of different shapes: {first.source} makes "
                f"{_shape_text(first.output_shape)}, {other.source} makes "
                f"{_shape_text(other.output_shape)}; compare generators trained at "
                "the same resolution and channel count"
            )


def _shape_text(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"{shape[1]}x{shape[2]} images with {shape[0]} channel(s)"
    return f"{shape[0]}-D points"


def _unique_names(loaded: list[LoadedGenerator]) -> list[str]:
    names: list[str] = []
    for gen in loaded:
        name, index = gen.name, 2
        while name in names:
            name, index = f"{gen.name}-{index}", index + 1
        names.append(name)
    return names


@dataclass
class Reference:
    """Reference samples, in the generators' format, with labels if known."""

    values: torch.Tensor
    labels: np.ndarray | None
    num_classes: int | None
    data_key: str | None = None
    mnist_path: Path | None = None
    held_out: torch.Tensor | None = None  # test-split images for log p(x)
    data_labels: np.ndarray | None = None  # every training label: the histogram
    centers: torch.Tensor | None = None
    ring_std: float = DEFAULT_STD


def _reference_data(
    data: str,
    generator: LoadedGenerator,
    *,
    mnist_path: Path | None,
    imbalance_level: int,
    num_reference: int,
    seed: int,
) -> Reference:
    """Reference samples matching the generators; errors name both sides."""
    shape = generator.output_shape
    if data == "ring":
        if shape != (2,):
            raise click.UsageError(
                f"--data ring holds 2-D points, but {generator.source} makes "
                f"{_shape_text(shape)}; pass image data (e.g. --data mnist)"
            )
        dataset = build_dataset("ring", num_samples=num_reference, seed=seed)
        assert isinstance(dataset, PointDataset)
        centers = torch.as_tensor(ring_centers(DEFAULT_NUM_MODES, DEFAULT_RADIUS))
        return Reference(
            dataset.points,
            np.asarray(dataset.labels),
            DEFAULT_NUM_MODES,
            centers=centers,
        )
    if len(shape) != 3:
        raise click.UsageError(
            f"--data {data} holds images, but {generator.source} makes "
            f"{_shape_text(shape)}; use --data ring for point generators"
        )
    channels, side = shape[0], shape[-1]
    if data in DIGIT_DATA:
        data_channels = 3 if data == "stackedmnist" else 1
        if channels != data_channels:
            raise click.UsageError(
                f"--data {data} has {data_channels}-channel images, but "
                f"{generator.source} makes {_shape_text(shape)}; compare it on data "
                "with its channel count"
            )
        try:
            dataset = build_dataset(
                data,
                path=mnist_path,
                resolution=side,
                imbalance_level=imbalance_level,
                seed=seed,
            )
        except (DataError, ValueError) as error:
            raise click.BadParameter(str(error), param_hint="--mnist-path") from None
        labels = np.asarray(dataset.labels)
    else:
        path = Path(data)
        if not path.exists():
            raise click.BadParameter(
                f"{data}: not a dataset name ({', '.join(NAMED_DATA)}) and no such "
                "folder or zip of images",
                param_hint="--data",
            )
        native = _native_size(path)
        if native is not None and native != (side, side):
            raise click.UsageError(
                f"--data {path} holds {native[0]}x{native[1]} images, but "
                f"{generator.source} makes {_shape_text(shape)}; resize the images to "
                f"{side}x{side} or compare generators of the data's resolution"
            )
        try:
            dataset = build_dataset(
                "images", path=path, resolution=side, channels=channels
            )
        except (DataError, ValueError) as error:
            raise click.BadParameter(str(error), param_hint="--data") from None
        labels = None
    assert isinstance(dataset, ImageDataset)
    generator_rng = np.random.default_rng(seed)
    count = min(num_reference, len(dataset))
    chosen = np.sort(generator_rng.choice(len(dataset), size=count, replace=False))
    images = dataset.images[torch.as_tensor(chosen)].float() / 127.5 - 1.0
    held_out = (
        _held_out_digits(data, mnist_path, side, seed) if data in DIGIT_DATA else None
    )
    return Reference(
        images,
        labels[chosen] if labels is not None else None,
        dataset.num_classes,
        data_key=data if data in DIGIT_DATA else None,
        mnist_path=mnist_path,
        held_out=held_out,
        data_labels=labels,
    )


def _held_out_digits(
    data: str, mnist_path: Path | None, side: int, seed: int
) -> torch.Tensor | None:
    """Test-split digits in [-1, 1] (stacked for StackedMNIST), or None if none.

    The built-in host trains on the training split only, so these images are
    held out from training; an ``.npz`` source has no test split.
    """
    from presgan_plugin.data import make_stacked_mnist, resize_images

    try:
        images, labels = load_mnist(mnist_path, split="test")
    except (DataError, ValueError):
        return None
    if data == "stackedmnist":
        stacked, _ = make_stacked_mnist(images, labels, len(images), seed)
        batch = torch.from_numpy(stacked)
    else:
        batch = torch.from_numpy(images)[:, None]
    shuffled = batch[
        torch.randperm(len(batch), generator=torch.Generator().manual_seed(seed))
    ]
    return resize_images(shuffled, side).float() / 127.5 - 1.0


def _native_size(path: Path) -> tuple[int, int] | None:
    """Width and height of the first image in a folder or zip (None if none)."""
    import io
    import zipfile

    from PIL import Image

    from presgan_plugin.data import IMAGE_SUFFIXES

    try:
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not files:
                return None
            with Image.open(files[0]) as image:
                return image.size
        with zipfile.ZipFile(path) as archive:
            members = sorted(
                n
                for n in archive.namelist()
                if Path(n).suffix.lower() in IMAGE_SUFFIXES
            )
            if not members:
                return None
            with Image.open(io.BytesIO(archive.read(members[0]))) as image:
                return image.size
    except (OSError, zipfile.BadZipFile):
        return None


# ---------------------------------------------------------------- metrics


def _sample(
    gen: LoadedGenerator, latents: torch.Tensor, batch_size: int, device: torch.device
) -> torch.Tensor:
    """Means mu(z) of the shared latents, on the CPU."""
    with torch.no_grad():
        chunks = [
            gen.mean_fn(chunk.to(device)).cpu() for chunk in latents.split(batch_size)
        ]
    return torch.cat(chunks).float()


def _fidelity(
    rows: dict[str, dict[str, Any]],
    samples: dict[str, torch.Tensor],
    reference: Reference,
    metrics: list[str],
    features: str,
    weights: Path | None,
    device: torch.device,
    batch_size: int,
    kid_subsets: int,
    kid_subset_size: int,
    seed: int,
    progress: bool,
) -> None:
    from presgan_plugin.metrics.fidelity import FidelityScorer

    classifier = _classifier(reference, device) if features == "classifier" else None
    scorer = FidelityScorer(
        metrics,
        features,
        reference.values,
        classifier=classifier,
        inception_weights=weights,
        device=device,
        batch_size=batch_size,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        seed=seed,
    )
    for name, images in tqdm(
        samples.items(), desc=",".join(metrics), disable=not progress
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            rows[name].update(scorer.score(images))
        for warning in caught:
            click.echo(f"warning: {warning.message}", err=True)


def _classifier(reference: Reference, device: torch.device) -> Any:
    from presgan_plugin.metrics import load_or_train_classifier

    images, labels = load_mnist(reference.mnist_path)
    key = (
        "mnist-embedded"
        if reference.mnist_path is None
        else f"mnist-{Path(reference.mnist_path).name}"
    )
    model, _ = load_or_train_classifier(key, images, labels, seed=0, device=device)
    return model


def _modes(
    rows: dict[str, dict[str, Any]],
    samples: dict[str, torch.Tensor],
    reference: Reference,
    outdir: Path,
    device: torch.device,
) -> dict[str, str]:
    from presgan_plugin.metrics import (
        classify,
        mode_scores,
        plot_class_histograms,
        plot_ring_samples,
        ring_scores,
    )

    assert reference.labels is not None and reference.num_classes is not None
    if reference.centers is not None:
        for name, points in samples.items():
            scores = ring_scores(points, reference.centers, reference.ring_std)
            rows[name].update({"modes": scores["modes"], "kl": scores["kl"]})
        path = outdir / "ring.png"
        plot_ring_samples(
            {"data": reference.values, **samples}, reference.centers, path
        )
        return {"ring": str(path)}

    classifier = _classifier(reference, device)
    histograms = {}
    data_labels = (
        reference.data_labels if reference.data_labels is not None else reference.labels
    )
    for name, images in samples.items():
        labels = classify(classifier, images.to(device)).numpy()
        scores = mode_scores(labels, data_labels, reference.num_classes)
        rows[name].update({"modes": scores["modes"], "kl": scores["kl"]})
        histograms[name] = np.bincount(labels, minlength=reference.num_classes)
    path = outdir / "class_histogram.png"
    plot_class_histograms(
        histograms,
        np.bincount(data_labels, minlength=reference.num_classes),
        path,
        reference.num_classes,
    )
    return {"class_histogram": str(path)}


def _loglik(
    rows: dict[str, dict[str, Any]],
    names: list[str],
    loaded: list[LoadedGenerator],
    reference: Reference,
    num_images: int,
    num_importance_samples: int,
    seed: int,
    device: torch.device,
    progress: bool,
) -> None:
    from presgan_plugin.metrics.loglik import (
        LogLikelihoodConfig,
        estimate_log_likelihood,
    )

    config = LogLikelihoodConfig(num_importance_samples=num_importance_samples)
    held_out = reference.held_out is not None
    source = reference.held_out if reference.held_out is not None else reference.values
    images = source[:num_images].to(device)
    for name, gen in zip(names, loaded, strict=True):
        if gen.sigma is None:
            for column in METRICS["loglik"].columns:
                rows[name][column] = NO_DENSITY
            continue
        result = estimate_log_likelihood(
            gen.mean_fn,
            gen.sigma,
            images,
            gen.latent_dim,
            config,
            generator=torch.Generator().manual_seed(seed),
            progress=progress,
        )
        summary = result.summary()
        ess = float(summary["effective_sample_size"])
        if ess < LOW_ESS_FRACTION * num_importance_samples:
            click.echo(
                f"warning: {name}: log-likelihood importance weights have an "
                f"effective sample size of {ess:.1f} of {num_importance_samples}; "
                "the estimate is unreliable (biased low); raise "
                "--importance-samples",
                err=True,
            )
        rows[name].update(
            {
                "loglik_nats": summary["nats_per_image"],
                "loglik_nats_se": summary["nats_se"],
                "bits_per_dim": summary["bits_per_dim"],
                "bits_per_dim_se": summary["bits_per_dim_se"],
                "loglik_mc_se": summary["nats_mc_se"],
                "loglik_ess": summary["effective_sample_size"],
                "loglik_images": int(summary["num_images"]),
                "loglik_data": "held-out test split" if held_out else "training data",
            }
        )


def _sheets(
    names: list[str],
    loaded: list[LoadedGenerator],
    outdir: Path,
    seed: int,
    device: torch.device,
) -> dict[str, str]:
    """One sheet per generator (mu, and mu + sigma * noise beside it), and all."""
    from PIL import Image

    from presgan_plugin.metrics import images_to_grid

    rng = torch.Generator().manual_seed(seed + SHEET_SEED_OFFSET)
    shape = loaded[0].output_shape
    noise = torch.randn(SHEET_SIZE, *shape, generator=rng)
    latents: dict[int, torch.Tensor] = {}
    figures, grids = {}, []
    for name, gen in zip(names, loaded, strict=True):
        if gen.latent_dim not in latents:
            latents[gen.latent_dim] = torch.randn(
                SHEET_SIZE, gen.latent_dim, generator=rng
            )
        means = _sample(gen, latents[gen.latent_dim], SHEET_SIZE, device)
        if gen.sigma is not None:
            noisy = (means + gen.sigma.cpu() * noise).clamp(-1, 1)
            images = torch.cat([means, noisy], dim=-1)  # mu | sample, per cell
        else:
            images = means  # a GAN has no noisy sample to show
        grid = images_to_grid(images, nrow=8)
        path = outdir / f"sheet-{name}.png"
        outdir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(path)
        figures[f"sheet-{name}"] = str(path)
        grids.append(grid)
    gap = np.full((grids[0].shape[0], 8, *grids[0].shape[2:]), 255, dtype=np.uint8)
    combined = np.concatenate([part for g in grids for part in (g, gap)][:-1], axis=1)
    path = outdir / "sheet-all.png"
    Image.fromarray(combined).save(path)
    figures["sheet-all"] = str(path)
    return figures


# ---------------------------------------------------------------- tables


def _cell(value: Any) -> str:
    if value is None:
        return NOT_APPLICABLE
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    return str(value)


def _table_cells(
    rows: dict[str, dict[str, Any]], columns: list[str]
) -> tuple[list[str], list[list[str]]]:
    header = ["generator", "kind", *columns]
    body = [
        [name, str(row.get("kind", ""))] + [_cell(row.get(c)) for c in columns]
        for name, row in rows.items()
    ]
    return header, body


def format_table(rows: dict[str, dict[str, Any]], columns: list[str]) -> str:
    """Aligned plain-text table: one row per generator, one column per metric."""
    header, body = _table_cells(rows, columns)
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [
            cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)
        ]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


def format_markdown(rows: dict[str, dict[str, Any]], columns: list[str]) -> str:
    """The same table in Markdown."""
    header, body = _table_cells(rows, columns)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)
