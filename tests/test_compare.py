"""presgan-compare: loaders, each metric on hand-made cases, and bad inputs."""

import json
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from presgan_plugin.cli.compare import format_markdown, format_table, main
from presgan_plugin.data import load_mnist
from presgan_plugin.generators import (
    GeneratorLoadError,
    load_generator,
)
from presgan_plugin.metrics import classify, load_or_train_classifier, mode_scores
from presgan_plugin.metrics.fidelity import (
    INCEPTION_WEIGHTS_NAME,
    FidelityScorer,
    WeightsError,
    resolve_inception_weights,
)
from presgan_plugin.train.config import TrainConfig
from presgan_plugin.train.loop import train

TINY = dict(
    host="dcgan",
    dataset="mnist",
    resolution=28,
    width=8,
    batch_size=8,
    latent_dim=8,
    num_data_samples=64,
    iters=2,
    tick_iters=2,
    eval_samples=0,
    num_burn_in=1,
    num_posterior_samples=1,
    num_leapfrog_steps=2,
)


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Two tiny runs at 28 px (GAN and PresGAN) and one GAN at 32 px."""
    outdir = tmp_path_factory.mktemp("runs")
    made = {}
    for name, overrides in {
        "gan": dict(model="gan"),
        "presgan": dict(model="presgan"),
        "gan32": dict(model="gan", resolution=32, run_name="gan32"),
    }.items():
        config = TrainConfig(**{**TINY, "outdir": str(outdir), **overrides})
        made[name], _ = train(config, quiet=True)
    return made


@pytest.fixture(scope="session")
def digits():
    """Digit images in [-1, 1], their labels, and the cached classifier."""
    images, labels = load_mnist()
    classifier, _ = load_or_train_classifier(
        "mnist-embedded", images, labels, seed=0, device="cpu"
    )
    pixels = torch.as_tensor(images).float()[:, None] / 127.5 - 1.0
    return pixels, labels, classifier


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# ----------------------------------------------------------------- loaders


def test_run_dir_loader_gives_per_sample_mean_and_sigma(runs):
    presgan = load_generator(runs["presgan"])
    gan = load_generator(runs["gan"])
    assert (presgan.kind, gan.kind) == ("presgan", "gan")
    assert presgan.output_shape == gan.output_shape == (1, 28, 28)
    assert presgan.sigma is not None and presgan.sigma.shape == (1, 28, 28)
    assert gan.sigma is None and not gan.has_density
    latent = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        together = presgan.mean_fn(latent)
        alone = torch.cat([presgan.mean_fn(z[None]) for z in latent])
    assert torch.allclose(together, alone, atol=1e-5)


def test_missing_source_and_unloadable_pickle_have_clear_errors(tmp_path):
    with pytest.raises(GeneratorLoadError, match="no such file or directory"):
        load_generator(tmp_path / "missing-run")
    pickle = tmp_path / "network.pkl"
    pickle.write_bytes(b"not a pickle")
    with pytest.raises(GeneratorLoadError, match="stylegan2 host"):
        load_generator(pickle)


# ----------------------------------------------------------------- metrics


def test_identical_sets_give_zero_fid_and_full_precision_recall(digits):
    pixels, _, classifier = digits
    images = pixels[np.random.default_rng(0).choice(len(pixels), 120, replace=False)]
    scorer = FidelityScorer(
        ["fid", "kid", "prc"],
        "classifier",
        images,
        classifier=classifier,
        kid_subsets=10,
        kid_subset_size=50,
    )
    scores = scorer.score(images)
    assert abs(scores["fid"]) < 1e-6
    assert (scores["precision"], scores["recall"]) == (1.0, 1.0)
    other = scorer.score(pixels[:120])  # all zeros: another distribution
    assert other["fid"] > 10.0
    assert other["kid"] > 10 * abs(scores["kid"])


def test_one_class_set_has_one_mode_and_score_near_one(digits):
    pixels, labels, classifier = digits
    zeros = pixels[labels == 0][:100]
    predicted = classify(classifier, zeros)
    scores = mode_scores(predicted.numpy(), labels, 10)
    assert scores["modes"] == 1
    assert scores["kl"] == pytest.approx(np.log(10), abs=0.05)
    scorer = FidelityScorer(["isc"], "classifier", zeros, classifier=classifier)
    assert scorer.score(zeros)["isc"] == pytest.approx(1.0, abs=0.1)


def test_kid_subset_is_clamped_for_200_vs_200_with_a_warning(digits):
    pixels, _, classifier = digits
    rng = np.random.default_rng(1)
    real = pixels[rng.choice(len(pixels), 200, replace=False)]
    fake = pixels[rng.choice(len(pixels), 200, replace=False)]
    scorer = FidelityScorer(
        ["fid", "kid", "isc", "prc"],
        "classifier",
        real,
        classifier=classifier,
        kid_subsets=5,
        kid_subset_size=1000,
    )
    with pytest.warns(UserWarning, match="--kid-subset-size.*using 200"):
        scores = scorer.score(fake)
    assert set(scores) == {
        "fid",
        "kid",
        "kid_std",
        "isc",
        "isc_std",
        "precision",
        "recall",
    }
    # Every subset is the whole set, so KID has no spread to report.
    assert np.isnan(scores.pop("kid_std"))
    assert all(np.isfinite(v) for v in scores.values())


def test_tables_align_and_render_markdown():
    rows = {
        "a": {"kind": "gan", "fid": 1.23456, "loglik_nats": "n/a (no density)"},
        "bb": {"kind": "presgan", "fid": 10.0, "loglik_nats": -3.5},
    }
    text = format_table(rows, ["fid", "loglik_nats"]).splitlines()
    assert text[0].split() == ["generator", "kind", "fid", "loglik_nats"]
    assert len({len(line) for line in text[:2]}) == 1
    assert text[2].endswith("n/a (no density)")
    assert text[3].split() == ["bb", "presgan", "10", "-3.5"]
    markdown = format_markdown(rows, ["fid"]).splitlines()
    assert markdown[0] == "| generator | kind | fid |"
    assert markdown[2] == "| a | gan | 1.235 |"


# --------------------------------------------------------------------- CLI


def test_compare_two_runs_end_to_end(runs, tmp_path):
    outdir = tmp_path / "out"
    result = invoke(
        runs["gan"],
        runs["presgan"],
        "--data",
        "mnist",
        "--metrics",
        "fid,modes,loglik",
        "--num-samples",
        "60",
        "--loglik-images",
        "2",
        "--importance-samples",
        "20",
        "--outdir",
        outdir,
        "--quiet",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    gan, presgan = report["generators"].values()
    assert gan["loglik_nats"] == "n/a (no density)"
    assert isinstance(presgan["loglik_nats"], float)
    assert presgan["bits_per_dim"] == pytest.approx(
        -presgan["loglik_nats"] / (784 * np.log(2))
    )
    assert 1 <= gan["modes"] <= 10 and gan["fid"] >= 0
    assert json.loads((outdir / "scores.json").read_text())["generators"]
    assert (outdir / "scores.md").read_text().startswith("| generator |")
    for name in ("class_histogram.png", "sheet-all.png"):
        assert (outdir / name).stat().st_size > 0
    assert len(list(outdir.glob("sheet-*.png"))) == 3


def test_missing_run_dir_is_a_usage_error(runs, tmp_path):
    missing = tmp_path / "no-such-run"
    result = invoke(runs["gan"], missing, "--data", "mnist", "--quiet")
    assert result.exit_code == 2
    assert str(missing) in result.output
    assert "no such file or directory" in result.output


def test_one_generator_is_refused(runs):
    result = invoke(runs["gan"], "--data", "mnist", "--quiet")
    assert result.exit_code == 2
    assert "two or more generators" in result.output


def test_generators_of_different_sizes_are_named(runs):
    result = invoke(runs["gan"], runs["gan32"], "--data", "mnist", "--quiet")
    assert result.exit_code == 2
    assert str(runs["gan"]) in result.output and str(runs["gan32"]) in result.output
    assert "28x28" in result.output and "32x32" in result.output


def test_data_of_other_channel_count_names_both(runs):
    result = invoke(runs["gan"], runs["presgan"], "--data", "stackedmnist", "--quiet")
    assert result.exit_code == 2
    assert "--data stackedmnist has 3-channel images" in result.output
    assert str(runs["gan"]) in result.output


def test_image_folder_of_other_resolution_names_both(runs, tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("L", (32, 32)).save(folder / "a.png")
    result = invoke(
        runs["gan"], runs["presgan"], "--data", folder, "--metrics", "loglik", "--quiet"
    )
    assert result.exit_code == 2
    assert f"--data {folder} holds 32x32 images" in result.output
    assert "28x28" in result.output


def test_unknown_metric_lists_the_choices(runs):
    result = invoke(
        runs["gan"], runs["presgan"], "--data", "mnist", "--metrics", "fid,bogus"
    )
    assert result.exit_code == 2
    assert "bogus" in result.output and "loglik" in result.output


def test_missing_inception_weights_fail_before_loading(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    missing = tmp_path / "never-loaded"
    result = invoke(
        missing,
        missing,
        "--data",
        "mnist",
        "--features",
        "inception",
        "--metrics",
        "fid",
        "--quiet",
    )
    assert result.exit_code == 2
    assert "--inception-weights" in result.output
    assert INCEPTION_WEIGHTS_NAME in result.output  # the URL's file name
    assert "never-loaded" not in result.output  # stopped before any loading
    with pytest.raises(WeightsError, match="no such file"):
        resolve_inception_weights(tmp_path / "absent.pth")


@pytest.mark.parametrize("size, word", [(0, "empty"), (1000, "truncated")])
def test_damaged_cached_weights_are_named_with_advice(
    tmp_path, monkeypatch, size, word
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / INCEPTION_WEIGHTS_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"\0" * size)
    with pytest.raises(WeightsError, match=word) as caught:
        resolve_inception_weights()
    assert str(cached) in str(caught.value) and "delete" in str(caught.value)


def test_given_weights_with_wrong_hash_are_refused(tmp_path):
    weights = tmp_path / "inception-1234abcd.pth"
    weights.write_bytes(b"x" * 100)
    with pytest.raises(WeightsError, match="damaged.*1234abcd"):
        resolve_inception_weights(weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = tmp_path / "my-weights.pth"
        plain.write_bytes(b"x" * 100)
        assert resolve_inception_weights(plain) == plain
