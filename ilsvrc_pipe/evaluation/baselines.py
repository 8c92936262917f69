"""Trivial localizers that give every later number a floor.

* ``full-image``: the box of the whole image.
* ``center``: a centred box of the training set's mean relative size (box w/W, h/H).

Each is scored twice through the official scorer: with the ground-truth class as the only guess
(top-1: the LOC error on the ground-truth class) and with 5 classes drawn without replacement from
the training-set class prior (top-5 LOC error with "predicted" classes).
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..data.loc_records import LocRecords, fill_image_sizes, load_loc_records, mean_relative_box_size
from ..data.synsets import SynsetTable, find_clsloc_synsets

KINDS = ("full-image", "center")


def baseline_boxes(kind: str, images: pd.DataFrame, rel_size: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """(N, 4) inclusive boxes in each image's frame for a baseline ``kind``."""
    w = images.width.to_numpy(np.float64)
    h = images.height.to_numpy(np.float64)
    if np.any(w <= 0) or np.any(h <= 0):
        raise ValueError("baseline boxes need every image's size")
    if kind == "full-image":
        return np.stack([np.zeros_like(w), np.zeros_like(h), w - 1, h - 1], axis=1)
    if kind == "center":
        bw, bh = w * rel_size[0], h * rel_size[1]
        x1, y1 = np.round((w - bw) / 2), np.round((h - bh) / 2)
        return np.stack([x1, y1, np.minimum(x1 + np.round(bw) - 1, w - 1), np.minimum(y1 + np.round(bh) - 1, h - 1)], axis=1)
    raise ValueError(f"unknown baseline {kind!r}; expected one of {KINDS}")


def class_prior(train: LocRecords, n_classes: int) -> np.ndarray:
    """Training-set class frequencies over sorted indices."""
    counts = np.bincount(train.images.label.to_numpy(np.int64), minlength=n_classes).astype(np.float64)
    return counts / counts.sum()


def draw_prior_guesses(prior: np.ndarray, n_images: int, k: int, seed: int) -> np.ndarray:
    """(N, k) distinct sorted class indices per image, drawn from ``prior`` without replacement."""
    rng = np.random.default_rng(seed)
    k = min(k, int(np.count_nonzero(prior)))
    # Gumbel top-k: the k largest of log p + Gumbel noise are a draw without replacement.
    with np.errstate(divide="ignore"):
        keys = np.log(prior)[None, :] + rng.gumbel(size=(n_images, prior.size))
    return np.argsort(-keys, axis=1)[:, :k]


def baseline_predictions(kind: str, train: LocRecords, val: LocRecords, synsets: SynsetTable, seed: int = 0):
    """Two prediction sets for a baseline: (gt_class labels, boxes), (prior top-5 labels, boxes).

    Labels are devkit ids, shape (N, K); boxes (N, K, 4); rows in val order.
    """
    rel = mean_relative_box_size(train) if kind == "center" else (1.0, 1.0)
    boxes = baseline_boxes(kind, val.images, rel)
    gt_ids = synsets.indices_to_ids(val.images.label.to_numpy(np.int64))[:, None]
    guesses = draw_prior_guesses(class_prior(train, len(synsets)), len(val.images), 5, seed)
    prior_ids = synsets.indices_to_ids(guesses)
    return (gt_ids, boxes[:, None, :]), (prior_ids, np.repeat(boxes[:, None, :], prior_ids.shape[1], axis=1))


def score_baselines(train: LocRecords, val: LocRecords, synsets: SynsetTable, gt, kinds=KINDS, seed: int = 0,
                    file_of=None) -> dict:
    """Score each baseline on ``val`` (sizes known) against ``gt`` with the official LOC scorer.

    Returns ``{kind: {"gt_class_error", "top1_error", "top5_error", ...}}``. ``file_of(kind, guesses)``
    (guesses ``gt_class`` or ``prior_top5``), when given, names the devkit file each prediction set
    is written to; the numbers are then those of the files as written.
    """
    from ..submission.loc_file import read_loc_file, write_loc_file
    from .loc import evaluate_loc

    results = {}
    for kind in kinds:
        scored = {}
        for guesses, (ids, boxes) in zip(("gt_class", "prior_top5"), baseline_predictions(kind, train, val, synsets, seed)):
            if file_of is not None:
                write_loc_file(file_of(kind, guesses), ids, boxes)
                sub = read_loc_file(file_of(kind, guesses))
                ids, boxes = sub.labels, sub.boxes
            scored[guesses] = evaluate_loc(ids, boxes, gt)
        gt_class, prior = scored["gt_class"], scored["prior_top5"]
        row = {"gt_class_error": gt_class["loc_error"][0], "top1_error": prior["loc_error"][0],
               "top5_error": prior["loc_error"][4], "n_images": prior["n_images"],
               "n_blacklisted": prior["n_blacklisted"]}
        if kind == "center":
            row["rel_size"] = list(mean_relative_box_size(train))
        results[kind] = row
    return results


def evaluate_baselines(data_root: str | os.PathLike, kinds=KINDS, seed: int = 0) -> dict:
    """:func:`score_baselines` on the train and val split of a raw data root (parses its files)."""
    from .ground_truth import load_loc_ground_truth

    synsets = find_clsloc_synsets(data_root)
    train = load_loc_records(data_root, "train", synsets)
    val = load_loc_records(data_root, "val", synsets)
    val = LocRecords(fill_image_sizes(val.images), val.boxes)
    gt = load_loc_ground_truth(data_root=data_root, split="val")
    return score_baselines(train, val, synsets, gt, kinds, seed)
