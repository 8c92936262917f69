"""How sure is a difference of two DET mAPs on the same images? A paired bootstrap over images.

Table 9's rows are scored on val2: 48 images on mini, 9,916 on ImageNet. On a few dozen images one
image can move a class's AP by several points, so a row's gain over another may be noise. The
paired bootstrap draws the list's images with replacement (each drawn copy is a new image, with its
objects, blacklist entries and both submissions' detections), scores both submissions on every draw
by the official rules (:func:`.det.evaluate_det_arrays`) and reports the interval of the differences.
A class that a draw happens to leave without objects is left out of that draw's mean (the official
mean over it would be undefined); on the whole list this is the official mAP.
"""
from __future__ import annotations

import numpy as np

from ..submission.det_file import DetSubmission
from .det import evaluate_det_arrays
from .ground_truth import DetGroundTruth
from .key_lookup import find_sorted


def _gather(group: np.ndarray, n_groups: int, picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Items of the picked groups, in pick order: (item indices, position of their pick)."""
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lens = counts[picks]
    pick_of_item = np.repeat(np.arange(len(picks)), lens)
    within = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
    return order[starts[picks][pick_of_item] + within], pick_of_item


def _positions(image_index: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Position in the list of each ``wanted`` image index (-1: not listed)."""
    order = np.argsort(image_index, kind="stable")
    at, found = find_sorted(image_index[order], wanted)
    out = np.full(len(wanted), -1, dtype=np.int64)
    out[found] = order[at[found]]
    return out


class _Resampler:
    """One submission and the ground truth, ready to be scored on any draw of the list's images."""

    def __init__(self, sub: DetSubmission, gt: DetGroundTruth):
        self.gt, self.n = gt, len(gt.image_index)
        pos = _positions(gt.image_index, sub.image_index)
        keep = pos >= 0
        self.det_pos, self.det_class = pos[keep], sub.class_id[keep]
        self.det_score, self.det_boxes = sub.score[keep], sub.boxes[keep]
        black = np.asarray(gt.blacklist, dtype=np.int64).reshape(-1, 2)
        bpos = _positions(gt.image_index, black[:, 0])
        self.black_pos, self.black_class = bpos[bpos >= 0], black[bpos >= 0, 1]

    def map(self, picks: np.ndarray) -> float:
        gt, new_index = self.gt, np.arange(1, len(picks) + 1)
        d, d_pick = _gather(self.det_pos, self.n, picks)
        o, o_pick = _gather(gt.object_image, self.n, picks)
        b, b_pick = _gather(self.black_pos, self.n, picks)
        blacklist = np.stack([new_index[b_pick], self.black_class[b]], axis=1)
        result = evaluate_det_arrays(new_index[d_pick], self.det_class[d], self.det_score[d], self.det_boxes[d],
                                     new_index, o_pick, gt.object_class[o], gt.object_boxes[o], blacklist)
        ap = np.array([v for c, v in result["ap"].items() if result["npos"][c] > 0], dtype=np.float64)
        return float(ap.mean()) if len(ap) else float("nan")


def paired_map_bootstrap(a: DetSubmission, b: DetSubmission, gt: DetGroundTruth, draws: int = 1000,
                         seed: int = 0, level: float = 0.95) -> dict:
    """mAP of ``a`` minus that of ``b`` on the list, and its bootstrap interval over images.

    Returns ``delta`` (on the list itself), ``low``/``high`` (the central ``level`` interval of the
    draws' differences), ``share_positive`` (the share of draws where ``a`` is ahead) and ``draws``
    (those scored: a draw of images without any object has no mAP and is left out).
    """
    ra, rb = _Resampler(a, gt), _Resampler(b, gt)
    every = np.arange(ra.n)
    delta = ra.map(every) - rb.map(every)
    rng = np.random.default_rng(seed)
    diffs = np.empty(draws)
    for k in range(draws):
        picks = rng.integers(0, ra.n, ra.n)
        diffs[k] = ra.map(picks) - rb.map(picks)
    diffs = diffs[np.isfinite(diffs)]   # a draw without objects has no mAP
    if not len(diffs):
        raise ValueError("no bootstrap draw holds an object: the list has no ground truth to score")
    tail = (1 - level) / 2
    return {"delta": delta, "low": float(np.quantile(diffs, tail)), "high": float(np.quantile(diffs, 1 - tail)),
            "share_positive": float(np.mean(diffs > 0)), "draws": int(len(diffs))}
