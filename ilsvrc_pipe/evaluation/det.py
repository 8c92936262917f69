"""DET average precision exactly as ``eval_detection.m`` computes it, vectorised over all images.

Matching is independent per (image, class) group, and inside a group it is the devkit's greedy
walk: detections by score (stable), each taking the unmatched object of largest IoU among those
whose own threshold ``min(0.5, wh / ((w+10)(h+10)))`` it reaches (earlier XML object on ties).
The walk is run for all groups at once in rounds: with the eligible (detection, object) pairs
sorted by (detection order, IoU descending, XML order), the first still-open pair of every group
is exactly the next match the sequential walk makes there (detections skipped before it have no
open object left, and objects only close), so each round takes that pair in every group and
closes its detection and object.  Rounds are bounded by the objects of one class in one image.
"""
from __future__ import annotations

import numpy as np

from ..ops.boxes import box_iou_paired
from ..submission.det_file import DetSubmission
from .ground_truth import DetGroundTruth
from .key_lookup import descending_rank, equal_range, find_sorted, lexsort_ints


def object_thresholds(boxes: np.ndarray) -> np.ndarray:
    """Per-object IoU threshold ``min(0.5, w*h / ((w+10)*(h+10)))``, inclusive w and h."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w = boxes[:, 2] - boxes[:, 0] + 1.0
    h = boxes[:, 3] - boxes[:, 1] + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(0.5, (w * h) / ((w + 10.0) * (h + 10.0)))


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """``VOCap.m``: all-points AP with the precision envelope (NaN precisions ignored by the max)."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.fmax.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]))


def greedy_match(det_group: np.ndarray, det_rank: np.ndarray, pair_det: np.ndarray, pair_obj: np.ndarray,
                 pair_iou: np.ndarray, n_dets: int, n_objects: int) -> np.ndarray:
    """True for detections that the devkit's greedy walk matches.

    Pairs are eligible (detection, object) pairs of the same group; ``det_rank`` orders detections
    inside their group (lower = earlier in the walk), object ids order objects in XML order.
    """
    matched = np.zeros(n_dets, dtype=bool)
    order = np.lexsort((pair_obj, -pair_iou, det_rank[pair_det], det_group[pair_det]))
    pair_det, pair_obj = pair_det[order], pair_obj[order]
    object_taken = np.zeros(n_objects, dtype=bool)
    while len(pair_det):
        group = det_group[pair_det]
        first = np.ones(len(pair_det), dtype=bool)
        first[1:] = group[1:] != group[:-1]
        matched[pair_det[first]] = True
        object_taken[pair_obj[first]] = True
        still_open = ~matched[pair_det] & ~object_taken[pair_obj]
        pair_det, pair_obj = pair_det[still_open], pair_obj[still_open]
    return matched


def _eligible_pairs(det_key, det_boxes, obj_key, obj_boxes, obj_thr):
    """All (detection, object) pairs of equal group key that pass the object's threshold."""
    obj_order = np.argsort(obj_key, kind="stable")
    sorted_keys = obj_key[obj_order]
    lo, count = equal_range(sorted_keys, det_key)
    pair_det = np.repeat(np.arange(len(det_key)), count)
    starts = np.cumsum(count) - count
    offset = np.arange(len(pair_det)) - np.repeat(starts, count)
    pair_obj = obj_order[np.repeat(lo, count) + offset]
    iou = box_iou_paired(det_boxes[pair_det], obj_boxes[pair_obj], no_overlap=-np.inf)
    ok = iou >= obj_thr[pair_obj]
    return pair_det[ok], pair_obj[ok], iou[ok]


def _find_sorted(sorted_values: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each value in a sorted array, and whether the value is there."""
    return find_sorted(sorted_values, values)


def evaluate_det_arrays(det_image_index, det_class, det_score, det_boxes, image_index, object_image,
                        object_class, object_boxes, blacklist=None, unlisted: str = "error",
                        curves: bool = False, matches: bool = False, iou_threshold: float | None = None) -> dict:
    """Per-class AP and mAP (and, with ``curves``, each class's recall and precision arrays; with
    ``matches``, per detection in input order: ``matched`` (a true positive) and ``counted`` (scored:
    a listed image, a class of the ground truth, not blacklisted), so that an error analysis
    (:mod:`.det_diagnosis`) sees exactly the true and false positives this scorer counts).

    Detections: image index (list column 2), devkit class id, score, box. Images: their list
    indices. Objects: 0-based image position, devkit class id, box. ``blacklist``: (P, 2) rows
    (image index, class id). ``unlisted``: "error" for detections of images not in the list (the
    devkit fails on them) or "drop" to score a subset of the list's images (val1/val2).
    ``iou_threshold``: None for the official per-object rule (:func:`object_thresholds`), or one IoU
    every object must reach (e.g. 0.7, to see how tight the boxes are; not an official figure).
    """
    det_image_index = np.asarray(det_image_index, dtype=np.int64).reshape(-1)
    det_class = np.asarray(det_class, dtype=np.int64).reshape(-1)
    det_score = np.asarray(det_score, dtype=np.float64).reshape(-1)
    det_boxes = np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4)
    image_index = np.asarray(image_index, dtype=np.int64).reshape(-1)
    object_image = np.asarray(object_image, dtype=np.int64).reshape(-1)
    object_class = np.asarray(object_class, dtype=np.int64).reshape(-1)
    object_boxes = np.asarray(object_boxes, dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(det_score).all():
        raise ValueError("detection scores must be finite")
    if len(np.unique(image_index)) != len(image_index):
        raise ValueError("image indices of the list must be unique")

    # Images ranked by index: detections are concatenated by ascending image index.
    index_order = np.argsort(image_index, kind="stable")
    sorted_index = image_index[index_order]
    rank_of_position = np.empty(len(image_index), dtype=np.int64)
    rank_of_position[index_order] = np.arange(len(image_index))
    det_image_rank, listed = _find_sorted(sorted_index, det_image_index)
    if not listed.all():
        if unlisted == "error":
            bad = det_image_index[~listed]
            raise ValueError(f"{len(bad)} detection(s) of images not in the list, e.g. index {bad[0]}")
        if unlisted != "drop":
            raise ValueError(f"unlisted must be 'error' or 'drop', got {unlisted!r}")
        det_class, det_score, det_boxes = det_class[listed], det_score[listed], det_boxes[listed]
        det_image_rank = det_image_rank[listed]
    input_rows = np.flatnonzero(listed)  # position in the input of each kept detection
    n_dets = len(det_class)

    n_classes = int(object_class.max()) if len(object_class) else 0  # C: largest class with an object
    stride = n_classes + 1
    obj_key = rank_of_position[object_image] * stride + object_class
    scored = (det_class >= 1) & (det_class <= n_classes)
    det_key = np.where(scored, det_image_rank * stride + det_class, -1)

    ignored = np.zeros(n_dets, dtype=bool)
    object_ignored = np.zeros(len(object_class), dtype=bool)
    if blacklist is not None and len(blacklist):
        pairs = np.asarray(blacklist, dtype=np.int64).reshape(-1, 2)
        at, found = _find_sorted(sorted_index, pairs[:, 0])
        keep = found & (pairs[:, 1] >= 1) & (pairs[:, 1] <= n_classes)
        black_keys = np.unique(at[keep] * stride + pairs[keep, 1])
        ignored = scored & np.isin(det_key, black_keys)
        object_ignored = np.isin(obj_key, black_keys)
    npos = np.bincount(object_class[~object_ignored], minlength=stride)

    # Walk order inside each (image, class): score descending, file order on ties.
    score_rank = descending_rank(det_score)
    walk = lexsort_ints(det_key, score_rank)
    det_rank = np.empty(n_dets, dtype=np.int64)
    det_rank[walk] = np.arange(n_dets)
    candidate = np.nonzero(scored & ~ignored)[0]
    keep_obj = np.nonzero(~object_ignored)[0]
    kept_boxes = object_boxes[keep_obj]
    thresholds = object_thresholds(kept_boxes) if iou_threshold is None else np.full(len(kept_boxes), float(iou_threshold))
    pair_det, pair_obj, pair_iou = _eligible_pairs(det_key[candidate], det_boxes[candidate], obj_key[keep_obj],
                                                   kept_boxes, thresholds)
    matched_candidate = greedy_match(det_key[candidate], det_rank[candidate], pair_det, pair_obj, pair_iou,
                                     len(candidate), len(keep_obj))
    tp = np.zeros(n_dets, dtype=np.int64)
    tp[candidate[matched_candidate]] = 1
    fp = (scored & ~ignored).astype(np.int64) - tp

    # AP order per class: score descending, then lower image index, then file order.
    global_order = lexsort_ints(det_class, score_rank, det_image_rank)
    global_order = global_order[scored[global_order]]
    classes = det_class[global_order]
    bounds = np.searchsorted(classes, np.arange(1, n_classes + 2))
    ap, pr = {}, {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for c in range(1, n_classes + 1):
            rows = global_order[bounds[c - 1]:bounds[c]]
            cum_tp = np.cumsum(tp[rows]).astype(np.float64)
            cum_fp = np.cumsum(fp[rows]).astype(np.float64)
            recall, precision = cum_tp / npos[c], cum_tp / (cum_tp + cum_fp)
            ap[c] = voc_ap(recall, precision)
            if curves:
                pr[c] = (recall, precision)
    values = np.asarray(list(ap.values()), dtype=np.float64)
    extra = {"curves": pr} if curves else {}
    if matches:
        extra["matched"], extra["counted"] = np.zeros(len(listed), bool), np.zeros(len(listed), bool)
        extra["matched"][input_rows] = tp.astype(bool)
        extra["counted"][input_rows] = scored & ~ignored
    return {**extra,
        "mAP": float(values.mean()) if len(values) else float("nan"),
        "ap": ap,
        "npos": {c: int(npos[c]) for c in range(1, n_classes + 1)},
        "n_classes": n_classes,
        "n_images": int(len(image_index)),
        "n_detections": int(n_dets),
    }


def evaluate_det(detections: DetSubmission, gt: DetGroundTruth, unlisted: str = "error", curves: bool = False,
                 matches: bool = False, iou_threshold: float | None = None) -> dict:
    """Score detections against the ground truth of the listed images (see :func:`evaluate_det_arrays`)."""
    return evaluate_det_arrays(detections.image_index, detections.class_id, detections.score, detections.boxes,
                               gt.image_index, gt.object_image, gt.object_class, gt.object_boxes,
                               gt.blacklist, unlisted, curves, matches, iou_threshold)
