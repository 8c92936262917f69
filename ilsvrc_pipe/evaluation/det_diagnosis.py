"""Why a detector's best-scored false positives are wrong, after Hoiem, Chodpathumwan and Dai,
*Diagnosing Error in Object Detectors* (ECCV 2012).

mAP says how much a detector loses, not why. Hoiem et al. look at the top-ranked false positives of
each class (as many as the class has objects, so that the count means the same for rare and common
classes) and give each one cause, in this order of precedence:

* ``duplicate``: it overlaps a same-class object enough to match it (IoU at or above that object's
  devkit threshold ``min(0.5, wh/((w+10)(h+10)))``), but a higher-scored detection took the object;
* ``localization``: it overlaps a same-class object with IoU in ``[0.1, threshold)``: the right
  object, a poor box (Hoiem's "Loc" is this plus ``duplicate``);
* ``confusion``: IoU >= 0.1 with an object of another class (Hoiem's "Sim" and "Oth" together: the
  200 DET classes carry no similarity grouping here);
* ``background``: none of the above.

True and false positives are exactly those of the official scorer (``evaluate_det(matches=True)``),
so the false positives counted here are the ones that cost AP. Blacklisted (image, class) pairs and
detections of classes without ground truth are not scored and are not diagnosed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..ops.boxes import box_iou_paired
from ..submission.det_file import DetSubmission
from .det import evaluate_det, object_thresholds
from .ground_truth import DetGroundTruth
from .key_lookup import equal_range, find_sorted

CAUSES = ("localization", "duplicate", "confusion", "background")
MIN_IOU = 0.1   # Hoiem et al.: below this a box is not "on" an object
FP_COLUMNS = ["det_row", "image_index", "image", "class_id", "score", "x1", "y1", "x2", "y2", "cause",
              "iou_same", "iou_other", "other_class", "rank_in_class"]


def top_false_positives(class_id: np.ndarray, score: np.ndarray, false_positive: np.ndarray,
                        per_class: dict[int, int]) -> np.ndarray:
    """Positions of the ``per_class[c]`` highest-scored false positives of each class ``c`` (score
    descending, input order on ties), grouped by class in ascending id."""
    picked = []
    for c, n in sorted(per_class.items()):
        rows = np.flatnonzero(false_positive & (class_id == c))
        rows = rows[np.argsort(-score[rows], kind="stable")]
        picked.append(rows[:max(int(n), 0)])
    return np.concatenate(picked) if picked else np.zeros(0, np.int64)


def overlaps(det_pos: np.ndarray, det_class: np.ndarray, det_boxes: np.ndarray, object_image: np.ndarray,
             object_class: np.ndarray, object_boxes: np.ndarray) -> dict[str, np.ndarray]:
    """Per detection (image position, class, box): the largest IoU with a same-class object, whether it
    reaches some same-class object's threshold, and the largest IoU with another class's object (and
    that class; 0 when none overlaps)."""
    n = len(det_pos)
    out = {"iou_same": np.zeros(n), "eligible": np.zeros(n, bool), "iou_other": np.zeros(n),
           "other_class": np.zeros(n, np.int64)}
    order = np.argsort(object_image, kind="stable")
    lo, count = equal_range(object_image[order], det_pos)
    pair_det = np.repeat(np.arange(n), count)
    starts = np.cumsum(count) - count
    pair_obj = order[np.repeat(lo, count) + np.arange(len(pair_det)) - np.repeat(starts, count)]
    iou = box_iou_paired(det_boxes[pair_det], object_boxes[pair_obj], no_overlap=0.0)
    same = object_class[pair_obj] == det_class[pair_det]
    np.maximum.at(out["iou_same"], pair_det[same], iou[same])
    reach = same & (iou >= object_thresholds(object_boxes[pair_obj]))
    out["eligible"][pair_det[reach]] = True
    other = np.flatnonzero(~same)
    other = other[np.lexsort((-iou[other], pair_det[other]))]   # per detection, largest IoU first
    first = np.ones(len(other), bool)
    first[1:] = pair_det[other[1:]] != pair_det[other[:-1]]
    best = other[first]
    out["iou_other"][pair_det[best]] = iou[best]
    out["other_class"][pair_det[best]] = np.where(iou[best] > 0, object_class[pair_obj[best]], 0)
    return out


def assign_causes(eligible: np.ndarray, iou_same: np.ndarray, iou_other: np.ndarray) -> np.ndarray:
    """The cause of each false positive (an entry of :data:`CAUSES`), in Hoiem's order of precedence."""
    return np.select([eligible, iou_same >= MIN_IOU, iou_other >= MIN_IOU],
                     ["duplicate", "localization", "confusion"], default="background").astype(object)


def diagnose_false_positives(detections: DetSubmission, gt: DetGroundTruth, top: int | None = None) -> dict:
    """The top false positives of every class, each with its cause.

    ``top``: false positives kept per class; ``None`` keeps as many as the class has (non-blacklisted)
    objects, as Hoiem et al. do. Returns ``false_positives`` (a table, :data:`FP_COLUMNS`; ``det_row``
    is the detection's position in ``detections``), ``counts`` (per class: objects, false positives
    analysed, one column per cause) and the scorer's ``ap``.
    """
    scored = evaluate_det(detections, gt, matches=True)
    classes = range(1, scored["n_classes"] + 1)
    per_class = {c: (scored["npos"][c] if top is None else top) for c in classes}
    fp = scored["counted"] & ~scored["matched"]
    rows = top_false_positives(detections.class_id, detections.score, fp, per_class)
    pos, _ = find_sorted(np.sort(gt.image_index), detections.image_index[rows])
    pos = np.argsort(gt.image_index, kind="stable")[pos]   # position in the ground truth's list
    ov = overlaps(pos, detections.class_id[rows], detections.boxes[rows], np.asarray(gt.object_image),
                  np.asarray(gt.object_class), np.asarray(gt.object_boxes))
    table = pd.DataFrame({"det_row": rows, "image_index": detections.image_index[rows],
                          "image": [gt.stems[p] for p in pos], "class_id": detections.class_id[rows],
                          "score": detections.score[rows]})
    for k, name in enumerate(("x1", "y1", "x2", "y2")):
        table[name] = detections.boxes[rows, k]
    table["cause"] = assign_causes(ov["eligible"], ov["iou_same"], ov["iou_other"])
    table["iou_same"], table["iou_other"], table["other_class"] = ov["iou_same"], ov["iou_other"], ov["other_class"]
    table["rank_in_class"] = table.groupby("class_id").cumcount() + 1
    counts = pd.DataFrame({"objects": pd.Series(scored["npos"]), "analysed": pd.Series(per_class)}).astype(int)
    by_cause = table.groupby(["class_id", "cause"]).size().unstack(fill_value=0)
    for cause in CAUSES:
        counts[cause] = by_cause[cause].reindex(counts.index, fill_value=0) if cause in by_cause else 0
    counts["analysed"] = counts[list(CAUSES)].sum(axis=1)
    counts.index.name = "class_id"
    return {"false_positives": table[FP_COLUMNS], "counts": counts, "ap": scored["ap"]}
