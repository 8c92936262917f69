"""Robust image decoding: the real data holds CMYK JPEGs, PNGs named .JPEG, grayscale and RGBA.

Images are decoded by content (Pillow sniffs the format; the extension is ignored) and always come
back as 3-channel RGB. A truncated or corrupt file raises :class:`ImageDecodeError` naming it, and so
does a header claiming more pixels than Pillow's decompression-bomb limit (no ILSVRC image comes
near it: such a header is corrupt, and ``skip_corrupt_images`` must be able to skip it).
"""
from __future__ import annotations

import logging
import os

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from ..utils.errors import ImageDecodeError

logger = logging.getLogger(__name__)
ImageFile.LOAD_TRUNCATED_IMAGES = False


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")  # CMYK, L, P, I;16, YCbCr ...


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode any ILSVRC image file to an RGB ``PIL.Image`` (fully loaded, file closed)."""
    try:
        with Image.open(path) as img:
            img.load()
            return _to_rgb(img)
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"{path}: cannot decode image ({exc})") from exc


def load_rgb_or_none(path: str | os.PathLike, skip_corrupt: bool) -> Image.Image | None:
    """``load_rgb``, but a corrupt file is skipped with a logged warning when ``skip_corrupt``."""
    try:
        return load_rgb(path)
    except ImageDecodeError as exc:
        if not skip_corrupt:
            raise
        logger.warning("skipping corrupt image: %s", exc)
        return None


def load_rgb_array(path: str | os.PathLike) -> np.ndarray:
    """RGB uint8 array (H, W, 3)."""
    return np.asarray(load_rgb(path))


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as img:
            return img.size
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"{path}: cannot read image header ({exc})") from exc
