"""One image through the localizers: each R-CNN rescores and moves the union of the RPNs' proposals.

Shared by the ``rcnn`` stage (every val/test image) and ``tools/predict.py`` (any image), so a
box the tool draws is the box the stage would have written. Localizer i is (RPN i, R-CNN i); every
R-CNN scores the union of all localizers' proposals of a class once, then:

* localizer i alone keeps the best of *its own* RPN's proposals, by its own R-CNN's score;
* the ensemble averages the R-CNNs' scores and moved boxes over the union and keeps the best.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor

from .rcnn import refine_proposals

Best = tuple[list[float], float]  # (inclusive box, score)


def union_proposals(groups: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Union of several localizers' boxes of one (image, class): (U, 4) boxes and (k, U) membership."""
    boxes = torch.cat(groups)
    unique, inverse = torch.unique(boxes, dim=0, return_inverse=True)
    member = torch.zeros(len(groups), unique.shape[0], dtype=torch.bool)
    start = 0
    for k, g in enumerate(groups):
        member[k, inverse[start: start + g.shape[0]]] = True
        start += g.shape[0]
    return unique, member


def best_of(boxes: Tensor, scores: Tensor, keep: Tensor | None = None) -> Best:
    """The highest-scoring box (among ``keep``) and its score."""
    s = scores if keep is None else scores.masked_fill(~keep, -1.0)
    i = int(s.argmax())
    return boxes[i].tolist(), float(scores[i])


def rescore_image(rcnns: Sequence, image: Tensor, proposals: Sequence[Mapping[int, Tensor]],
                  batch_size: int = 256) -> tuple[list[dict[int, Best]], dict[int, Best]]:
    """Best box per class of each localizer alone and of the ensemble, for one normalised image.

    ``proposals[k]``: class index -> (P, 4) inclusive proposals of RPN k (a class may be missing);
    classes are answered in the order of ``proposals[0]``, those without any proposal left out."""
    classes = list(proposals[0])
    unions = {c: union_proposals([p.get(c, torch.zeros(0, 4)) for p in proposals]) for c in classes}
    classes = [c for c in classes if unions[c][0].shape[0] > 0]
    request = {c: unions[c][0] for c in classes}
    outputs = [refine_proposals(m, image, request, batch_size=batch_size, sort=False) for m in rcnns]
    singles: list[dict[int, Best]] = [{} for _ in rcnns]
    ensemble: dict[int, Best] = {}
    for c in classes:
        member = unions[c][1]
        for k, out in enumerate(outputs):
            if member[k].any():
                singles[k][c] = best_of(out[c].boxes, out[c].scores, member[k])
        mean_boxes = torch.stack([o[c].boxes for o in outputs]).mean(0)
        mean_scores = torch.stack([o[c].scores for o in outputs]).mean(0)
        ensemble[c] = best_of(mean_boxes, mean_scores)
    return singles, ensemble
