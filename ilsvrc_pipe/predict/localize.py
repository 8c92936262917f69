"""LOC on one image: five classes, each with its best box, as a Table 13 row of the ``loc`` stage gives them.

The row (default: the one ``loc`` chose for the submissions, ``loc/metrics.json`` ``best_row``)
fixes which models answer, from the same table as the ``loc`` stage (``engine/rows.py``
``LOC_ROWS``): the first classifier's top-5 (dense mode) or the ensemble's, the first RPN's
proposals (centre crop or dense) or every RPN's, and none, the first or every R-CNN (the R-CNNs'
scores and boxes averaged over the union of the RPNs' proposals).

The code paths are the stages': ``predict_modes`` and ``top5_table`` (cls), ``propose_dense`` /
``propose_center_crop`` (rpn), ``rescore_image`` (rcnn), each through ``RunModels.infer`` (the
``--device`` and ``--precision``; results back on the CPU). A class without a proposal gets the
whole image, as in ``loc``.
"""
from __future__ import annotations

import pandas as pd
import torch

from ..artifacts.tables import top5_table
from ..data.transforms import load_normalized
from ..engine.rows import DEFAULT_LOC_ROW, LOC_ROWS
from ..models.classification.view_modes import average_probs, predict_modes
from ..models.localization.per_class_rpn import propose_center_crop, propose_dense
from ..models.localization.rescoring import rescore_image
from ..utils.errors import UserInputError
from .run_models import RunModels


def _members(models: dict, role: str) -> list:
    """The models a row's role stands for: the first (config order), or all of them."""
    return list(models.values()) if role == "ensemble" else [next(iter(models.values()))]


def default_row(models: RunModels) -> str:
    return (models.art.read_metrics("loc") or {}).get("best_row", DEFAULT_LOC_ROW)


class LocPredictor:
    """Top-5 (class, box) guesses of one image by one Table 13 row's models."""

    def __init__(self, models: RunModels, row: str):
        if row not in LOC_ROWS:
            raise UserInputError(f"--loc-row {row!r}: choose from {', '.join(LOC_ROWS)}")
        cfg, spec = models.cfg, LOC_ROWS[row]
        self.row, self.synsets, self.infer, self.device = row, models.classes["clsloc"], models.infer, models.device
        self.precision = models.precision
        self.wnids = list(self.synsets.sorted_wnids)
        self.cls_test, self.rpn_test = dict(cfg.cls["test"]), dict(cfg.rpn["test"])
        self.mode = cfg.cls.get("ensemble_mode", "dense")
        # the first classifier's dense-mode scores (tables.member_top5), or the ensemble's in its mode
        self.classifiers = _members(models.classifiers(), spec.classifier)
        self.cls_mode = self.mode if spec.classifier == "ensemble" else "dense"
        self.proposals = spec.proposals
        self.rpns = _members(models.rpns(), spec.rpn)
        self.rcnns = []
        if spec.rcnn is not None:
            self.rcnns = _members(models.rcnns(), spec.rcnn)
            self.top_k = int(cfg.rcnn["test"]["top_k"])
            self.rcnn_batch = int(cfg.rcnn["test"].get("batch_size", 256))

    def top5(self, image: torch.Tensor, name: str) -> pd.DataFrame:
        probs = [self.infer(predict_modes, m, [image], self.cls_test, (self.cls_mode,))[self.cls_mode].cpu()
                 for m in self.classifiers]
        return top5_table(pd.DataFrame(average_probs(probs).numpy(), index=[name], columns=self.wnids))

    def boxes(self, image: torch.Tensor, classes: list[int]) -> dict[int, tuple[list[float], float]]:
        """Best (inclusive box, localizer score) per class index."""
        if self.proposals == "center":
            props = [self.infer(propose_center_crop, self.rpns[0], [image], [classes], scale=self.rpn_test["scale"],
                                crop=self.rpn_test["crop"])[0]]
        else:
            props = [self.infer(propose_dense, m, image, classes, scales=self.rpn_test["dense_scales"])
                     for m in self.rpns]
        if not self.rcnns:
            return {c: (p.boxes[0].tolist(), float(p.scores[0])) for c, p in props[0].items() if p.scores.numel()}
        # on the CPU, as the rcnn stage reads them from the proposal tables
        proposals = [{c: p.boxes[:self.top_k].cpu() for c, p in per_rpn.items()} for per_rpn in props]
        singles, ensemble = self.infer(rescore_image, self.rcnns, image, proposals, self.rcnn_batch)
        return ensemble if len(self.rcnns) > 1 else singles[0]

    @torch.no_grad()
    def __call__(self, path, name: str) -> list[dict]:
        image = load_normalized(path).to(self.device)
        height, width = image.shape[-2:]
        top5 = self.top5(image, name)
        classes = [self.synsets.index_of(w) for w in top5.wnid]
        found = self.boxes(image, classes)
        whole = [0.0, 0.0, float(width - 1), float(height - 1)]
        out = []
        for c, row in zip(classes, top5.itertuples(index=False)):
            box, box_score = found.get(c, (whole, None))
            out.append({"wnid": row.wnid, "name": self.synsets.name_of(row.wnid), "score": float(row.score),
                        "box": [round(float(v), 2) for v in box], "box_score": box_score})
        return out
