"""DET images for the Faster R-CNN detector (He et al. 2015, appendix B), the mmdetection way.

Datasets are mmengine ``BaseDataset``s whose ``load_data_list`` reads the ``data`` stage's DET
tables (``artifacts.records("det", split, ...)``) and whose pipeline is mmcv transforms:

* :class:`LoadRGBImage` decodes with :func:`load_rgb` (by content: CMYK, grayscale, RGBA and PNGs
  named ``.JPEG`` come back RGB), the decoder of every other dataset of the package, so DET pixels
  match theirs (``mmcv.imread`` goes through OpenCV: BGR by default, other CMYK colours);
  optionally caching the decoded arrays;
* mmcv's ``RandomChoiceResize`` (shorter side drawn from ``scales``, longer side capped at
  ``max_size``, ratio kept) and ``RandomFlip`` move the image and ``gt_bboxes`` together;
* :class:`PackDetInputs` normalises the image and packs the targets;
* at test time, :class:`PackDetPyramid` packs the primary input and the image pyramid
  (sizes and merging in ``det_pyramid.py``).

Boxes are CONTINUOUS (``ops.box_coder``: pixel ``i`` spans ``[i, i + 1)``) from the moment they are
read: mmcv scales boxes by the per-axis factor of the rounded output size and mirrors them as
``w - x2, w - x1``, both exact for continuous boxes (off by one for inclusive ones).
Note on mmcv: an int resize scale means a *factor* (``600`` would enlarge 600 times), and a tuple of
scales is one scale; the scales are therefore given as a list of ``(max_size, shorter side)`` tuples.

Every train image is a training image: verified negatives (no XML) are background-only images; a
class listed ``0`` (partially boxed) for an image in ``train_<k>.txt`` goes to that image's
``ignore_labels`` (its boxes stay positives), so the detector never learns it as background there.
Images flagged ``corrupt`` by the ``data`` stage are dropped with a warning.

Keyed access (``dataset[SampleKey]`` from ``SeededSampler``) seeds numpy's generator, which mmcv's
random transforms draw from, so a sample's scale and flip depend on (seed, epoch, position) only.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from mmcv.transforms import BaseTransform
from mmcv.transforms.builder import TRANSFORMS
from mmengine.dataset import BaseDataset
from mmengine.registry import FUNCTIONS

from ..ops.box_coder import inclusive_to_continuous
from ..registry import DATASETS
from ..utils.errors import ImageDecodeError
from ..utils.io_utils import read_table
from .det_pyramid import NO_SIZE_CAP, pyramid_levels
from .images import load_rgb
from .seeded import SeededDataset
from .synsets import SynsetTable
from .transforms import IMAGENET_MEAN, IMAGENET_STD, normalize_image

logger = logging.getLogger(__name__)
BOX_COLUMNS = ["x1", "y1", "x2", "y2"]


# -- transforms ----------------------------------------------------------------------------------
@TRANSFORMS.register_module()
class LoadRGBImage(BaseTransform):
    """``results['img_path']`` -> ``img`` (H, W, 3) uint8 RGB, ``img_shape``, ``ori_shape`` (h, w).

    ``cache``: keep the decoded arrays (read-only) in memory, per process. ``skip_corrupt``: an
    undecodable file gives ``None`` (mmengine's dataset then draws another image) with a warning.
    """

    def __init__(self, cache: bool = False, skip_corrupt: bool = False):
        self.cache, self.skip_corrupt = cache, skip_corrupt
        self._images: dict[str, np.ndarray] = {}

    def _load(self, path: str) -> np.ndarray:
        img = self._images.get(path)
        if img is None:
            img = np.array(load_rgb(path), dtype=np.uint8)
            img.setflags(write=False)  # transforms must copy, never edit a cached image
            if self.cache:
                self._images[path] = img
        return img

    def transform(self, results: dict) -> dict | None:
        try:
            img = self._load(results["img_path"])
        except ImageDecodeError as exc:
            if not self.skip_corrupt:
                raise
            logger.warning("skipping undecodable DET image: %s", exc)
            return None
        results["img"] = img
        results["img_shape"] = results["ori_shape"] = img.shape[:2]
        return results


def _to_input(img: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(H, W, 3) uint8 (any strides: mmcv's flip returns a view) -> normalised (3, H, W) float32."""
    return normalize_image(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), mean, std)


@TRANSFORMS.register_module()
class PackDetInputs(BaseTransform):
    """``{"inputs": (3, H, W) float, "data_samples": dict(boxes, labels, ignore_labels, image_id,
    scale_factor, ori_size, flip)}``; boxes (continuous, resized frame) are clipped to the image and
    empty ones dropped with their labels."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.mean, self.std = tuple(mean), tuple(std)

    def transform(self, results: dict) -> dict:
        img = results["img"]
        h, w = img.shape[:2]
        boxes = np.asarray(results.get("gt_bboxes", np.zeros((0, 4))), dtype=np.float32).reshape(-1, 4)
        labels = np.asarray(results.get("gt_bboxes_labels", np.zeros(0)), dtype=np.int64).reshape(-1)
        boxes = np.stack([boxes[:, 0].clip(0, w), boxes[:, 1].clip(0, h),
                          boxes[:, 2].clip(0, w), boxes[:, 3].clip(0, h)], axis=1)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        sx, sy = results.get("scale_factor", (1.0, 1.0))
        return {"inputs": _to_input(img, self.mean, self.std),
                "data_samples": {
                    "boxes": torch.from_numpy(np.ascontiguousarray(boxes[keep])),
                    "labels": torch.from_numpy(labels[keep]),
                    "ignore_labels": torch.as_tensor(results.get("ignore_labels", []), dtype=torch.int64),
                    "image_id": str(results["image_id"]),
                    "scale_factor": (float(sx), float(sy)),
                    "ori_size": tuple(int(v) for v in results["ori_shape"]),
                    "flip": bool(results.get("flip", False))}}


@TRANSFORMS.register_module()
class PackDetPyramid(BaseTransform):
    """Test-time inputs of one image (``data/det_pyramid.py``): the primary input (shorter side
    ``scale``, longer side capped at ``max_size``: the RPN's and the single-scale rows') and the
    pyramid (each shorter side of the increasing ``pyramid``, longer side capped at
    ``pyramid_max_size``; levels of the same size merged), resized by mmcv's ``Resize`` (ratio kept)
    and normalised. A pyramid level of the primary input's size is the primary tensor itself.

    ``{"inputs": {"primary": (3, H, W), "pyramid": list of (3, H_l, W_l)}, "data_samples":
    dict(image_id, image_index, ori_size, scale_factor=(sx, sy) of the primary input,
    scale_factors=[(sx, sy) per level], pyramid_scales=[shorter side asked, per level])}``."""

    def __init__(self, scale: int, max_size: int | None = None, pyramid: Sequence[int] = (),
                 pyramid_max_size: int | None = None, backend: str = "cv2", interpolation: str = "bilinear",
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.scale, self.max_size = int(scale), max_size
        self.pyramid, self.pyramid_max_size = tuple(int(s) for s in pyramid), pyramid_max_size
        wanted = resize_scales(self.scale, max_size) + (resize_scales(self.pyramid, pyramid_max_size)
                                                        if self.pyramid else [])
        self.resizes = {s: TRANSFORMS.build(dict(type="Resize", scale=s, keep_ratio=True, backend=backend,
                                                 interpolation=interpolation)) for s in wanted}
        self.mean, self.std = tuple(mean), tuple(std)

    def _resized(self, img: np.ndarray, cap: int | None, side: int) -> tuple[torch.Tensor, tuple[float, float]]:
        out = self.resizes[resize_scales(side, cap)[0]]({"img": img})
        return _to_input(out["img"], self.mean, self.std), tuple(float(f) for f in out["scale_factor"])

    def transform(self, results: dict) -> dict:
        img = results["img"]
        h, w = img.shape[:2]
        primary, factor = self._resized(img, self.max_size, self.scale)
        by_size = {tuple(primary.shape[1:]): (primary, factor)}
        levels = pyramid_levels(h, w, self.pyramid, self.pyramid_max_size) if self.pyramid else []
        for side, size in levels:
            if size not in by_size:
                by_size[size] = self._resized(img, self.pyramid_max_size, side)
                if tuple(by_size[size][0].shape[1:]) != size:   # the merge relies on mmcv's sizes
                    raise RuntimeError(f"mmcv resized {h}x{w} to {tuple(by_size[size][0].shape[1:])} for "
                                       f"the shorter side {side}; rescale_size said {size}")
        return {"inputs": {"primary": primary, "pyramid": [by_size[size][0] for _, size in levels]},
                "data_samples": {"image_id": str(results["image_id"]), "image_index": int(results["image_index"]),
                                 "ori_size": tuple(int(v) for v in results["ori_shape"]),
                                 "scale_factor": factor,
                                 "scale_factors": [by_size[size][1] for _, size in levels],
                                 "pyramid_scales": [side for side, _ in levels]}}


def resize_scales(scales: int | Sequence[int], max_size: int | None) -> list[tuple[int, int]]:
    """Shorter sides -> mmcv keep-ratio scales ``(longer-side cap, shorter side)`` (a list: mmcv
    reads an int as a factor and a tuple of tuples as ONE scale)."""
    sides = [int(scales)] if isinstance(scales, (int, np.integer)) else [int(s) for s in scales]
    if not sides or min(sides) <= 0:
        raise ValueError(f"need positive shorter sides, got {scales}")
    cap = int(max_size) if max_size else NO_SIZE_CAP
    if cap < max(sides):
        raise ValueError(f"max_size {max_size} is below the shorter side {max(sides)}")
    return [(cap, s) for s in sides]


def build_det_train_pipeline(scales: Sequence[int], max_size: int | None = None, flip: bool = True,
                             cache_images: bool = False, skip_corrupt: bool = False,
                             backend: str = "cv2", interpolation: str = "bilinear",
                             mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> list[dict]:
    """The train pipeline as mmcv transform configs."""
    pipeline = [dict(type="LoadRGBImage", cache=cache_images, skip_corrupt=skip_corrupt),
                dict(type="RandomChoiceResize", scales=resize_scales(scales, max_size), keep_ratio=True,
                     backend=backend, interpolation=interpolation)]
    if flip:
        pipeline.append(dict(type="RandomFlip", prob=0.5, direction="horizontal"))
    return pipeline + [dict(type="PackDetInputs", mean=tuple(mean), std=tuple(std))]


# -- datasets ------------------------------------------------------------------------------------
def _paths(value) -> list:
    return [value] if isinstance(value, (str, os.PathLike)) else list(value or [])


def _read_images(paths) -> pd.DataFrame:
    """The images tables, rows flagged ``corrupt`` dropped with a warning."""
    tables = [read_table(p) for p in _paths(paths)]
    if not tables:
        raise ValueError("give at least one DET images table")
    images = pd.concat(tables, ignore_index=True)
    if "corrupt" in images:
        corrupt = images.corrupt.to_numpy(bool)
        if corrupt.any():
            logger.warning("dropping %d DET image(s) flagged corrupt, e.g. %s", int(corrupt.sum()),
                           images.image_id[corrupt].iloc[0])
            images = images[~corrupt].reset_index(drop=True)
    duplicated = images.image_id.duplicated()
    if duplicated.any():
        raise ValueError(f"image {images.image_id[duplicated].iloc[0]!r} is listed twice")
    return images


class _DetDataset(SeededDataset, BaseDataset):
    """mmengine ``BaseDataset`` with SeededDataset's keyed access (``dataset[SampleKey]``)."""

    def __getitem__(self, key) -> dict:
        # BaseDataset.__getitem__ would hand a SampleKey to get_data_info (and retry with unseeded
        # draws); here the key seeds torch and numpy first, then get() retries like BaseDataset.
        if not self._fully_initialized:
            self.full_init()
        return SeededDataset.__getitem__(self, key)

    def get(self, index: int) -> dict:
        for _ in range(self.max_refetch + 1):
            data = self.prepare_data(index)
            if data is not None:
                return data
            if self.test_mode:
                raise RuntimeError(f"the test pipeline gave no data for item {index}")
            index = self._rand_another()  # numpy's generator: seeded under keyed access
        raise RuntimeError(f"no valid image after {self.max_refetch} retries")


def _synsets(classes) -> SynsetTable:
    if isinstance(classes, SynsetTable):
        return classes
    wnids = tuple(str(w) for w in classes)
    if list(wnids) != sorted(wnids):
        raise ValueError("classes must be WNIDs in sorted order (or a SynsetTable)")
    return SynsetTable(wnids, wnids, "classes")


@DATASETS.register_module()
class DetTrainDataset(_DetDataset):
    """DET training images (e.g. train + val1) with continuous boxes and torchvision labels 1..C.

    ``images``/``boxes``: matching lists of the ``data`` stage's DET tables; ``train_lists``: its
    ``det_train_lists`` table (partially boxed classes -> ``ignore_labels``; optional); ``classes``:
    sorted WNIDs or a SynsetTable (labels from ``SynsetTable.detection_label_of``); ``scales``:
    shorter sides drawn per sample (paper: 600); ``max_size``: cap on the longer side (paper: 1000).
    ``pipeline`` replaces the one built from these arguments (mmcv transform configs).
    """

    def __init__(self, images, boxes, classes, train_lists: str | os.PathLike | None = None,
                 scales: Sequence[int] = (600,), max_size: int | None = 1000, flip: bool = True,
                 cache_images: bool = False, skip_corrupt: bool = False, backend: str = "cv2",
                 interpolation: str = "bilinear", mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, pipeline: list | None = None,
                 serialize_data: bool = True, lazy_init: bool = False, max_images: int | None = None):
        if len(_paths(images)) != len(_paths(boxes)):
            raise ValueError("give one boxes table per images table")
        self.synsets = _synsets(classes)
        self.tables = dict(images=_paths(images), boxes=_paths(boxes), train_lists=train_lists)
        self.max_images = max_images
        if pipeline is None:
            pipeline = build_det_train_pipeline(scales, max_size, flip, cache_images, skip_corrupt,
                                                backend, interpolation, mean, std)
        super().__init__(metainfo=dict(classes=self.synsets.sorted_wnids), serialize_data=serialize_data,
                         pipeline=pipeline, lazy_init=lazy_init)

    def _ignored(self, images: pd.DataFrame) -> dict[str, list[int]]:
        """image_id -> labels of the classes listed 0 for it (train images only)."""
        if self.tables["train_lists"] is None:
            return {}
        lists = read_table(self.tables["train_lists"])
        train_ids = set(images.image_id[images.split == "train"])
        partial = lists[(lists.label == 0) & lists.stem.isin(train_ids)]
        out: dict[str, list[int]] = {}
        for stem, wnid in zip(partial.stem, partial.wnid):
            out.setdefault(stem, []).append(self.synsets.detection_label_of(wnid))
        return {k: sorted(set(v)) for k, v in out.items()}

    def load_data_list(self) -> list[dict]:
        images = _read_images(self.tables["images"])
        if self.max_images:
            images = images.iloc[:self.max_images]
        boxes = pd.concat([read_table(p) for p in self.tables["boxes"]], ignore_index=True)
        boxes = boxes[boxes.image_id.isin(set(images.image_id))]
        unknown = sorted(set(boxes.wnid) - set(self.synsets.sorted_wnids))
        if unknown:
            raise ValueError(f"boxes of {unknown[0]!r}, which is not one of the {len(self.synsets)} classes")
        continuous = inclusive_to_continuous(torch.as_tensor(boxes[BOX_COLUMNS].to_numpy(np.float32, copy=True))).numpy()
        labels = np.asarray([self.synsets.detection_label_of(w) for w in boxes.wnid], dtype=np.int64)
        rows_of = boxes.groupby("image_id", sort=False).indices
        ignored = self._ignored(images)
        data_list = []
        for image_id, path, index, split in zip(images.image_id, images.path, images["index"], images.split):
            rows = rows_of.get(image_id, np.zeros(0, dtype=np.int64))
            data_list.append({"img_path": str(path), "image_id": str(image_id), "image_index": int(index),
                              "split": str(split), "gt_bboxes": continuous[rows].reshape(-1, 4),
                              "gt_bboxes_labels": labels[rows],
                              "ignore_labels": np.asarray(ignored.get(image_id, []), dtype=np.int64)})
        return data_list


@DATASETS.register_module()
class DetTestDataset(_DetDataset):
    """The images of one split (val2, test) for detection, packed by :class:`PackDetPyramid`:
    ``inputs`` is ``{"primary": tensor, "pyramid": list of tensors}`` (the pyramid empty when
    ``pyramid`` is). ``data_samples``: image_id, image_index (official list index), ori_size (h, w),
    scale_factor (primary), scale_factors and pyramid_scales (per pyramid level). The ``det.test``
    settings give the four size arguments (``det_pyramid.det_test_inputs``)."""

    def __init__(self, images, scale: int = 600, max_size: int | None = 1000, pyramid: Sequence[int] = (),
                 pyramid_max_size: int | None = None, cache_images: bool = False, backend: str = "cv2",
                 interpolation: str = "bilinear", mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, serialize_data: bool = True, lazy_init: bool = False,
                 max_images: int | None = None):
        self.images_tables, self.max_images = _paths(images), max_images
        pipeline = [dict(type="LoadRGBImage", cache=cache_images),
                    dict(type="PackDetPyramid", scale=scale, max_size=max_size, pyramid=tuple(pyramid),
                         pyramid_max_size=pyramid_max_size, backend=backend, interpolation=interpolation,
                         mean=tuple(mean), std=tuple(std))]
        super().__init__(serialize_data=serialize_data, pipeline=pipeline, test_mode=True, lazy_init=lazy_init)

    def load_data_list(self) -> list[dict]:
        images = _read_images(self.images_tables)
        if self.max_images:
            images = images.iloc[:self.max_images]
        return [{"img_path": str(p), "image_id": str(i), "image_index": int(n)}
                for i, p, n in zip(images.image_id, images.path, images["index"])]


@FUNCTIONS.register_module()
def det_collate(batch: Sequence[dict]) -> dict:
    """Images differ in size: ``inputs`` stays a list (of tensors, or of per-scale lists), and
    ``data_samples`` a list of dicts."""
    return {"inputs": [b["inputs"] for b in batch], "data_samples": [b["data_samples"] for b in batch]}
