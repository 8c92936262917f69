"""Greedy NMS when only the best ``k`` survivors are wanted.

The proposal loops keep the top 200 boxes of each class after NMS, out of every anchor of a scale;
torchvision's CPU ``nms`` compares each survivor with every lower-scored box, so most of its time
goes to survivors that are cut afterwards (the RPN's dense testing spent over half its time in
``nms``: ``benchmarks/bench_loc.py``). Greedy NMS decides a box from the boxes scored above it
alone, so NMS of the best-scored ``m`` boxes keeps exactly the survivors of the full NMS that lie
among them, in the same order: once those are ``k`` or more, their first ``k`` ARE the first ``k``
of the full NMS. :func:`nms_top_k` tries growing prefixes and returns the same indices as
``torchvision.ops.nms(boxes, scores, iou)[:k]``.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import nms


def nms_top_k(boxes: Tensor, scores: Tensor, iou: float, k: int, first: int | None = None) -> Tensor:
    """Indices of ``nms(boxes, scores, iou)[:k]`` (decreasing score), computed on the best-scored
    boxes only while they hold ``k`` survivors: first the best ``first`` (default ``2 k``), then
    four times as many, and so on. A prefix is cut at a score, never inside a run of equal scores,
    and keeps the boxes' order, so ties are broken as in the full NMS."""
    n = scores.numel()
    m = max(1, 2 * k if first is None else int(first))
    while m < n and k > 0:
        cut = scores.topk(m, sorted=True).values[-1]
        prefix = torch.nonzero(scores >= cut).squeeze(1)
        keep = nms(boxes[prefix], scores[prefix], iou)
        if keep.numel() >= k:
            return prefix[keep[:k]]
        m *= 4
    return nms(boxes, scores, iou)[:k]
