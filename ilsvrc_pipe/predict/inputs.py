"""The images to predict on: files named on the command line, or the image files of folders.

Files named explicitly are taken whatever their suffix (images are decoded by content, as in the
data stage); in a folder, files with an image suffix are taken, recursively, in sorted order. Every
header is read before any model runs, so a bad file fails at once with the data stage's one-line
error (:class:`~ilsvrc_pipe.utils.errors.ImageDecodeError`), unless ``skip_corrupt`` keeps it as an
entry that names the error.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..data.images import image_size
from ..utils.errors import ImageDecodeError, UserInputError

logger = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


@dataclass
class InputImage:
    path: Path
    width: int = -1
    height: int = -1
    error: str | None = None   # set (with skip_corrupt) for a file that cannot be decoded


def collect_images(sources: list[str | os.PathLike]) -> list[Path]:
    """Image files of the sources (files as given; folders searched recursively), duplicates removed."""
    found: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not files:
                raise UserInputError(f"--images {path}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) "
                                     "in this folder")
            found.extend(files)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"--images {path}: no such file or folder")
    return list(dict.fromkeys(found))


def check_images(paths: list[Path], skip_corrupt: bool = False) -> list[InputImage]:
    """Read every header (size); a bad file raises, or with ``skip_corrupt`` is kept with its error."""
    images = []
    for path in tqdm(paths, desc="check images", unit="img", leave=False, disable=len(paths) < 1000):
        try:
            width, height = image_size(path)
        except ImageDecodeError as exc:
            if not skip_corrupt:
                raise
            logger.warning("skipping %s", exc)
            images.append(InputImage(path, error=str(exc)))
            continue
        images.append(InputImage(path, width, height))
    return images
