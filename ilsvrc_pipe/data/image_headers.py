"""Sizes of many images, read from their headers (or by decoding them) on all CPUs.

The images without an XML have no size anywhere but in their header: CLS-LOC test (100,000), DET
test (51,294) and the DET train negatives; reading one header costs about 80 us, so the list is
split among the processes of ``file_pool.py``. An image a worker cannot read, or whose existence
check would raise, is left to the caller, who reads it again in list order with its own handling
(skip with a warning, or stop with the error): so warnings and errors are those of a loop.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .fast_paths import path_is_file
from .file_pool import map_chunks
from .images import image_size, load_rgb

READ, ABSENT, AGAIN = 0, 1, 2   # size read, no such file (only asked with require_file), left to the caller


@dataclass
class ImageSizes:
    """(width, height) of each image; ``status`` says which were read (``READ``)."""

    sizes: np.ndarray      # (N, 2) int64, -1 where not read
    status: np.ndarray     # (N,) int8: READ, ABSENT or AGAIN

    @property
    def again(self) -> np.ndarray:
        """Positions the caller must read itself, in list order."""
        return np.flatnonzero(self.status == AGAIN)


def _sizes_chunk(paths: list[str], decode: bool, require_file: bool):
    """Worker: status and size of each image of a chunk; never raises for an image."""
    status, sizes = [], []
    for path in paths:
        exists = path_is_file(path, raising=False) if require_file else True
        if exists is False:
            status.append(ABSENT)
            sizes.append((-1, -1))
            continue
        try:
            if exists is None:
                raise OSError(path)
            size = load_rgb(path).size if decode else image_size(path)
        except Exception:   # noqa: BLE001  (read again by the caller, whose handling decides)
            status.append(AGAIN)
            sizes.append((-1, -1))
            continue
        status.append(READ)
        sizes.append(tuple(size))
    return status, sizes


def read_image_sizes(paths: list[str], decode: bool = False, require_file: bool = False, desc: str = "image sizes",
                     workers: int | None = None) -> ImageSizes:
    """Header sizes (``decode``: sizes of the fully decoded images) of ``paths``; with
    ``require_file``, a path that is no file is ``ABSENT`` (``Path.is_file`` first, as the DET loader asks)."""
    status, sizes = [], []
    work = functools.partial(_sizes_chunk, decode=decode, require_file=require_file)
    for _, (c_status, c_sizes) in map_chunks(work, paths, workers, desc):
        status.extend(c_status)
        sizes.extend(c_sizes)
    return ImageSizes(np.asarray(sizes, dtype=np.int64).reshape(-1, 2), np.asarray(status, dtype=np.int8))
