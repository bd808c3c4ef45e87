"""Load a user's own images from a folder or a zip archive."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from presgan_plugin.data.errors import DataError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
_MODE_BY_CHANNELS = {1: "L", 3: "RGB"}


def _is_image_name(name: str) -> bool:
    """Whether a file name has one of the accepted image suffixes."""
    return name.lower().endswith(IMAGE_SUFFIXES)


def _iter_folder(folder: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(path, bytes)`` for the images under `folder`, sorted by path."""
    names = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and _is_image_name(path.name)
    )
    for path in names:
        yield str(path), path.read_bytes()


def _iter_zip(archive_path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(archive:member, bytes)`` for the images in a zip, sorted by name."""
    try:
        archive = zipfile.ZipFile(archive_path)
    except zipfile.BadZipFile as error:
        raise DataError(
            f"{archive_path}: expected a zip archive of images, but it could not "
            f"be read ({error}). Re-create it, e.g. with 'zip -r'."
        ) from None

    with archive:
        names = sorted(
            name
            for name in archive.namelist()
            if not name.endswith("/")
            and not name.startswith("__MACOSX/")
            and _is_image_name(name)
        )
        for name in names:
            yield f"{archive_path}:{name}", archive.read(name)


def _to_square(image: Image.Image, resolution: int) -> Image.Image:
    """Resize the short side to `resolution`, then crop the centre square."""
    width, height = image.size
    scale = resolution / min(width, height)
    new_width = max(resolution, round(width * scale))
    new_height = max(resolution, round(height * scale))
    image = image.resize((new_width, new_height), Image.Resampling.BICUBIC)
    left = (new_width - resolution) // 2
    top = (new_height - resolution) // 2
    return image.crop((left, top, left + resolution, top + resolution))


def load_image_folder(
    path: str | Path, *, resolution: int, channels: int
) -> np.ndarray:
    """Load every image in a folder (searched recursively) or a zip archive.

    Each image is converted to greyscale (``channels=1``) or RGB
    (``channels=3``), resized with bicubic filtering so that its short side
    is `resolution` pixels, and cropped to the centre square. Files are read
    in sorted order of their paths, so the result is the same on every run.
    Accepted suffixes (any case): ``.png``, ``.jpg``, ``.jpeg``, ``.bmp``,
    ``.webp``; other files are skipped.

    Parameters
    ----------
    path : str or Path
        A folder, or a ``.zip`` file.
    resolution : int
        Side of the square output, in pixels.
    channels : int
        1 for greyscale, 3 for RGB.

    Returns
    -------
    np.ndarray
        ``uint8``, ``[N, channels, resolution, resolution]``.

    Raises
    ------
    DataError
        If the path does not exist, is neither a folder nor a zip file, holds
        no images, or holds a file that cannot be decoded.
    ValueError
        If `channels` is not 1 or 3, or `resolution` is not positive.
    """
    if channels not in _MODE_BY_CHANNELS:
        raise ValueError(f"channels: expected 1 or 3, found {channels}.")

    if resolution < 1:
        raise ValueError(f"resolution: expected a positive size, found {resolution}.")

    path = Path(path)
    if path.is_dir():
        entries = _iter_folder(path)
    elif path.is_file() and zipfile.is_zipfile(path):
        entries = _iter_zip(path)
    elif path.exists():
        raise DataError(
            f"{path}: expected a folder of images or a .zip archive, found a file "
            "that is neither. Pass the folder that holds the images, or zip them."
        )
    else:
        raise DataError(
            f"{path}: expected a folder of images or a .zip archive, but nothing "
            "exists at this path. Check the path."
        )

    mode = _MODE_BY_CHANNELS[channels]
    images = []
    for name, data in entries:
        try:
            with Image.open(io.BytesIO(data)) as image:
                square = _to_square(image.convert(mode), resolution)
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise DataError(
                f"{name}: expected a readable image, but PIL could not decode it "
                f"({error}). Remove or re-save this file."
            ) from None

        pixels = np.asarray(square, dtype=np.uint8).reshape(
            resolution, resolution, channels
        )
        images.append(pixels.transpose(2, 0, 1))  # [C, R, R]

    if not images:
        raise DataError(
            f"{path}: expected at least one image with suffix "
            f"{', '.join(IMAGE_SUFFIXES)}, found none. Put the images in this "
            "folder (subfolders are searched too) or in the zip archive."
        )

    logger.info("Loaded %d images from %s.", len(images), path)
    return np.stack(images)  # [N, C, R, R]
