"""Classification dataset over the ``data`` stage's CLS-LOC tables (labels are sorted indices)."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from ..registry import DATASETS
from ..utils.io_utils import read_table
from .images import load_rgb
from .seeded import SeededDataset
from .transforms import build_train_transform


@DATASETS.register_module()
class ClsLocDataset(SeededDataset):
    """Images of one CLS-LOC split with their class, for the classifiers.

    ``cache_images`` keeps decoded images in memory (the mini sets fit; real ImageNet does not).
    Items are ``dict(inputs=tensor, data_samples=label)``, the form mmengine's Runner passes on.
    """

    def __init__(self, images: str | os.PathLike, transform: dict | None = None,
                 cache_images: bool = False, max_images: int | None = None):
        self.table = read_table(images)
        if max_images:
            self.table = self.table.iloc[:max_images]
        self.paths = self.table.path.tolist()
        self.labels = self.table.label.to_numpy(np.int64)
        self.transform = build_train_transform(**(transform or {}))
        self.cache_images = cache_images
        self._cache: dict[int, Image.Image] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i: int) -> Image.Image:
        if self.cache_images:
            if i not in self._cache:
                self._cache[i] = load_rgb(self.paths[i])
            return self._cache[i]
        return load_rgb(self.paths[i])

    def get(self, i: int) -> dict:
        return {"inputs": self.transform(self.image(i)), "data_samples": int(self.labels[i])}
