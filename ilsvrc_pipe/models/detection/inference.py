"""Test-time modes of the C4 detector (appendix B): box refinement with voting, multi-scale maxout,
ensembles. They call the detector's parts directly (features -> proposals -> pool -> conv5 ->
predictor -> decode), because maxout, voting and ensembles need the raw per-class scores.

One image at a time, in the frame of its primary input (the RPN's): :func:`detect` returns its
detections in that frame, :func:`detect_image` the final ones (on the CPU, inclusive boxes of the
original image), which the ``det`` stage and ``tools/predict.py`` both use. For every RoI a member
gives class probabilities ``(R, C+1)`` and per-class boxes ``(R, C+1, 4)``; an ensemble averages those
of its members over the union of their proposals (``ops/ensemble.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import batched_nms

from ...ops.box_coder import clip_inclusive, continuous_to_inclusive
from ...ops.box_voting import refine_and_vote
from ...ops.ensemble import average_member_predictions, union_of_proposals
from ...ops.multiscale import maxout_merge, pool_at_two_scales
from .c4 import C4FasterRCNN, pad_batch

MAXOUT_PLACEMENTS = ("after_conv5", "before_conv5")


@dataclass(frozen=True)
class DetectionMode:
    """What a Table 9 row does at test time."""

    refine: bool = False          # box refinement: second pass on regressed boxes, union, NMS, voting
    multiscale: bool = False      # Fast R-CNN step on the image pyramid, two scales per RoI, maxout
    nms_iou: float = 0.3          # per-class NMS (paper: 0.3)
    vote_iou: float = 0.5         # box voting overlap
    score_threshold: float = 1e-3
    max_per_image: int = 100
    target_size: float = 224.0    # the training RoI size the two scales are chosen around
    # where the two scales' features meet: "after_conv5" (the paper: RoI pooling and conv5 on each
    # scale, then maxout of the two per-region features) or "before_conv5" (maxout of the two
    # RoI-pooled conv4 features, then one conv5)
    maxout: str = "after_conv5"

    def __post_init__(self):
        if self.maxout not in MAXOUT_PLACEMENTS:
            raise ValueError(f"det.test.maxout must be one of {MAXOUT_PLACEMENTS}, got {self.maxout!r}")


@dataclass
class Detections:
    boxes: Tensor    # (D, 4) continuous, primary-scale frame (detect_image: inclusive, original image, float64)
    scores: Tensor   # (D,)
    labels: Tensor   # (D,) 1..C

    def cpu(self) -> "Detections":
        return Detections(self.boxes.cpu(), self.scores.cpu(), self.labels.cpu())


class MemberView:
    """One detector's view of one image: conv4 of the primary input (RPN, context), its proposals,
    and conv4 of every pyramid level (multi-scale testing), each computed on first use: every
    network call then happens inside :func:`detect` (its ``no_grad``, and the caller's autocast).

    ``pyramid``: the levels, heights strictly increasing (``PackDetPyramid`` merges equal ones).
    ``primary``: the primary input itself (a tensor), or the index of the pyramid level that is it.
    Primary and levels are resizes of one image, so a level of the primary input's size IS the
    primary input: its conv4 is the primary's, computed once.
    """

    def __init__(self, model: C4FasterRCNN, pyramid: Sequence[Tensor], primary: int | Tensor):
        device = next(model.parameters()).device
        own = primary.to(device) if isinstance(primary, Tensor) else None
        self.model, self.pyramid = model, [own if im is primary else im.to(device) for im in pyramid]
        self.image = self.pyramid[int(primary)] if own is None else own
        self.size = (int(self.image.shape[-2]), int(self.image.shape[-1]))
        self.batch, _ = pad_batch([self.image], model.stride)
        self._feat: Tensor | None = None
        self._proposals: Tensor | None = None
        self._pyramid_feats: list[Tensor] | None = None

    @property
    def feat(self) -> Tensor:
        if self._feat is None:
            self._feat = self.model.features(self.batch)
        return self._feat

    def proposals(self) -> Tensor:
        if self._proposals is None:
            self._proposals = self.model.proposals(self.batch, [self.size], self.feat)[0][0]
        return self._proposals

    def is_primary(self, image: Tensor) -> bool:
        return tuple(image.shape) == tuple(self.image.shape)

    def pyramid_features(self) -> tuple[list[Tensor], list[float]]:
        """conv4 of every level and its size relative to the primary input."""
        if self._pyramid_feats is None:
            self._pyramid_feats = [self.feat if self.is_primary(im) else
                                   self.model.features(pad_batch([im], self.model.stride)[0]) for im in self.pyramid]
        base = float(self.image.shape[-2])
        return self._pyramid_feats, [float(im.shape[-2]) / base for im in self.pyramid]

    def uses_pyramid(self, mode: "DetectionMode") -> bool:
        """Multi-scale pooling, unless the pyramid adds nothing to the primary input (no level, or
        one level that is the primary input)."""
        return mode.multiscale and bool(self.pyramid) and not (len(self.pyramid) == 1 and self.is_primary(self.pyramid[0]))

    def outputs(self, rois: Tensor, mode: "DetectionMode") -> tuple[Tensor, Tensor]:
        """Softmax scores ``(R, C+1)`` and decoded, clipped boxes ``(R, C+1, 4)`` of ``rois``."""
        pooled = region_feat = None
        if self.uses_pyramid(mode):
            feats, factors = self.pyramid_features()
            pooler = self.model.roi_pooler
            # float32 maps (half under autocast): RoIs take the maps' dtype, and CPU roi_pool lacks bf16
            best, adjacent = pool_at_two_scales([f.float() for f in feats], rois, factors, 1.0 / self.model.stride,
                                                pooler.output_size, mode.target_size, pooler.kind)
            if mode.maxout == "after_conv5":
                region_feat = maxout_merge(self.model.region_features(best), self.model.region_features(adjacent))
            else:
                pooled = maxout_merge(best, adjacent)
        logits, deltas = self.model.region_outputs(self.feat, [rois], [self.size], pooled=pooled,
                                                   region_feat=region_feat)
        return logits.softmax(dim=1), self.model.decode(deltas, [rois], [self.size])


def per_class_predictions(scores: Tensor, boxes: Tensor, threshold: float) -> tuple[Tensor, Tensor, Tensor]:
    """Every (RoI, class >= 1) pair above ``threshold``: boxes, scores and labels, flattened."""
    s, b = scores[:, 1:], boxes[:, 1:]
    keep = s > threshold
    labels = torch.arange(1, scores.shape[1], device=scores.device).expand_as(s)
    return b[keep], s[keep], labels[keep]


def regressed_boxes(scores: Tensor, boxes: Tensor) -> Tensor:
    """Each RoI's box regressed for its highest-scoring object class: the refinement's new RoIs."""
    best = scores[:, 1:].argmax(dim=1) + 1
    return boxes[torch.arange(boxes.shape[0]), best]


@torch.no_grad()
def detect(views: Sequence[MemberView], mode: DetectionMode) -> Detections:
    """Detections of one image by one detector or an ensemble (one view per member)."""
    rois = union_of_proposals([v.proposals() for v in views]) if len(views) > 1 else views[0].proposals()

    def ensemble_outputs(r: Tensor) -> tuple[Tensor, Tensor]:
        outs = [v.outputs(r, mode) for v in views]
        if len(outs) == 1:
            return outs[0]
        return average_member_predictions([o[0] for o in outs], [o[1] for o in outs])

    scores, boxes = ensemble_outputs(rois)
    old = per_class_predictions(scores, boxes, mode.score_threshold)
    if not mode.refine:
        keep = batched_nms(old[0], old[1], old[2], mode.nms_iou)[: mode.max_per_image]
        return Detections(old[0][keep], old[1][keep], old[2][keep])
    new_scores, new_boxes = ensemble_outputs(regressed_boxes(scores, boxes))
    new = per_class_predictions(new_scores, new_boxes, mode.score_threshold)
    b, s, lab = refine_and_vote(*old, *new, nms_iou=mode.nms_iou, vote_iou=mode.vote_iou,
                                max_per_image=mode.max_per_image)
    return Detections(b, s, lab)


def to_original_image(dets: Detections, meta: dict) -> np.ndarray:
    """(D, 4) inclusive float64 boxes in the original image's frame from the continuous boxes of the
    primary input (``meta["scale_factor"]`` and ``meta["ori_size"]``, ``PackDetPyramid``)."""
    sx, sy = meta["scale_factor"]
    h, w = meta["ori_size"]
    boxes = dets.boxes / dets.boxes.new_tensor([sx, sy, sx, sy])
    # clip_inclusive keeps x2 >= x1: a box under a pixel high at the border would otherwise end
    # above where it starts once converted to inclusive coordinates and clipped
    return clip_inclusive(continuous_to_inclusive(boxes), (h, w)).numpy().astype(np.float64)


def _call(fn, /, *args, **kwargs):
    return fn(*args, **kwargs)


def detect_image(views: Sequence[MemberView], mode: DetectionMode, meta: dict, infer: Callable = _call) -> Detections:
    """The final detections of one image: :func:`detect` run through ``infer`` (the caller's device
    and precision: ``StageContext.infer``, ``RunModels.infer``), brought to the CPU, the boxes
    inclusive in the original image's frame (:func:`to_original_image`)."""
    dets = infer(detect, views, mode).cpu()
    return Detections(torch.from_numpy(to_original_image(dets, meta)), dets.scores, dets.labels)
