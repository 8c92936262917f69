"""Anchor shapes fitted to the training boxes of the data actually given (YOLOv2-style k-means).

Anchor sides tuned by hand to one dataset's object sizes fail on another: a second preset showed the
per-class RPN's anchors of 32-80 px, chosen for the mini generator's large objects, weak where
objects are 15 % of the shorter side. Instead the stages can cluster the ``(width, height)`` of the
training boxes, as the network sees them after the training resize, with the distance
``1 - IoU`` of two boxes sharing a centre (Redmon & Farhadi 2017, "YOLO9000", section 2): the
mean is no good distance here because it lets large boxes dominate.

The clustering is deterministic (centres start at evenly spaced area quantiles), so the pipeline's
stage that fits the anchors and every later tool that rebuilds the model get the same shapes.
"""
from __future__ import annotations

import numpy as np


def shape_iou(wh: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``(N, K)`` IoU of boxes ``wh (N, 2)`` and ``centres (K, 2)`` placed on the same centre."""
    wh, centres = np.asarray(wh, dtype=np.float64), np.asarray(centres, dtype=np.float64)
    inter = np.minimum(wh[:, None, 0], centres[None, :, 0]) * np.minimum(wh[:, None, 1], centres[None, :, 1])
    union = wh[:, None, 0] * wh[:, None, 1] + centres[None, :, 0] * centres[None, :, 1] - inter
    return inter / union


def kmeans_anchor_shapes(wh: np.ndarray, k: int, max_iter: int = 300) -> np.ndarray:
    """``(k, 2)`` anchor (width, height) pairs clustering ``wh`` under ``1 - IoU``, smallest area first.

    Each centre is the median of its members (robust to the few crop-clipped giants); a centre that
    loses all its members keeps its place.
    """
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    wh = wh[(wh > 0).all(axis=1)]
    if k < 1:
        raise ValueError(f"need at least one anchor, got k={k}")
    if len(wh) < k:
        raise ValueError(f"{len(wh)} training boxes cannot give {k} anchor shapes")
    by_area = wh[np.argsort(wh.prod(axis=1), kind="stable")]
    centres = by_area[((np.arange(k) + 0.5) * len(wh) / k).astype(int)].copy()
    assign = None
    for _ in range(max_iter):
        new = shape_iou(wh, centres).argmax(axis=1)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = wh[assign == j]
            if len(members):
                centres[j] = np.median(members, axis=0)
    return centres[np.argsort(centres.prod(axis=1), kind="stable")]


def floor_box_shapes(wh: np.ndarray, min_side: float) -> np.ndarray:
    """Boxes whose side (sqrt of area) is below ``min_side`` scaled up to it, keeping their aspect.

    On a feature grid of stride ``s`` an anchor much smaller than ``2 s`` rarely reaches a positive
    IoU with a box of its own size (the box centre is up to ``s / 2`` off the nearest anchor
    centre), so its anchors end up trained as negatives on the very objects they were fitted to;
    small boxes are better served by anchors of the smallest size the grid can match, regressed down.
    """
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    side = np.sqrt(wh.prod(axis=1))
    return wh * np.maximum(min_side / np.maximum(side, 1e-9), 1.0)[:, None]


def mean_best_iou(wh: np.ndarray, centres: np.ndarray) -> float:
    """Average over boxes of the IoU with their best anchor: how well the anchors cover the boxes."""
    return float(shape_iou(np.asarray(wh, dtype=np.float64).reshape(-1, 2), centres).max(axis=1).mean())


def resized_box_shapes(boxes: np.ndarray, shorter_sides: np.ndarray, scales, crop: float | None = None) -> np.ndarray:
    """``(width, height)`` of inclusive ``boxes`` after resizing each image's shorter side to every
    value of ``scales`` (the training's scale jitter), clipped to a ``crop`` when training crops."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    wh = np.stack([boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1], axis=1)
    factors = np.asarray(scales, dtype=np.float64)[:, None] / np.asarray(shorter_sides, dtype=np.float64)[None, :]
    out = (wh[None, :, :] * factors[:, :, None]).reshape(-1, 2)
    return np.minimum(out, crop) if crop else out


def fitted_anchors_summary(wh: np.ndarray, shapes: np.ndarray) -> dict:
    """What the pipeline records next to the fitted shapes (``anchors.json``)."""
    return {"shapes": [[round(float(w), 2), round(float(h), 2)] for w, h in shapes],
            "num_boxes": int(len(wh)), "mean_best_iou": round(mean_best_iou(wh, shapes), 4)}
