"""Anchor labelling and the balanced anchor sample of an RPN (Ren et al., Faster R-CNN, Sec. 3.1.2).

Labels: positive (1) if IoU >= ``pos_iou`` with some ground-truth box, or if the anchor is (one of)
the best anchors of a ground-truth box; negative (0) if its best IoU is < ``neg_iou``; ignored (-1)
otherwise; optionally anchors crossing the image border are ignored (:func:`ignore_crossing`).
IoUs use the project's +1 inclusive convention (``ops.box_iou_torch``) on the inclusive
forms of the continuous boxes, which is the same number as the continuous-coordinate IoU.

Sampling: ``num_samples`` anchors per image with at most ``positive_fraction`` positives; when an
image has fewer positives the sample is filled with negatives, as Faster R-CNN does, so every image
contributes ``num_samples`` anchors (the paper's LOC RPN: 8 per image, 1:1).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ...ops.box_coder import continuous_to_inclusive
from ...ops.boxes import box_iou_torch

POSITIVE, NEGATIVE, IGNORE = 1, 0, -1


def continuous_iou(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """``(N, M)`` IoU of continuous boxes, through the inclusive-box IoU of ``ops``."""
    return box_iou_torch(continuous_to_inclusive(boxes_a), continuous_to_inclusive(boxes_b))


def match_anchors(anchors: Tensor, gt_boxes: Tensor, pos_iou: float = 0.7, neg_iou: float = 0.3,
                  match_best: bool = True, ignore_boxes: Tensor | None = None
                  ) -> tuple[Tensor, Tensor]:
    """Label ``(N, 4)`` anchors against ``(M, 4)`` ground truth (both continuous).

    Returns ``labels`` ``(N,)`` in {1, 0, -1} and ``matched`` ``(N,)``, the index of each anchor's
    best ground-truth box (0 where there is none). ``match_best`` makes each ground-truth box's
    best anchors positive (ties included; only where that IoU is > 0). An anchor that would be a
    negative but overlaps one of ``ignore_boxes`` (objects cut away by a crop) by ``>= neg_iou`` is
    ignored rather than taught to be background.
    """
    n = anchors.shape[0]
    labels = torch.full((n,), IGNORE, dtype=torch.long, device=anchors.device)
    matched = torch.zeros(n, dtype=torch.long, device=anchors.device)
    if gt_boxes.numel() == 0:
        labels.fill_(NEGATIVE)
        best = torch.zeros(n, dtype=anchors.dtype, device=anchors.device)
    else:
        iou = continuous_iou(anchors, gt_boxes)
        best, matched = iou.max(dim=1)
        labels[best < neg_iou] = NEGATIVE
        labels[best >= pos_iou] = POSITIVE
        if match_best:
            gt_best = iou.max(dim=0).values
            is_best = (iou == gt_best[None, :]) & (gt_best[None, :] > 0)
            anchor_idx, gt_idx = is_best.nonzero(as_tuple=True)
            labels[anchor_idx] = POSITIVE
            matched[anchor_idx] = gt_idx
    if ignore_boxes is not None and ignore_boxes.numel():
        near_cut = continuous_iou(anchors, ignore_boxes).max(dim=1).values >= neg_iou
        labels[(labels == NEGATIVE) & near_cut] = IGNORE
    return labels, matched


def ignore_crossing(labels: Tensor, anchors: Tensor, size: tuple[int, int],
                    allowed_border: float) -> Tensor:
    """Faster R-CNN's training rule: anchors reaching more than ``allowed_border`` pixels past
    the ``(h, w)`` image take no part (label -1)."""
    h, w = size
    b = allowed_border
    inside = ((anchors[:, 0] >= -b) & (anchors[:, 1] >= -b)
              & (anchors[:, 2] <= w + b) & (anchors[:, 3] <= h + b))
    return torch.where(inside, labels, torch.full_like(labels, IGNORE))


def sample_balanced(labels: Tensor, num_samples: int, positive_fraction: float = 0.5,
                    generator: torch.Generator | None = None, near: Tensor | None = None,
                    near_fraction: float = 0.0) -> tuple[Tensor, Tensor]:
    """Indices of the sampled positives and negatives of one image.

    At most ``round(num_samples * positive_fraction)`` positives; negatives fill the rest of the
    ``num_samples`` (fewer only if the image has too few negatives). With ``near`` (a boolean mask
    of the anchors) and ``near_fraction``, that fraction of the negatives is drawn from the near
    ones first (negatives that overlap an object: parts and too-large boxes around it, which
    uniform sampling of a mostly empty image rarely picks), the rest from all others.
    """
    pos = (labels == POSITIVE).nonzero(as_tuple=True)[0]
    neg = (labels == NEGATIVE).nonzero(as_tuple=True)[0]
    n_pos = min(pos.numel(), int(round(num_samples * positive_fraction)))
    n_neg = min(neg.numel(), num_samples - n_pos)
    pos = pos[torch.randperm(pos.numel(), generator=generator, device="cpu")[:n_pos].to(pos.device)]
    if near is None or near_fraction <= 0:
        neg = neg[torch.randperm(neg.numel(), generator=generator, device="cpu")[:n_neg].to(neg.device)]
        return pos, neg
    hard, easy = neg[near[neg]], neg[~near[neg]]
    n_hard = min(hard.numel(), int(round(n_neg * near_fraction)))
    hard = hard[torch.randperm(hard.numel(), generator=generator, device="cpu").to(hard.device)]
    rest = torch.cat([hard[n_hard:], easy])
    rest = rest[torch.randperm(rest.numel(), generator=generator, device="cpu")[:n_neg - n_hard].to(rest.device)]
    return pos, torch.cat([hard[:n_hard], rest])
