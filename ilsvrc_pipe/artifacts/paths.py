"""The artifact map: the one place that names every file a stage writes and reads it back.

A work dir holds one folder per stage (``<work_dir>/<stage>/``); submission files go to the
product's top-level ``submissions/<run name>/`` (the run name is the work dir's name), resolved
from the repository, never from the current directory, unless another folder is given.
Every artifact is written atomically (``io_utils``): a killed run never leaves a half-written file
under an artifact's name.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.loc_records import LocRecords
from ..data.synsets import SynsetTable
from ..evaluation.ground_truth import DetGroundTruth, LocGroundTruth
from ..utils.io_utils import atomic_path, read_table, write_json_atomic, write_table_atomic

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS_ROOT = REPO_ROOT / "submissions"
MANIFEST = "manifest.json"
METRICS = "metrics.json"
FINAL_WEIGHTS = "final.pth"
CLASSES = "classes.json"


def default_submission_dir(work_dir: str | os.PathLike) -> Path:
    """``<repo>/submissions/<run name>``: two runs (work dirs) never share a submission folder."""
    return SUBMISSIONS_ROOT / Path(work_dir).resolve().name


class Artifacts:
    """Paths and readers/writers of every artifact of one run (work dir + submission folder)."""

    def __init__(self, work_dir: str | os.PathLike, submission_dir: str | os.PathLike | None = None):
        self.work_dir = Path(work_dir)
        self.submission_dir = Path(submission_dir) if submission_dir else default_submission_dir(work_dir)

    # -- any stage -------------------------------------------------------------------------------
    def stage_dir(self, stage: str) -> Path:
        return self.work_dir / stage

    def fitted_anchors(self, stage: str) -> Path:
        """Anchor shapes a stage fitted to the training boxes (``anchor_fit`` in its config)."""
        return self.stage_dir(stage) / "anchors.json"

    def read_fitted_anchors(self, stage: str) -> list[list[float]] | None:
        """The fitted ``(width, height)`` pairs, or None when the stage uses configured anchors."""
        path = self.fitted_anchors(stage)
        return json.loads(path.read_text())["shapes"] if path.is_file() else None

    def manifest(self, stage: str) -> Path:
        return self.stage_dir(stage) / MANIFEST

    def metrics(self, stage: str) -> Path:
        return self.stage_dir(stage) / METRICS

    def write_metrics(self, stage: str, metrics: dict) -> Path:
        write_json_atomic(self.metrics(stage), metrics)
        return self.metrics(stage)

    def read_metrics(self, stage: str) -> dict | None:
        path = self.metrics(stage)
        return json.loads(path.read_text()) if path.is_file() else None

    def train_dir(self, stage: str, model: str) -> Path:
        """The mmengine Runner's work dir of one trained model (checkpoints, logs)."""
        return self.stage_dir(stage) / "models" / model

    def final_weights(self, stage: str, model: str) -> Path:
        """Plain weights of a finished training; its presence marks the training as done."""
        return self.train_dir(stage, model) / FINAL_WEIGHTS

    def logs_dir(self) -> Path:
        return self.work_dir / "logs"

    # -- data ------------------------------------------------------------------------------------
    def records(self, task: str, split: str, kind: str) -> Path:
        """``data/<task>_<split>_<kind>.parquet``; task ``loc`` or ``det``, kind ``images`` or ``boxes``."""
        return self.stage_dir("data") / f"{task}_{split}_{kind}.parquet"

    def has_records(self, task: str, split: str) -> bool:
        return self.records(task, split, "images").is_file()

    def write_records(self, task: str, split: str, images: pd.DataFrame, boxes: pd.DataFrame) -> None:
        write_table_atomic(boxes, self.records(task, split, "boxes"))
        write_table_atomic(images, self.records(task, split, "images"))

    def read_images(self, task: str, split: str) -> pd.DataFrame:
        return read_table(self.records(task, split, "images"))

    def det_train_lists(self) -> Path:
        """``stem, wnid, label`` of every line of the DET ``train_<k>.txt`` lists (label 1 positive,
        0 partially boxed, -1 verified negative)."""
        return self.stage_dir("data") / "det_train_lists.parquet"

    def read_loc_records(self, split: str) -> LocRecords:
        return LocRecords(read_table(self.records("loc", split, "images")),
                          read_table(self.records("loc", split, "boxes")))

    def classes(self) -> Path:
        return self.stage_dir("data") / CLASSES

    def write_classes(self, tables: dict[str, SynsetTable]) -> None:
        write_json_atomic(self.classes(), {k: {"wnids": list(t.wnids), "names": list(t.names), "source": t.source}
                                           for k, t in tables.items()})

    def read_classes(self) -> dict[str, SynsetTable]:
        """The class tables the ``data`` stage found (``clsloc`` and, when present, ``det``)."""
        spec = json.loads(self.classes().read_text())
        return {k: SynsetTable(tuple(v["wnids"]), tuple(v["names"]), v["source"]) for k, v in spec.items()}

    def ground_truth(self, task: str, split: str) -> Path:
        return self.stage_dir("data") / f"{task}_{split}_ground_truth.npz"

    def write_ground_truth(self, task: str, split: str, gt: LocGroundTruth | DetGroundTruth) -> None:
        arrays = {k: np.asarray(v) for k, v in vars(gt).items()}
        with atomic_path(self.ground_truth(task, split)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

    def read_loc_ground_truth(self, split: str = "val") -> LocGroundTruth:
        return LocGroundTruth(**self._read_npz(self.ground_truth("loc", split)))

    def read_det_ground_truth(self, split: str = "val2") -> DetGroundTruth:
        return DetGroundTruth(**self._read_npz(self.ground_truth("det", split)))

    @staticmethod
    def _read_npz(path: Path) -> dict:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
        out["stems"] = [str(s) for s in out["stems"]]
        return out

    # -- cls -------------------------------------------------------------------------------------
    # Result tables of the inference loops are parted (a folder of parquet parts, one per chunk of
    # images: ``artifacts/parts.py``); read them with ``artifacts.parts.read_result_table``.
    def cls_scores(self, model: str, mode: str, split: str) -> Path:
        """Class probabilities of one classifier and test mode (rows: images; columns: sorted WNIDs)."""
        return self.stage_dir("cls") / "scores" / f"{model}_{mode}_{split}"

    def ensemble_scores(self, split: str) -> Path:
        return self.stage_dir("cls") / "scores" / f"ensemble_{split}"

    def top5(self, split: str) -> Path:
        """The classifier ensemble's ``image_id, rank, wnid, score`` table."""
        return self.stage_dir("cls") / f"top5_{split}"

    def member_top5(self, model: str, mode: str, split: str) -> Path:
        """One classifier's top-5 table in one test mode (the single-model rows' classes)."""
        return self.stage_dir("cls") / "top5" / f"{model}_{mode}_{split}"

    # -- rpn / rcnn ------------------------------------------------------------------------------
    def proposals(self, rpn: str, mode: str, split: str) -> Path:
        return self.stage_dir("rpn") / "proposals" / f"{rpn}_{mode}_{split}"

    def train_regions(self, rcnn: str) -> Path:
        """The R-CNN's training regions: its RPN's best train proposals (one file)."""
        return self.stage_dir("rcnn") / "train_regions" / f"{rcnn}.parquet"

    def rcnn_boxes(self, localizer: str, split: str) -> Path:
        """Best box per (image, class) of one localizer (or ``ensemble``)."""
        return self.stage_dir("rcnn") / "boxes" / f"{localizer}_{split}"

    # -- loc -------------------------------------------------------------------------------------
    def loc_row_file(self, row: str, gt_class: bool = False) -> Path:
        """The val devkit LOC file scored for a Table 13 row (or its ground-truth-class variant)."""
        return self.stage_dir("loc") / "files" / (f"{row}_gt_class_val.txt" if gt_class else f"{row}_val.txt")

    def baseline_file(self, kind: str, guesses: str) -> Path:
        """Devkit LOC file of a baseline; ``guesses`` is ``gt_class`` or ``prior_top5``."""
        return self.stage_dir("loc") / "files" / f"baseline_{kind.replace('-', '_')}_{guesses}.txt"

    def table13(self) -> Path:
        return self.stage_dir("loc") / "table13.csv"

    def iou_histogram(self) -> Path:
        return self.stage_dir("loc") / "iou_histogram.png"

    # -- det -------------------------------------------------------------------------------------
    def det_detections(self, row: str, split: str) -> Path:
        """Detections of one Table 9 row on a split (image_id, index, devkit id, score, inclusive box)."""
        return self.stage_dir("det") / "detections" / f"{row}_{split}"

    def det_row_file(self, row: str, split: str) -> Path:
        """The devkit DET file of a Table 9 row (image indices of the official list)."""
        return self.stage_dir("det") / "files" / f"{row}_{split}.txt"

    def table9(self) -> Path:
        return self.stage_dir("det") / "table9.csv"

    def det_class_ap(self) -> Path:
        return self.stage_dir("det") / "class_ap.csv"

    def det_pr_curves(self) -> Path:
        return self.stage_dir("det") / "pr_curves.png"

    def det_table9_plot(self) -> Path:
        return self.stage_dir("det") / "table9.png"

    def det_contact_sheet(self) -> Path:
        return self.stage_dir("det") / "val2_detections.png"

    # -- eval ------------------------------------------------------------------------------------
    def loc_table(self) -> Path:
        return self.stage_dir("eval") / "loc_table.csv"

    def errors_plot(self) -> Path:
        return self.stage_dir("eval") / "errors.png"

    def report(self) -> Path:
        return self.stage_dir("eval") / "report.md"

    def report_html(self) -> Path:
        """The self-contained HTML report (figures embedded); its figures are also kept as files."""
        return self.stage_dir("eval") / "report.html"

    def report_figure(self, name: str) -> Path:
        """A figure of the HTML report, ``eval/report_files/<name>.png``."""
        return self.stage_dir("eval") / "report_files" / f"{name}.png"

    # -- submissions -----------------------------------------------------------------------------
    def submission(self, name: str) -> Path:
        """A file of the submission folder (``loc_val.txt``, ``loc_test.csv``, ...)."""
        return self.submission_dir / name

    def clear_submissions(self, prefix: str) -> list[Path]:
        """Remove the submission files a stage owns (those named ``<prefix>*``) before it rewrites them."""
        from ..utils.distributed import on_main

        removed = []
        if self.submission_dir.is_dir():
            removed = [p for p in sorted(self.submission_dir.glob(f"{prefix}*")) if p.is_file()]
        on_main(lambda: [p.unlink() for p in removed])   # under torchrun, rank 0 deletes
        return removed
