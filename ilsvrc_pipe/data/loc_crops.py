"""Training samples of the localization stages: random crops for the per-class RPN, warped proposal
regions for the R-CNN (He et al. 2015, appendix C).

* :class:`RPNCropDataset`: boxed train images, shorter side resized to a random size in ``scale``
  (scale jitter), a random ``crop_size`` square (zero = mean colour padding where the image is
  smaller), random horizontal flip. A ground-truth box is kept, clipped to the crop, when at least
  ``min_visible`` of its area stays inside; a box with less (but some) inside becomes an
  ``ignore_box``: anchors on it are neither positives nor negatives. Up to ``max_tries`` crop
  positions are drawn to find one that keeps a box; otherwise the last one is used (then the
  image gives negatives only).
* :class:`RoICropDataset`: RoI-centric regions (every item is one region, so a batch mixes many
  images). Region labels come from the best IoU (+1 convention) with the ground-truth boxes of the
  region's class in its image: foreground (label = class index) at ``>= fg_iou``, background
  (label = C) in ``[bg_iou[0], bg_iou[1])``, others unused; with ``absent_as_background`` every
  proposal of a class that has no box in the image is background. Foreground regions carry
  Fast R-CNN regression targets. Each epoch holds every foreground region once plus background
  slots (a background region drawn at random per access) so that foreground makes up
  ``fg_fraction`` of the items.

Items are ``dict(inputs=tensor, data_samples=...)``; :func:`rpn_collate` and :func:`rcnn_collate`
(registered in mmengine's ``FUNCTIONS``) stack them for the Runner.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from mmengine.registry import FUNCTIONS
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from ..ops.box_coder import BoxCoder, continuous_to_inclusive, inclusive_to_continuous
from ..ops.boxes import box_iou
from ..ops.geometry import shorter_side_size, warp_regions
from ..registry import DATASETS
from ..utils.io_utils import read_table
from .images import load_rgb
from .loc_records import LocRecords
from .seeded import SeededDataset
from .transforms import IMAGENET_MEAN, IMAGENET_STD, normalize_image

BOX_COLUMNS = ["x1", "y1", "x2", "y2"]


def read_records(images: str | os.PathLike | None, boxes: str | os.PathLike | None) -> LocRecords:
    """Records from the ``data`` stage's image and box tables (files named by ``artifacts/paths.py``)."""
    if images is None or boxes is None:
        raise ValueError("give records, or the images and boxes tables")
    return LocRecords(read_table(images), read_table(boxes))


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """Rows with ``x2 >= x1`` and ``y2 >= y1`` (inclusive boxes of at least one pixel)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return boxes[(boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])]


class _ImageSource:
    """Decoded images of a table as uint8 ``(3, H, W)`` tensors, optionally kept in memory."""

    def __init__(self, paths: Sequence[str], cache: bool):
        self.paths = list(paths)
        self.cache = cache
        self._images: dict[int, Tensor] = {}

    def __call__(self, i: int) -> Tensor:
        if i in self._images:
            return self._images[i]
        image = TF.pil_to_tensor(load_rgb(self.paths[i]))
        if self.cache:
            self._images[i] = image
        return image


def _boxes_by_image(records: LocRecords) -> dict[tuple[str, str], np.ndarray]:
    """``(image_id, wnid) -> (n, 4)`` valid inclusive boxes."""
    out = {}
    for (image_id, wnid), rows in records.boxes.groupby(["image_id", "wnid"], sort=False):
        boxes = valid_boxes(rows[BOX_COLUMNS].to_numpy(np.float64))
        if len(boxes):
            out[(image_id, wnid)] = boxes
    return out


def _uniform_int(low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, ()).item())


@DATASETS.register_module()
class RPNCropDataset(SeededDataset):
    """Random crops of the boxed train images for the per-class RPN.

    Items: ``dict(inputs=(3, crop, crop) float, data_samples=dict(boxes=(k, 4) inclusive crop-frame
    float32, label=int, ignore_boxes=(m, 4)))``. Give ``records`` directly or the ``data`` stage's ``images`` and
    ``boxes`` tables.
    """

    draws_from_numpy = False   # scale, origin and flip from torch's generator only

    def __init__(self, images: str | os.PathLike | None = None, boxes: str | os.PathLike | None = None,
                 records: LocRecords | None = None, crop_size: int = 224,
                 scale: Sequence[int] = (256, 480), flip: bool = True, min_visible: float = 0.5,
                 max_tries: int = 10, cache_images: bool = False,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 max_images: int | None = None):
        if records is None:
            records = read_records(images, boxes)
        if not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {scale}")
        per_image = _boxes_by_image(records)
        rows = [r for r in records.images.itertuples(index=False)
                if (r.image_id, r.wnid) in per_image]
        if max_images:
            rows = rows[:max_images]
        if not rows:
            raise ValueError("no image with a valid box of its own class")
        self.image_ids = [r.image_id for r in rows]
        self.labels = [int(r.label) for r in rows]
        self.boxes = [per_image[(r.image_id, r.wnid)] for r in rows]
        self.images = _ImageSource([r.path for r in rows], cache_images)
        self.crop_size, self.scale = int(crop_size), (int(scale[0]), int(scale[1]))
        self.flip, self.min_visible, self.max_tries = flip, float(min_visible), int(max_tries)
        self.mean, self.std = tuple(mean), tuple(std)

    def __len__(self) -> int:
        return len(self.image_ids)

    def _place(self, boxes: Tensor, size: tuple[int, int]) -> tuple[int, int, Tensor, Tensor]:
        """Crop origin (may be negative: padding) and the boxes (continuous, crop frame) kept
        and cut, trying up to ``max_tries`` origins for one that keeps a box."""
        h, w = size
        c = self.crop_size
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        for _ in range(max(self.max_tries, 1)):
            top = _uniform_int(min(0, h - c), max(0, h - c))
            left = _uniform_int(min(0, w - c), max(0, w - c))
            shifted = boxes - torch.tensor([left, top, left, top], dtype=boxes.dtype)
            clipped = shifted.clamp(0, c)
            inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
            kept = (inside > 0) & (inside >= self.min_visible * area)
            if kept.any():
                break
        cut = ~kept & (inside > 0)
        return top, left, clipped[kept], shifted[cut]

    def get(self, i: int) -> dict:
        image = self.images(i)
        height, width = image.shape[-2:]
        h, w = shorter_side_size(height, width, _uniform_int(*self.scale))
        boxes = inclusive_to_continuous(torch.as_tensor(self.boxes[i], dtype=torch.float32))
        boxes = boxes.clamp(min=0).minimum(torch.tensor([width, height, width, height]))
        boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
        boxes = boxes * torch.tensor([w / width, h / height, w / width, h / height])
        top, left, kept, cut = self._place(boxes, (h, w))

        resized = normalize_image(TF.resize(image, [h, w], antialias=True), self.mean, self.std)
        c = self.crop_size
        canvas = torch.zeros(3, c, c)
        ys, xs = max(top, 0), max(left, 0)
        ye, xe = min(top + c, h), min(left + c, w)
        canvas[:, ys - top: ye - top, xs - left: xe - left] = resized[:, ys:ye, xs:xe]
        if self.flip and torch.rand(()) < 0.5:
            canvas = canvas.flip(-1)
            kept, cut = _flip_boxes(kept, c), _flip_boxes(cut, c)
        return {"inputs": canvas,
                "data_samples": {"boxes": continuous_to_inclusive(kept),
                                 "label": self.labels[i],
                                 "ignore_boxes": continuous_to_inclusive(cut)}}


def _flip_boxes(boxes: Tensor, width: int) -> Tensor:
    """Mirror continuous boxes in an image ``width`` wide."""
    return torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)


@FUNCTIONS.register_module()
def rpn_collate(batch: Sequence[dict]) -> dict:
    """Stack the crops; the per-image targets stay a list (their box counts differ)."""
    return {"inputs": torch.stack([b["inputs"] for b in batch]),
            "data_samples": [b["data_samples"] for b in batch]}


@DATASETS.register_module()
class RoICropDataset(SeededDataset):
    """RoI-centric warped regions of RPN proposals for the R-CNN.

    ``proposals``: a table (or its parquet/CSV path) with ``image_id, wnid, x1, y1, x2, y2``
    (inclusive boxes of the image, e.g. the ``rpn`` stage's top-200 of the GT class; other columns
    such as ``score`` are ignored). With ``include_gt`` the ground-truth boxes of the proposed
    classes join as foreground regions. Items: ``dict(inputs=(3, S, S), data_samples=dict(label,
    deltas=(4,)))``, label C for background.
    """

    draws_from_numpy = False   # background region and flip from torch's generator only

    def __init__(self, proposals: str | os.PathLike | pd.DataFrame,
                 images: str | os.PathLike | None = None, boxes: str | os.PathLike | None = None,
                 records: LocRecords | None = None, num_classes: int | None = None,
                 crop_size: int = 224, context_pad: float = 0.0, sampling_ratio: int = 1,
                 fg_iou: float = 0.5, bg_iou: Sequence[float] = (0.1, 0.5),
                 fg_fraction: float = 0.25, include_gt: bool = True,
                 absent_as_background: bool = True, flip: bool = True,
                 box_coder_weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0),
                 cache_images: bool = False, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD):
        if records is None:
            records = read_records(images, boxes)
        if not isinstance(proposals, pd.DataFrame):
            proposals = read_table(proposals)
        if not 0 < fg_fraction <= 1:
            raise ValueError(f"fg_fraction must be in (0, 1], got {fg_fraction}")
        images = records.images
        self.class_index = dict(zip(images.wnid, images.label.astype(int)))
        self.class_index.pop("", None)
        self.num_classes = int(num_classes if num_classes is not None
                               else max(self.class_index.values()) + 1)
        self.crop_size, self.context_pad = int(crop_size), float(context_pad)
        self.sampling_ratio, self.flip = int(sampling_ratio), flip
        self.mean, self.std = tuple(mean), tuple(std)
        row_of = {image_id: k for k, image_id in enumerate(images.image_id)}
        self.images = _ImageSource(images.path.tolist(), cache_images)
        self._normalized: dict[int, Tensor] = {}
        self._crops: dict[int, Tensor] = {}
        self.absent_as_background = absent_as_background
        self._build_regions(proposals, _boxes_by_image(records), row_of, fg_iou, tuple(bg_iou),
                            include_gt, BoxCoder(box_coder_weights))
        n_fg, n_bg = len(self.fg), len(self.bg)
        if n_fg + n_bg == 0:
            raise ValueError("no proposal qualifies as foreground or background")
        wanted_bg = int(round(n_fg * (1 - fg_fraction) / fg_fraction)) if n_fg else n_bg
        self.bg_slots = min(n_bg, wanted_bg)

    def _build_regions(self, proposals: pd.DataFrame, gt: Mapping[tuple[str, str], np.ndarray],
                       row_of: Mapping[str, int], fg_iou: float, bg_iou: tuple[float, float],
                       include_gt: bool, coder: BoxCoder) -> None:
        missing = sorted(set(proposals.image_id) - set(row_of))
        if missing:
            raise ValueError(f"proposals of {len(missing)} images not in the records, "
                             f"e.g. {missing[0]}")
        groups = {key: valid_boxes(rows[BOX_COLUMNS].to_numpy(np.float64))
                  for key, rows in proposals.groupby(["image_id", "wnid"], sort=False)}
        if include_gt:
            proposed_images = set(proposals.image_id)
            for key in gt:
                if key[0] in proposed_images:
                    groups.setdefault(key, np.zeros((0, 4)))
        image, boxes, labels, deltas = [], [], [], []
        for (image_id, wnid), props in groups.items():
            if wnid not in self.class_index:
                raise ValueError(f"proposal class {wnid} has no class index in the records")
            truth = gt.get((image_id, wnid), np.zeros((0, 4)))
            cand = np.concatenate([props, truth]) if include_gt else props
            if not len(cand):
                continue
            if len(truth):
                iou = box_iou(cand, truth)
                best, match = iou.max(axis=1), iou.argmax(axis=1)
            else:
                best, match = np.zeros(len(cand)), np.zeros(len(cand), dtype=np.int64)
            fg = best >= fg_iou
            bg = (best >= bg_iou[0]) & (best < bg_iou[1]) & ~fg
            if not len(truth) and self.absent_as_background:
                bg[:] = True
            use = fg | bg
            target = np.zeros((len(cand), 4), dtype=np.float32)
            if fg.any():
                ref = inclusive_to_continuous(torch.as_tensor(cand[fg]))
                tgt = inclusive_to_continuous(torch.as_tensor(truth[match[fg]]))
                target[fg] = coder.encode(ref, tgt).numpy()
            image += [row_of[image_id]] * int(use.sum())
            boxes.append(cand[use])
            labels.append(np.where(fg[use], self.class_index[wnid], self.num_classes))
            deltas.append(target[use])
        self.region_image = np.asarray(image, dtype=np.int64)
        self.region_box = np.concatenate(boxes or [np.zeros((0, 4))]).astype(np.float32)
        self.region_label = np.concatenate(labels or [np.zeros(0)]).astype(np.int64)
        self.region_delta = np.concatenate(deltas or [np.zeros((0, 4))]).astype(np.float32)
        self.fg = np.flatnonzero(self.region_label < self.num_classes)
        self.bg = np.flatnonzero(self.region_label == self.num_classes)

    def __len__(self) -> int:
        return len(self.fg) + self.bg_slots

    def region(self, i: int) -> int:
        """Region behind item ``i``: the i-th foreground one, else a random background one."""
        if i < len(self.fg):
            return int(self.fg[i])
        return int(self.bg[_uniform_int(0, len(self.bg) - 1)])

    def normalized(self, k: int) -> Tensor:
        """Image ``k`` as a normalised float tensor; kept when images are cached (every region of an
        image then skips the conversion: it was a third of the data time)."""
        if k in self._normalized:
            return self._normalized[k]
        image = normalize_image(self.images(k), self.mean, self.std)
        if self.images.cache:
            self._normalized[k] = image
        return image

    def warped(self, r: int) -> Tensor:
        """Region ``r`` warped to the crop size; kept when images are cached. A region's warp is the
        same in every epoch (only the flip is drawn): keeping it took fetching an epoch of mini's
        8,382 regions from 1.85 s to 0.8 s, for 400 MB."""
        if r in self._crops:
            return self._crops[r]
        image = self.normalized(int(self.region_image[r]))
        crop = warp_regions(image, torch.as_tensor(self.region_box[r][None]), self.crop_size,
                            self.context_pad, self.sampling_ratio)[0]
        if self.images.cache:
            self._crops[r] = crop
        return crop

    def get(self, i: int) -> dict:
        r = self.region(i)
        crop = self.warped(r)
        deltas = torch.as_tensor(self.region_delta[r]).clone()
        if self.flip and torch.rand(()) < 0.5:
            crop = crop.flip(-1)
            deltas[0] = -deltas[0]
        return {"inputs": crop,
                "data_samples": {"label": int(self.region_label[r]), "deltas": deltas}}


@FUNCTIONS.register_module()
def rcnn_collate(batch: Sequence[dict]) -> dict:
    """Stack crops (channels_last, the layout of the weights), labels and regression targets."""
    return {"inputs": torch.stack([b["inputs"] for b in batch]).contiguous(memory_format=torch.channels_last),
            "data_samples": {
                "labels": torch.tensor([b["data_samples"]["label"] for b in batch]),
                "deltas": torch.stack([b["data_samples"]["deltas"] for b in batch])}}
