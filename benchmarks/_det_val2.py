"""What the DET benchmarks on a finished run share (bench_maxout, bench_refine, bench_context): its
val2 test inputs and ground truth, detections as rows of a devkit table, and scoring such a table
as the det stage scores a Table 9 row (written as a devkit file, read back, scored)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from ilsvrc_pipe.artifacts.tables import detection_frame, write_det_table
from ilsvrc_pipe.data.det_pyramid import det_test_inputs
from ilsvrc_pipe.data.det_train import DetTestDataset
from ilsvrc_pipe.evaluation.det import evaluate_det
from ilsvrc_pipe.submission.det_file import read_det_file


def val2_inputs(cfg, run):
    """``(dataset, ground truth, DET synsets)`` of a run's val2 (``run``: a ``RunModels``)."""
    dataset = DetTestDataset(images=str(run.art.records("det", "val2", "images")), **det_test_inputs(cfg.det["test"]))
    return dataset, run.art.read_det_ground_truth("val2"), run.classes["det"]


def rows_of(meta: dict, dets, boxes, synsets) -> pd.DataFrame:
    """One image's detections (labels and scores of ``dets``, inclusive original-image ``boxes``)."""
    ids = synsets.detection_labels_to_ids(dets.labels.numpy())
    return detection_frame(meta["image_id"], meta["image_index"], ids, dets.scores.numpy(), boxes)


def as_submission(parts: list[pd.DataFrame]):
    """The devkit file of the concatenated rows, written and read back."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "row.txt"
        write_det_table(path, pd.concat(parts, ignore_index=True))
        return read_det_file(path)


def score(sub, gt, iou_threshold: float | None = None) -> dict:
    """mAP and per-class AP (official rule, or every object at ``iou_threshold``)."""
    result = evaluate_det(sub, gt, iou_threshold=iou_threshold)
    return {"mAP": float(result["mAP"]), "ap": {str(k): float(v) for k, v in result["ap"].items()}}
