"""Ensemble operations of the detection stage (appendix B of He et al., "Ensemble").

Why this exists: in appendix B the detection ensemble works in two steps. The RPN proposals of all
members are pooled (the union of their proposals for one image, then -- in the caller -- NMS), and the
members' Fast R-CNN heads are then run on the SAME proposals: their class scores and per-class regressed
boxes are averaged. These are plain tensor reductions with shape checks that fail loudly, so a member
with a different class count or a different set of RoIs cannot silently broadcast into the average.

Scores are expected to be each member's softmax probabilities ``(R, C + 1)`` (background + C classes);
boxes are continuous ``[x1, y1, x2, y2]`` decoded boxes (see ``ilsvrc_pipe/ops/box_coder.py``), either
``(R, K, 4)`` or flattened ``(R, K * 4)`` with ``K`` = C (foreground classes) or C + 1 (with a
background slot).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

__all__ = ["average_member_predictions", "union_of_proposals"]


def _check_member_boxes(i: int, boxes: Tensor, n_rois: int, n_scores: int) -> None:
    """Member ``i``'s boxes must be ``(R, K, 4)`` or ``(R, K * 4)`` with ``K`` in ``{C, C + 1}``."""
    if boxes.dim() == 3 and boxes.shape[2] == 4:
        n_box_classes = boxes.shape[1]
    elif boxes.dim() == 2 and boxes.shape[1] % 4 == 0:
        n_box_classes = boxes.shape[1] // 4
    else:
        raise ValueError(f"boxes[{i}] must have shape (R, K, 4) or (R, K*4), got {tuple(boxes.shape)}")
    if boxes.shape[0] != n_rois:
        raise ValueError(f"boxes[{i}] has {boxes.shape[0]} RoIs but scores[{i}] has {n_rois}")
    if n_box_classes not in (n_scores - 1, n_scores):
        raise ValueError(
            f"boxes[{i}] has {n_box_classes} box classes, expected {n_scores - 1} (C) or {n_scores} (C+1) "
            f"for scores of shape (R, {n_scores})")


def average_member_predictions(scores: Sequence[Tensor], boxes: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Mean class scores ``(R, C + 1)`` and mean per-class boxes (the members' box shape) over members.

    ``scores[m]`` and ``boxes[m]`` are member ``m``'s predictions for the SAME ``R`` RoIs. All members
    must agree in shape (RoI count, class count, box layout), dtype and device; any mismatch raises
    ``ValueError`` naming the member and the shapes. A single member is returned as a copy.
    """
    if len(scores) == 0:
        raise ValueError("average_member_predictions needs at least one member, got none")
    if len(scores) != len(boxes):
        raise ValueError(f"{len(scores)} members' scores but {len(boxes)} members' boxes")
    ref_s, ref_b = scores[0], boxes[0]
    if ref_s.dim() != 2:
        raise ValueError(f"scores[0] must have shape (R, C+1), got {tuple(ref_s.shape)}")
    for i, (s, b) in enumerate(zip(scores, boxes)):
        if s.shape != ref_s.shape:
            raise ValueError(f"scores[{i}] has shape {tuple(s.shape)}, scores[0] has {tuple(ref_s.shape)}")
        if b.shape != ref_b.shape:
            raise ValueError(f"boxes[{i}] has shape {tuple(b.shape)}, boxes[0] has {tuple(ref_b.shape)}")
        _check_member_boxes(i, b, s.shape[0], s.shape[1])
        if s.device != ref_s.device or b.device != ref_b.device:
            raise ValueError(
                f"member {i} is on {s.device}/{b.device}, member 0 on {ref_s.device}/{ref_b.device}")
        if s.dtype != ref_s.dtype or b.dtype != ref_b.dtype:
            raise ValueError(
                f"member {i} has dtypes {s.dtype}/{b.dtype}, member 0 has {ref_s.dtype}/{ref_b.dtype}")
    mean_scores = torch.stack(list(scores), dim=0).mean(dim=0)
    mean_boxes = torch.stack(list(boxes), dim=0).mean(dim=0)
    return mean_scores, mean_boxes


def union_of_proposals(proposals: Sequence[Tensor], dedup: bool = True) -> Tensor:
    """``(P, 4)``: the members' RPN proposals of one image, concatenated in member order.

    With ``dedup`` exact duplicate rows (all four coordinates equal after promotion to the common
    dtype, e.g. the same proposal produced by two members) are dropped; the first occurrence is kept,
    so the result preserves member order and, within a member, its order. Near-duplicates are left to
    the caller's NMS.
    """
    if len(proposals) == 0:
        raise ValueError("union_of_proposals needs at least one member's proposals, got none")
    for i, p in enumerate(proposals):
        if p.dim() != 2 or p.shape[1] != 4:
            raise ValueError(f"proposals[{i}] must have shape (P_i, 4), got {tuple(p.shape)}")
        if p.device != proposals[0].device:
            raise ValueError(f"proposals[{i}] is on {p.device}, proposals[0] on {proposals[0].device}")
    union = torch.cat(list(proposals), dim=0)
    if not dedup or union.shape[0] <= 1:
        return union
    _, inverse = torch.unique(union, dim=0, return_inverse=True)
    n_unique = int(inverse.max()) + 1
    positions = torch.arange(union.shape[0], device=union.device)
    first = torch.full((n_unique,), union.shape[0], dtype=torch.long, device=union.device)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin", include_self=True)
    return union[torch.sort(first).values]
