"""Top-k classification and localization error exactly as ``eval_clsloc.m`` computes them.

Rules (the devkit's ``eval_clsloc.m``; README, "Scoring"): the first k guesses of a line are the top k; a guess is correct when
its class is the image's class and its box has IoU >= 0.5 (inclusive pixels) with at least one
object of that class; classification error averages over all N images, localization error skips
blacklisted images and divides by N - B, B = number of blacklist entries.  Images are single-label
(the devkit's precondition), so the per-label averaging of the devkit reduces to one term.
"""
from __future__ import annotations

import os

import numpy as np

from ..data.synsets import SynsetTable
from ..ops.boxes import box_iou_paired
from ..submission.kaggle_csv import align_to_images, looks_like_csv, read_kaggle_loc_csv
from ..submission.loc_file import LocSubmission, read_loc_file
from ..utils.errors import DataFormatError
from .ground_truth import LocGroundTruth

MAX_K = 5
IOU_THRESHOLD = 0.5


def evaluate_loc_arrays(pred_labels: np.ndarray, pred_boxes: np.ndarray, gt_class: np.ndarray,
                        object_image: np.ndarray, object_class: np.ndarray, object_boxes: np.ndarray,
                        blacklist: np.ndarray | None = None, max_k: int = MAX_K) -> dict:
    """Errors for k = 1..max_k.

    pred_labels (N, K) devkit ids (0 = no guess), pred_boxes (N, K, 4); gt_class (N,) the class
    of each image; objects flattened with their image position, class and box; blacklist the
    1-based image numbers of the blacklist file.
    """
    pred_labels = np.asarray(pred_labels, dtype=np.int64)
    pred_boxes = np.asarray(pred_boxes, dtype=np.float64)
    gt_class = np.asarray(gt_class, dtype=np.int64)
    n_images = len(gt_class)
    if len(pred_labels) != n_images:
        raise ValueError(f"{len(pred_labels)} prediction rows for {n_images} images (the devkit asserts they are equal)")
    blacklist = np.zeros(0, np.int64) if blacklist is None else np.asarray(blacklist, dtype=np.int64)
    if blacklist.size and (blacklist.min() < 1 or blacklist.max() > n_images):
        raise ValueError(f"blacklist entries must be image numbers 1..{n_images}, got {blacklist.min()}..{blacklist.max()}")

    kept = min(pred_labels.shape[1], max_k)
    labels, boxes = pred_labels[:, :kept], pred_boxes[:, :kept]
    class_right = labels == gt_class[:, None]

    object_image = np.asarray(object_image, dtype=np.int64)
    of_gt_class = np.asarray(object_class, dtype=np.int64) == gt_class[object_image]
    obj_image = object_image[of_gt_class]
    obj_boxes = np.asarray(object_boxes, dtype=np.float64)[of_gt_class]
    iou = box_iou_paired(boxes[obj_image], obj_boxes[:, None, :], no_overlap=-1.0)  # (M', kept)
    hit_obj, hit_guess = np.nonzero(iou >= IOU_THRESHOLD)
    box_right = np.zeros(labels.shape, dtype=bool)
    box_right[obj_image[hit_obj], hit_guess] = True

    cls_hit = np.logical_or.accumulate(class_right, axis=1) if kept else class_right
    loc_hit = np.logical_or.accumulate(class_right & box_right, axis=1) if kept else class_right
    counted = np.ones(n_images, dtype=bool)
    counted[blacklist - 1] = False
    denominator = n_images - len(blacklist)

    cls_error, loc_error = [], []
    for k in range(1, max_k + 1):
        col = min(k, kept) - 1
        cls_wrong = ~cls_hit[:, col] if kept else np.ones(n_images, bool)
        loc_wrong = ~loc_hit[:, col] if kept else np.ones(n_images, bool)
        cls_error.append(float(cls_wrong.sum() / n_images))
        loc_error.append(float(np.count_nonzero(loc_wrong & counted) / denominator))
    return {"cls_error": cls_error, "loc_error": loc_error, "n_images": n_images,
            "n_blacklisted": int(len(blacklist))}


def evaluate_loc(labels, boxes, gt: LocGroundTruth, max_k: int = MAX_K) -> dict:
    """Score guesses (labels (N, K) devkit ids, boxes (N, K, 4)) whose rows are in the ground
    truth's (sorted file-name) order."""
    return evaluate_loc_arrays(labels, boxes, gt.class_ids, gt.object_image, gt.object_class, gt.object_boxes,
                               gt.blacklist, max_k)


def read_loc_predictions(path: str | os.PathLike, gt: LocGroundTruth, synsets: SynsetTable,
                         kaggle_label_format: str = "wnid") -> LocSubmission:
    """A devkit flat file, or a Kaggle CSV (told apart by its header) aligned to the GT order."""
    if looks_like_csv(path):
        image_ids, rows = read_kaggle_loc_csv(path, synsets, kaggle_label_format)
        return align_to_images(image_ids, rows, gt.stems, source=str(path))
    return read_loc_file(path, num_images=len(gt.stems), num_classes=len(synsets))


def evaluate_loc_file(path: str | os.PathLike, gt: LocGroundTruth, synsets: SynsetTable,
                      kaggle_label_format: str = "wnid") -> dict:
    """Read and score a LOC prediction file (devkit or Kaggle) against ``gt``."""
    try:
        submission = read_loc_predictions(path, gt, synsets, kaggle_label_format)
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a text file ({exc})") from exc
    return evaluate_loc(submission.labels, submission.boxes, gt)
