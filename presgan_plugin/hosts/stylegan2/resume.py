"""The network pickle to resume from: download, load, and check against the data.

A pickle runs code when it is loaded, so one given by URL is fetched only
from an allowed host. Downloads go to a cache folder, resume with an HTTP
Range request after an interruption, and leave a ``.sha256`` file beside the
pickle.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from presgan_plugin.hosts.stylegan2.networks import SIGMA_NAME

logger = logging.getLogger(__name__)

DEFAULT_ALLOWED_HOSTS = ("api.ngc.nvidia.com", "nvlabs-fi-cdn.nvidia.com")
CACHE_ENV_VAR = "PRESGAN_CACHE_DIR"
CHUNK_SIZE = 1 << 20
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def is_url(resume: str) -> bool:
    """Whether ``resume`` is an http(s) URL."""
    return urlparse(resume).scheme in ("http", "https")


def default_cache_dir() -> Path:
    """``$PRESGAN_CACHE_DIR`` or ``~/.cache/presgan_plugin``, plus ``networks``."""
    root = os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "presgan_plugin"
    return Path(root) / "networks"


def cached_path(url: str, cache_dir: Path) -> Path:
    """Where ``url`` is cached: a short hash of the URL, then its file name."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    name = Path(urlparse(url).path).name or "network.pkl"
    return cache_dir / f"{digest}_{name}"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    url: str,
    cache_dir: Path | None = None,
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS,
) -> Path:
    """Download ``url`` into the cache (or reuse it) and return the local path.

    Raises
    ------
    ValueError
        When the URL's host is not in ``allowed_hosts``.
    """
    import requests
    from tqdm import tqdm

    host = urlparse(url).hostname or ""
    if host not in allowed_hosts:
        raise ValueError(
            f"--resume {url}: host {host!r} is not allowed (allowed: "
            f"{', '.join(allowed_hosts)}). A network pickle runs code when it is "
            f"loaded; if you trust {host}, pass --allow-host {host}"
        )
    logger.warning(
        "a network pickle runs code when it is loaded; loading %s from %s", url, host
    )
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cached_path(url, cache_dir)
    checksum = target.with_name(target.name + ".sha256")
    if target.exists():
        return target
    partial = target.with_name(target.name + ".part")
    done = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={done}-"} if done else {}
    with requests.get(url, headers=headers, stream=True, timeout=60) as response:
        if response.status_code == 416:  # the partial file is already complete
            response.close()
        else:
            response.raise_for_status()
            if done and response.status_code != 206:
                done = 0  # the server ignored Range: start again
            total = int(response.headers.get("Content-Length", 0)) + done
            mode = "ab" if done else "wb"
            with (
                open(partial, mode) as file,
                tqdm(
                    total=total or None,
                    initial=done,
                    unit="B",
                    unit_scale=True,
                    desc=target.name,
                ) as bar,
            ):
                for chunk in response.iter_content(CHUNK_SIZE):
                    file.write(chunk)
                    bar.update(len(chunk))
    os.replace(partial, target)
    checksum.write_text(f"{sha256_of(target)}  {target.name}\n")
    return target


def resolve(
    resume: str,
    cache_dir: Path | None = None,
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS,
) -> Path:
    """A local path for ``--resume`` (a path, or a URL fetched into the cache)."""
    if is_url(resume):
        return fetch(resume, cache_dir, allowed_hosts)
    path = Path(resume).expanduser()
    if not path.is_file():
        raise ValueError(
            f"--resume {resume}: no such file; give a network pickle "
            "(network-snapshot-*.pkl or e.g. ffhq.pkl) or an https URL"
        )
    return path


def _intact_neighbour(path: Path) -> Path | None:
    """The newest other ``network-snapshot-*.pkl`` beside ``path`` that loads."""
    import legacy

    candidates = sorted(path.parent.glob("network-snapshot-*.pkl"), reverse=True)
    for candidate in [c for c in candidates if c != path][:5]:
        try:
            with open(candidate, "rb") as file:
                legacy.load_network_pkl(file)
        except Exception:
            continue
        return candidate
    return None


def load_network(path: Path) -> dict[str, Any]:
    """Load a network pickle with the host's ``legacy.load_network_pkl``.

    Raises
    ------
    ValueError
        Naming the file when it is damaged or cut short, and the newest
        intact snapshot beside it if there is one.
    """
    import legacy

    try:
        with open(path, "rb") as file:
            data: dict[str, Any] = legacy.load_network_pkl(file)
    except Exception as error:
        intact = _intact_neighbour(path)
        hint = (
            f"resume from the last intact snapshot, {intact}"
            if intact is not None
            else "fetch or copy it again"
        )
        raise ValueError(
            f"--resume {path}: not a loadable network pickle "
            f"({type(error).__name__}: {error}); the file is damaged or cut short "
            f"(e.g. the run stopped while writing it). Fix: {hint}"
        ) from error
    for key in ("G", "D"):
        if not hasattr(data[key], "init_kwargs"):
            raise ValueError(
                f"--resume {path}: {key} has no recorded init_kwargs; expected a "
                "pickle written by StyleGAN2-ADA or StyleGAN3"
            )
    return data


def network_kwargs(module: Any) -> dict[str, Any]:
    """The constructor kwargs recorded in a host network, minus the data-given ones."""
    import dnnlib

    if module.init_args:
        raise ValueError(
            f"{type(module).__name__} was built with positional arguments "
            f"{module.init_args!r}; only keyword-built networks can be rebuilt"
        )
    kwargs = dnnlib.EasyDict(module.init_kwargs)
    for key in ("c_dim", "img_resolution", "img_channels"):
        kwargs.pop(key, None)
    return dict(kwargs)


def class_name_of(module: Any, flavour: str) -> str:
    """Dotted host class name to rebuild a pickled network with."""
    name = type(module).__name__
    if name not in ("Generator", "Discriminator"):
        raise ValueError(f"unexpected network class {name} in the resume pickle")
    if flavour != "stylegan3":
        return f"training.networks.{name}"
    source = getattr(type(module), "_orig_module_src", "") or ""
    file = (
        "networks_stylegan3"
        if "class SynthesisInput" in source
        else "networks_stylegan2"
    )
    return f"training.{file}.{name}"


def dataset_shape(data: Path) -> tuple[int, int, int, str]:
    """``(channels, height, width, first_image_name)`` of a zip or folder dataset."""
    import numpy as np
    import PIL.Image

    if data.is_dir():
        names = sorted(
            str(p.relative_to(data))
            for p in data.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not names:
            raise ValueError(f"--data {data}: no images ({', '.join(IMAGE_SUFFIXES)})")
        raw = (data / names[0]).read_bytes()
    elif data.is_file() and zipfile.is_zipfile(data):
        with zipfile.ZipFile(data) as archive:
            names = sorted(
                n for n in archive.namelist() if n.lower().endswith(IMAGE_SUFFIXES)
            )
            if not names:
                raise ValueError(f"--data {data}: the zip holds no images")
            raw = archive.read(names[0])
    else:
        raise ValueError(
            f"--data {data}: expected a dataset zip or folder (dataset_tool.py "
            "output); found no such zip or folder"
        )
    image = np.array(PIL.Image.open(io.BytesIO(raw)))
    channels = 1 if image.ndim == 2 else int(image.shape[2])
    return channels, int(image.shape[0]), int(image.shape[1]), names[0]


def check_data_matches(
    data: Path, resume: Path, G: Any, share_sigma_across_channels: bool
) -> None:
    """Raise ``ValueError`` when the dataset's images do not fit the pickle's G."""
    channels, height, width, first = dataset_shape(data)
    resolution, img_channels = int(G.img_resolution), int(G.img_channels)
    if height != width or height != resolution:
        raise ValueError(
            f"--data {data} holds {width}x{height} images ({first}) but the network "
            f"in --resume {resume} is {resolution}x{resolution}. Fix: rebuild the "
            f"dataset at {resolution}x{resolution} (python dataset_tool.py "
            f"--source=... --dest=... --width={resolution} --height={resolution}), "
            f"or resume from a {width}x{height} network"
        )
    if channels != img_channels:
        hint = (
            "convert the images to RGB before packing them (PIL: "
            "Image.open(p).convert('RGB'))"
            if img_channels == 3
            else f"convert the images to {img_channels} channel(s)"
        )
        raise ValueError(
            f"--data {data} holds {channels}-channel images ({first}) but the "
            f"network in --resume {resume} makes {img_channels}-channel images. "
            f"Fix: {hint}, or resume from a {channels}-channel network"
        )
    sigma = getattr(G.synthesis, SIGMA_NAME, None)
    if sigma is not None:
        expected = (
            1 if share_sigma_across_channels else img_channels,
            resolution,
            resolution,
        )
        if tuple(sigma.shape) != expected:
            raise ValueError(
                f"--resume {resume} holds sigma of shape {list(sigma.shape)} but "
                f"these options need {list(expected)}; "
                + (
                    "drop --share-sigma-across-channels"
                    if sigma.shape[0] != 1
                    else "add --share-sigma-across-channels"
                )
            )


def describe(data: dict[str, Any]) -> str:
    """One line about a loaded pickle, for the log."""
    G = data["G"]
    has = hasattr(G.synthesis, SIGMA_NAME)
    return json.dumps(
        {
            "resolution": int(G.img_resolution),
            "channels": int(G.img_channels),
            "z_dim": int(G.z_dim),
            "has_sigma": has,
        }
    )
