"""The rows of the paper's Table 13 (LOC) and Table 9 (DET), as data: which classifier, RPN, R-CNN
or detectors answer each row, and in which test mode.

The ``loc`` stage scores every LOC row and ``tools/predict.py --task loc`` answers one; the ``det``
stage scores every DET row, ``tools/predict.py --task det`` and ``benchmarks/bench_det.py`` run
one. The paper's figures for each row are in ``ilsvrc_pipe/report/paper.py``.

Table 13 (:data:`LOC_ROWS`; ``"first"`` is the first member of the config section's ``models``,
``"ensemble"`` all of them together):

* ``rpn_center``: RPN 1, single-scale centre-crop testing, classes of classifier 1 (dense mode);
* ``rpn_dense``: RPN 1, dense multi-scale testing, classes of classifier 1;
* ``rpn_rcnn_dense``: RPN 1 + R-CNN 1, dense, classes of classifier 1;
* ``rpn_rcnn_dense_ensemble``: every RPN + R-CNN localizer (the R-CNNs' scores and boxes averaged
  over the union of the RPNs' proposals), and the classifier ensemble;
* ``baseline_<kind>``: the floors of ``evaluation/baselines.py`` (no model).

Table 9 (:data:`DET_TABLE`; a learned row's detectors are the config's ``det.rows``):

* ``floor_whole_image``: one whole-image box per (image, class), scored by the class's frequency
  in the training images: a floor no learned row may fall to;
* ``baseline``: one detector, single scale, per-class NMS (``det.test.nms_iou``, paper 0.3);
* ``refine``: + box refinement (second pass on the regressed boxes, union, NMS, box voting);
* ``refine_context``: the same with a detector trained with the global context branch;
* ``refine_context_multiscale``: + the Fast R-CNN step on the image pyramid (two scales per RoI, maxout);
* ``ensemble``: several detectors: union of their proposals, averaged scores and boxes, refinement,
  multi-scale, NMS and voting.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Mapping

from ..artifacts.paths import Artifacts

if TYPE_CHECKING:
    from ..models.detection.inference import DetectionMode

Role = Literal["first", "ensemble"]


@dataclass(frozen=True)
class LocRow:
    """What answers one Table 13 row."""

    classifier: Role        # whose top-5 classes: the first classifier's (dense mode) or the ensemble's
    rpn: Role               # the first RPN, or every RPN (the union of their proposals)
    proposals: str          # the RPN's test mode: "center" (one centre crop) or "dense" (multi-scale)
    rcnn: Role | None       # None: the RPN's best proposal; else the first R-CNN (on its own RPN's
    #                         proposals) or every R-CNN (scores and boxes averaged), moving and rescoring them


LOC_ROWS: dict[str, LocRow] = {
    "rpn_center": LocRow(classifier="first", rpn="first", proposals="center", rcnn=None),
    "rpn_dense": LocRow(classifier="first", rpn="first", proposals="dense", rcnn=None),
    "rpn_rcnn_dense": LocRow(classifier="first", rpn="first", proposals="dense", rcnn="first"),
    "rpn_rcnn_dense_ensemble": LocRow(classifier="ensemble", rpn="ensemble", proposals="dense", rcnn="ensemble"),
}
DEFAULT_LOC_ROW = "rpn_rcnn_dense_ensemble"   # tools/predict.py's row when the run's loc stage chose none
BASELINE_PREFIX = "baseline_"                 # Table 13's floors (evaluation/baselines.py): baseline_<kind>
# the order in which the localization stages gather the classes of every row's classifier on an image
CLASSIFIER_ORDER: tuple[Role, ...] = ("ensemble", "first")


def member(section: Mapping, role: Role) -> str:
    """The artifact name a role stands for in a config section (``cls``, ``rpn`` or ``rcnn``): the
    first member's name, or ``"ensemble"``."""
    return str(section["models"][0]["name"]) if role == "first" else "ensemble"


def loc_row_inputs(art: Artifacts, cfg, split: str) -> dict[str, tuple[Path, str]]:
    """Per Table 13 row: its box table on ``split`` and whose top-5 table gives its classes (a
    classifier's name or ``"ensemble"``, as ``artifacts.tables.member_top5`` reads them). ``cfg``
    holds the ``cls``, ``rpn`` and ``rcnn`` sections."""
    out = {}
    for name, row in LOC_ROWS.items():
        if row.rcnn is not None:
            boxes = art.rcnn_boxes(member(cfg.rcnn, row.rcnn), split)
        elif row.rpn == "first":
            boxes = art.proposals(member(cfg.rpn, "first"), row.proposals, split)
        else:
            raise ValueError(f"LOC row {name!r}: no box table holds every RPN's proposals without an R-CNN")
        out[name] = (boxes, member(cfg.cls, row.classifier))
    return out


def loc_classifiers(cls_section: Mapping) -> list[str]:
    """The classifiers (names, or ``"ensemble"``) whose top-5 classes some Table 13 row localizes,
    in :data:`CLASSIFIER_ORDER`."""
    roles = {row.classifier for row in LOC_ROWS.values()}
    return [member(cls_section, role) for role in CLASSIFIER_ORDER if role in roles]


def baseline_row(kind: str) -> str:
    """The Table 13 row of a baseline kind (``evaluation/baselines.py`` ``KINDS``: ``full-image`` ->
    ``baseline_full_image``)."""
    return BASELINE_PREFIX + kind.replace("-", "_")


def loc_row_files(art: Artifacts, row: str) -> dict[str, str]:
    """The devkit files of a Table 13 row (a localizer's or a baseline's), as the artifact map names
    them: ``top5`` (predicted classes) and ``gt_class`` (the ground-truth class)."""
    if row.startswith(BASELINE_PREFIX):
        kind = row[len(BASELINE_PREFIX):]
        return {"top5": str(art.baseline_file(kind, "prior_top5")), "gt_class": str(art.baseline_file(kind, "gt_class"))}
    return {"top5": str(art.loc_row_file(row)), "gt_class": str(art.loc_row_file(row, gt_class=True))}


@dataclass(frozen=True)
class DetRow:
    """The test mode of one learned Table 9 row (its detectors are the config's ``det.rows``)."""

    refine: bool = False       # box refinement: a second pass on the regressed boxes, union, NMS, voting
    multiscale: bool = False   # the Fast R-CNN step on the image pyramid, two scales per RoI, maxout


DET_FLOOR_ROW = "floor_whole_image"   # one whole-image box per (image, class), no detector
DET_ROWS: dict[str, DetRow] = {
    "baseline": DetRow(),
    "refine": DetRow(refine=True),
    "refine_context": DetRow(refine=True),   # config: a detector trained with the global context branch
    "refine_context_multiscale": DetRow(refine=True, multiscale=True),
    "ensemble": DetRow(refine=True, multiscale=True),   # config: several detectors
}
DET_LEARNED = tuple(DET_ROWS)
DET_TABLE = (DET_FLOOR_ROW, *DET_LEARNED)   # Table 9's rows, in order


def det_row_modes(section: Mapping) -> dict[str, tuple[list[str], DetectionMode]]:
    """Per learned Table 9 row: the detectors it uses (config ``det.rows``) and its test mode (the
    row's flags with ``det.test``'s NMS, voting, detections per image and RoI size)."""
    from ..models.detection.inference import DetectionMode  # here: the tables above need no torch

    test = section.get("test", {})
    common = dict(nms_iou=float(test.get("nms_iou", 0.3)), vote_iou=float(test.get("vote_iou", 0.5)),
                  max_per_image=int(test.get("max_per_image", 100)), target_size=float(test.get("target_size", 224)),
                  maxout=str(test.get("maxout", "after_conv5")))
    out = {}
    for name, row in DET_ROWS.items():
        members = section["rows"][name]
        out[name] = ([members] if isinstance(members, str) else list(members),
                     DetectionMode(refine=row.refine, multiscale=row.multiscale, **common))
    return out
