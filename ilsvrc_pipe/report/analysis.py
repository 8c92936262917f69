"""The analyses behind the report's charts, computed from the files the run wrote.

Like the rest of ``eval``, nothing here trusts a stage's own summary: the LOC failure bins come from
each Table 13 row's devkit file, the DET diagnosis and precision-recall curves from the best row's
devkit DET file, all through the official scorers' rules.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..artifacts.paths import REPO_ROOT
from ..evaluation.det import evaluate_det
from ..evaluation.det_diagnosis import diagnose_false_positives
from ..evaluation.loc import read_loc_predictions
from ..evaluation.loc_failures import failure_counts, loc_failures
from ..submission.det_file import read_det_file


def loc_analysis(rows: dict, best: str, gt, synsets) -> dict:
    """Per Table 13 row: the top-5 failure bins (counts and fractions of the scored images); for the
    best row also its per-image failure table and guesses (the contact sheet's input)."""
    denominator = len(gt.stems) - len(gt.blacklist)
    out = {"rows": {}, "denominator": denominator, "best": best}
    for name, row in rows.items():
        sub = read_loc_predictions(row["files"]["top5"], gt, synsets)
        table = loc_failures(sub.labels, sub.boxes, gt, k=5)
        counts = failure_counts(table)
        out["rows"][name] = {"counts": counts, "fractions": {k: v / max(denominator, 1) for k, v in counts.items()}}
        if name == best:
            out["table"], out["labels"], out["boxes"] = table, sub.labels, sub.boxes
    return out


def det_analysis(det: dict, gt) -> dict | None:
    """The best DET row's precision-recall curves, per-class AP of every row, and the diagnosis of its
    top-scored false positives; ``None`` when the run has no DET rows."""
    if not det.get("rows"):
        return None
    best = det["best_row"]
    detections = read_det_file(det["rows"][best]["file"])
    scored = evaluate_det(detections, gt, curves=True)
    diagnosis = diagnose_false_positives(detections, gt)
    return {"best": best, "curves": scored["curves"], "ap": scored["ap"], "npos": scored["npos"],
            "diagnosis": diagnosis}


def image_path(path: str) -> Path:
    """A record's image path (relative ones are relative to where the data stage ran: the repository
    or the current folder)."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return REPO_ROOT / p


def gt_boxes_of(gt, position: int, class_id: int | None = None) -> np.ndarray:
    """Ground-truth boxes of one image (list position), optionally of one class only."""
    keep = np.asarray(gt.object_image) == position
    if class_id is not None:
        keep &= np.asarray(gt.object_class) == class_id
    return np.asarray(gt.object_boxes, np.float64)[keep]
