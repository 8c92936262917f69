"""What went wrong on each image a LOC submission gets wrong: the class, the box, or both.

The top-k LOC error counts an image as wrong when none of its first k guesses has the image's class
*and* a box with IoU >= 0.5 with an object of that class (``eval_clsloc.m``). That one number mixes
two failures with different cures (the classifier or the localizer), so each wrong image is put in
exactly one bin:

* ``low_iou``: a guess has the right class, but its box misses every object of it (IoU < 0.5);
* ``wrong_class``: no guess has the right class, though one of the boxes does cover an object of
  it (IoU >= 0.5): the localizer found the object, the classifier named it wrongly;
* ``both``: no guess has the right class and no box covers an object of it.

Blacklisted images are left out, as the LOC error leaves them out, so the bins add up to the
official error times its denominator.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..ops.boxes import box_iou_paired
from .ground_truth import LocGroundTruth
from .loc import IOU_THRESHOLD

KINDS = ("wrong_class", "low_iou", "both")


def loc_failures(labels: np.ndarray, boxes: np.ndarray, gt: LocGroundTruth, k: int = 5) -> pd.DataFrame:
    """One row per image (ground-truth order): ``image``, ``counted`` (not blacklisted), ``correct``
    (the official top-k hit), ``kind`` (a :data:`KINDS` entry for a counted wrong image, else ""),
    ``guess`` (the guess to show: the first of the right class, else the first), ``iou_guess`` (its best
    IoU with an object of the image's class) and ``iou_best`` (the best IoU of any of the k boxes)."""
    labels = np.asarray(labels, np.int64)[:, :k]
    boxes = np.asarray(boxes, np.float64)[:, :k]
    n, kept = labels.shape
    obj_image = np.asarray(gt.object_image, np.int64)
    of_class = np.asarray(gt.object_class) == np.asarray(gt.class_ids)[obj_image]
    obj_image, obj_boxes = obj_image[of_class], np.asarray(gt.object_boxes, np.float64)[of_class]
    iou = np.zeros((n, kept))   # best IoU of each guess's box with an object of the image's class
    if kept:
        pair = box_iou_paired(boxes[obj_image], obj_boxes[:, None, :], no_overlap=0.0)   # (objects, kept)
        np.maximum.at(iou, obj_image, pair)
    right = labels == np.asarray(gt.class_ids)[:, None]
    correct = (right & (iou >= IOU_THRESHOLD)).any(axis=1)
    has_right = right.any(axis=1)
    guess = np.where(has_right, right.argmax(axis=1), 0)
    iou_best = iou.max(axis=1) if kept else np.zeros(n)
    counted = np.ones(n, bool)
    counted[np.asarray(gt.blacklist, np.int64) - 1] = False
    kind = np.select([has_right, iou_best >= IOU_THRESHOLD], ["low_iou", "wrong_class"], default="both").astype(object)
    kind[correct | ~counted] = ""
    return pd.DataFrame({"image": list(gt.stems), "counted": counted, "correct": correct, "kind": kind,
                         "guess": guess, "iou_guess": iou[np.arange(n), guess] if kept else np.zeros(n),
                         "iou_best": iou_best})


def failure_counts(table: pd.DataFrame) -> dict[str, int]:
    """Wrong (counted) images per :data:`KINDS` entry."""
    return {kind: int((table.kind == kind).sum()) for kind in KINDS}


def right_class_ious(table: pd.DataFrame) -> np.ndarray:
    """``iou_guess`` of every counted image with a guess of the right class (a correct image, or a
    ``low_iou`` one), in image order: the IoU of that guess's box with the image's objects."""
    has_right = table.counted & (table.correct | (table.kind == "low_iou"))
    return table.iou_guess[has_right].to_numpy(np.float64)


def top5_breakdown(table: pd.DataFrame) -> dict[str, int]:
    """The ``loc`` stage's summary of the bins (``loc/metrics.json``'s ``breakdown``): the wrong
    images, those without a guess of the right class (``wrong_class`` + ``both``), those whose
    right-class guess has IoU < 0.5 (``low_iou``), and how many images have a right-class guess."""
    counts = failure_counts(table)
    return {"wrong_top5": sum(counts.values()), "class_missing": counts["wrong_class"] + counts["both"],
            "box_iou_below_0_5": counts["low_iou"], "right_class_ious": len(right_class_ious(table))}


def worst_failures(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` wrong images whose shown guess is farthest from the object (smallest ``iou_guess``: for
    a right-class guess, how badly its box misses), ``both`` first on ties."""
    wrong = table[table.kind != ""].assign(_order=lambda t: t.kind.map({"both": 0, "wrong_class": 1, "low_iou": 2}))
    return wrong.sort_values(["iou_guess", "_order"], kind="stable").head(n).drop(columns="_order")
