"""Box voting and the box-refinement merge of the detection stage (appendix B of He et al.).

Why this exists: appendix B improves detection by *box refinement*. The regressed boxes are pooled
again to get new scores and new boxes; the new predictions are merged with the old ones, non-maximum
suppression (IoU 0.3) is applied to the union, and then *box voting* (Gidaris & Komodakis) replaces each
kept box by the score-weighted mean of the union's boxes of the same class that overlap it. torchvision
has NMS but no voting, so both live here as pure tensor operations.

Boxes are continuous ``[x1, y1, x2, y2]`` float tensors (pixel ``i`` spans ``[i, i + 1)``), the
convention inside the networks (see ``ilsvrc_pipe/ops/box_coder.py`` for the conversions). IoUs use
``torchvision.ops.box_iou`` computed in float64, so that a pair whose IoU is exactly a threshold such as
0.5 is not pushed below it by float32 rounding; results come back in the input dtype.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torchvision.ops import batched_nms, box_iou

__all__ = ["box_voting", "refine_and_vote"]


def _check_boxes(name: str, boxes: Tensor) -> None:
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(boxes.shape)}")


def _check_vector(name: str, vec: Tensor, n: int, boxes_name: str) -> None:
    if vec.dim() != 1 or vec.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) like {boxes_name}, got {tuple(vec.shape)}")


def box_voting(
    kept_boxes: Tensor,
    kept_labels: Tensor,
    pool_boxes: Tensor,
    pool_scores: Tensor,
    pool_labels: Tensor,
    iou_threshold: float = 0.5,
) -> Tensor:
    """Replace each kept box by the score-weighted mean of the pool boxes that vote for it.

    A pool box votes for a kept box when both have the same label and their IoU is ``>= iou_threshold``
    (inclusive, so an IoU of exactly 0.5 votes at the default threshold). The kept box itself is
    normally part of the pool and then votes with its own score. When no pool box votes -- or the votes'
    total weight is not positive (scores are expected to be non-negative probabilities) -- the kept box is
    returned unchanged. Scores are not touched: the caller keeps the kept boxes' scores.

    Shapes: ``kept_boxes (K, 4)``, ``kept_labels (K,)``, ``pool_boxes (P, 4)``, ``pool_scores (P,)``,
    ``pool_labels (P,)``. Returns ``(K, 4)`` in ``kept_boxes``' dtype. One ``(K, P)`` IoU matrix masked
    by label equality; no Python loop over boxes.
    """
    _check_boxes("kept_boxes", kept_boxes)
    _check_boxes("pool_boxes", pool_boxes)
    _check_vector("kept_labels", kept_labels, kept_boxes.shape[0], "kept_boxes")
    _check_vector("pool_scores", pool_scores, pool_boxes.shape[0], "pool_boxes")
    _check_vector("pool_labels", pool_labels, pool_boxes.shape[0], "pool_boxes")
    if kept_boxes.shape[0] == 0 or pool_boxes.shape[0] == 0:
        return kept_boxes.clone()

    kept64 = kept_boxes.to(torch.float64)
    pool64 = pool_boxes.to(device=kept_boxes.device, dtype=torch.float64)
    iou = box_iou(kept64, pool64)                                       # (K, P)
    same = kept_labels.view(-1, 1) == pool_labels.to(kept_labels.device).view(1, -1)
    votes = (iou >= iou_threshold) & same
    weights = pool_scores.to(device=kept_boxes.device, dtype=torch.float64).view(1, -1) * votes
    total = weights.sum(dim=1, keepdim=True)                            # (K, 1)
    voted = (weights @ pool64) / total.clamp_min(torch.finfo(torch.float64).tiny)
    out = torch.where(total > 0, voted, kept64)
    return out.to(kept_boxes.dtype)


def refine_and_vote(
    old_boxes: Tensor,
    old_scores: Tensor,
    old_labels: Tensor,
    new_boxes: Tensor,
    new_scores: Tensor,
    new_labels: Tensor,
    nms_iou: float = 0.3,
    vote_iou: float = 0.5,
    max_per_image: Optional[int] = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The box-refinement merge of appendix B for one image: union, per-class NMS, box voting.

    1. The old predictions (first pass) and the new ones (the refined boxes re-scored) are concatenated,
       old first.
    2. Per-class NMS at ``nms_iou`` with ``torchvision.ops.batched_nms`` (a box is suppressed by a
       higher-scoring box of its class when their IoU is ``> nms_iou``; equal scores keep torchvision's
       order).
    3. Each kept box is replaced by :func:`box_voting` over the *whole union* (same class,
       IoU ``>= vote_iou``), including the boxes NMS suppressed; its score stays the kept box's score.
    4. Sorted by score descending (stable: equal scores keep NMS order) and, when ``max_per_image`` is
       given, cut to that many.

    Each input is per-detection: boxes ``(N, 4)`` continuous, scores ``(N,)``, integer labels ``(N,)``.
    Returns ``(boxes (M, 4), scores (M,), labels (M,))``; ``M`` may be 0.
    """
    for prefix, boxes, scores, labels in (("old", old_boxes, old_scores, old_labels),
                                          ("new", new_boxes, new_scores, new_labels)):
        _check_boxes(f"{prefix}_boxes", boxes)
        _check_vector(f"{prefix}_scores", scores, boxes.shape[0], f"{prefix}_boxes")
        _check_vector(f"{prefix}_labels", labels, boxes.shape[0], f"{prefix}_boxes")
    if max_per_image is not None and max_per_image < 0:
        raise ValueError(f"max_per_image must be >= 0 or None, got {max_per_image}")

    boxes = torch.cat([old_boxes, new_boxes.to(old_boxes)], dim=0)
    scores = torch.cat([old_scores, new_scores.to(old_scores)], dim=0)
    labels = torch.cat([old_labels, new_labels.to(old_labels)], dim=0)
    if boxes.shape[0] == 0:
        return boxes, scores, labels

    keep = batched_nms(boxes, scores, labels, nms_iou)
    kept_boxes = box_voting(boxes[keep], labels[keep], boxes, scores, labels, iou_threshold=vote_iou)
    kept_scores, kept_labels = scores[keep], labels[keep]

    order = torch.sort(kept_scores, descending=True, stable=True).indices
    if max_per_image is not None:
        order = order[:max_per_image]
    return kept_boxes[order], kept_scores[order], kept_labels[order]
