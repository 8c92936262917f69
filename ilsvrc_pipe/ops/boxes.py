"""Inclusive pixel boxes ``[x1, y1, x2, y2]``: a box covers ``x2 - x1 + 1`` columns (ILSVRC devkit).

The arithmetic follows ``eval_clsloc.m`` / ``eval_detection.m`` operation by operation (double
precision, union = area_a + area_b - intersection) so that ties such as IoU = 10000/20000 land on
exactly the same side of a threshold as in the official code.  Pairs whose intersection width or
height is not positive have no overlap; callers choose the value reported for them.
"""
from __future__ import annotations

import numpy as np


def box_area(boxes) -> np.ndarray:
    """Areas ``(x2 - x1 + 1) * (y2 - y1 + 1)`` of an ``(..., 4)`` array, as float64."""
    b = np.asarray(boxes, dtype=np.float64)
    return (b[..., 2] - b[..., 0] + 1.0) * (b[..., 3] - b[..., 1] + 1.0)


def _iou_from_corners(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, no_overlap: float) -> np.ndarray:
    """Element-wise IoU of broadcastable corner arrays, ``no_overlap`` where iw <= 0 or ih <= 0."""
    iw = np.minimum(ax2, bx2) - np.maximum(ax1, bx1) + 1.0
    ih = np.minimum(ay2, by2) - np.maximum(ay1, by1) + 1.0
    inter = iw * ih
    union = (ax2 - ax1 + 1.0) * (ay2 - ay1 + 1.0) + (bx2 - bx1 + 1.0) * (by2 - by1 + 1.0) - inter
    overlaps = (iw > 0) & (ih > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where(overlaps, iou, no_overlap)


def box_iou_paired(boxes_a, boxes_b, no_overlap: float = 0.0) -> np.ndarray:
    """IoU of row i of ``boxes_a`` with row i of ``boxes_b`` (shapes broadcast, last axis 4)."""
    a = np.asarray(boxes_a, dtype=np.float64)
    b = np.asarray(boxes_b, dtype=np.float64)
    return _iou_from_corners(a[..., 0], a[..., 1], a[..., 2], a[..., 3],
                             b[..., 0], b[..., 1], b[..., 2], b[..., 3], no_overlap)


def box_iou(boxes_a, boxes_b, no_overlap: float = 0.0) -> np.ndarray:
    """``(N, M)`` IoU matrix of ``(N, 4)`` and ``(M, 4)`` inclusive boxes."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    return box_iou_paired(a[:, None, :], b[None, :, :], no_overlap)


def box_iou_torch(boxes_a, boxes_b, no_overlap: float = 0.0):
    """Torch twin of :func:`box_iou` for tensors already on a device (keeps dtype and device)."""
    import torch

    a = boxes_a.reshape(-1, 4)[:, None, :]
    b = boxes_b.reshape(-1, 4)[None, :, :]
    iw = torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0]) + 1
    ih = torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1]) + 1
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    iou = inter / (area_a + area_b - inter)
    return torch.where((iw > 0) & (ih > 0), iou, torch.full_like(iou, no_overlap))
