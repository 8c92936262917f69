"""Stage ``loc``: 5 (class, box) guesses per image, the LOC submissions, and the paper's Table 13.

Rows (``engine/rows.py``: which classifier, RPN and R-CNN answer each; exact keys), scored on val by
the official scorer, and the baselines ``baseline_full_image`` and ``baseline_center`` (the
foundation's floors).

Each row has ``gt_class_error`` (top-1 LOC error of the file whose only guess is the ground-truth
class: the paper's LOC error on the ground-truth class, Table 13), ``top5_error`` and ``top1_error``
(predicted classes), each the score of a devkit file on disk (``files``), which ``eval`` scores again.
The best row's localizer (lowest top-5 error on val) writes the submissions (devkit flat file +
Kaggle CSV) for val and test into the submission folder, whose ``loc_*`` files this stage owns; its
top-5 misses are broken down by cause (``evaluation/loc_failures.py``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..artifacts.parts import read_result_table, table_done
from ..artifacts.tables import best_box_lookup, member_top5
from ..engine.rows import LOC_ROWS, baseline_row, loc_row_files, loc_row_inputs
from ..engine.stage import Stage, StageContext, register_stage
from ..evaluation.baselines import KINDS as BASELINE_KINDS
from ..evaluation.baselines import score_baselines
from ..evaluation.loc import evaluate_loc
from ..evaluation.loc_failures import loc_failures, right_class_ious, top5_breakdown
from ..report.plots import plot_iou_histogram
from ..submission.kaggle_csv import write_kaggle_loc_csv
from ..submission.loc_file import read_loc_file, write_gt_class_loc_file, write_loc_file
from ..utils.io_utils import atomic_path, write_table_atomic


def guesses(images: pd.DataFrame, top5: pd.DataFrame, boxes: dict, synsets) -> tuple[np.ndarray, np.ndarray, int]:
    """(N, 5) devkit ids and (N, 5, 4) boxes in image order; a (image, class) without a box gets the
    whole image (counted and returned)."""
    n = len(images)
    labels = np.zeros((n, 5), dtype=np.int64)
    out = np.zeros((n, 5, 4), dtype=np.float64)
    row_of = {image_id: i for i, image_id in enumerate(images.image_id)}
    size = images[["width", "height"]].to_numpy()
    missing = 0
    for r in top5.itertuples(index=False):
        i, k = row_of[r.image_id], int(r.rank) - 1
        labels[i, k] = synsets.id_of(r.wnid)
        box = boxes.get((r.image_id, r.wnid))
        if box is None:
            missing += 1
            box = np.array([0, 0, max(size[i, 0] - 1, 0), max(size[i, 1] - 1, 0)], dtype=np.float64)
        out[i, k] = box
    return labels, out, missing


def gt_class_boxes(images: pd.DataFrame, boxes: dict, synsets) -> dict[tuple[int, int], np.ndarray]:
    """``(image position, devkit id) -> box`` of each image's ground-truth class (whole image if none)."""
    out = {}
    for i, r in enumerate(images.itertuples(index=False)):
        full = np.array([0, 0, r.width - 1, r.height - 1], dtype=np.float64)
        out[(i, synsets.id_of(r.wnid))] = boxes.get((r.image_id, r.wnid), full)
    return out


def score_row(ctx, name: str, table: Path, who: str, val, synsets, gt) -> dict:
    art = ctx.artifacts
    boxes = best_box_lookup(read_result_table(table))
    labels, guess_boxes, missing = guesses(val.images, member_top5(art, who, "val"), boxes, synsets)
    files = loc_row_files(art, name)
    top5_file, gt_file = Path(files["top5"]), Path(files["gt_class"])
    write_gt_class_loc_file(gt_file, gt.class_ids, gt_class_boxes(val.images, boxes, synsets))
    write_loc_file(top5_file, labels, guess_boxes)
    res = evaluate_loc(*read_back(top5_file), gt)
    gt_res = evaluate_loc(*read_back(gt_file), gt)
    if missing:
        ctx.logger.warning("loc %s: %d (image, class) pairs had no box; the whole image was used", name, missing)
    return {"gt_class_error": float(gt_res["loc_error"][0]), "top5_error": float(res["loc_error"][4]),
            "top1_error": float(res["loc_error"][0]), "classifier": who, "boxes": str(table), "files": files}


def read_back(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labels, boxes) of a LOC file as written, read strictly: what is scored is what is on disk."""
    sub = read_loc_file(path)
    return sub.labels, sub.boxes


def write_submissions(ctx: StageContext, split: str, synsets, best_row: str) -> dict[str, str]:
    """The guesses of the best row's localizer (chosen on val) for a split, as a devkit flat file and
    a Kaggle CSV (and, on val, its ground-truth-class file), copied to the submission folder."""
    art = ctx.artifacts
    table, who = loc_row_inputs(art, ctx.cfg, split)[best_row]
    if not table_done(table):
        return {}
    images = art.read_images("loc", split)
    labels, boxes, _ = guesses(images, member_top5(art, who, split), best_box_lookup(read_result_table(table)), synsets)
    devkit, kaggle = art.submission(f"loc_{split}.txt"), art.submission(f"loc_{split}.csv")
    write_loc_file(devkit, labels, boxes)
    write_kaggle_loc_csv(kaggle, list(images.image_id), labels, boxes, synsets)
    files = {f"{split}": str(devkit), f"{split}_kaggle": str(kaggle)}
    if split == "val":
        gt_class = art.submission("loc_val_gt_class.txt")
        with atomic_path(gt_class) as tmp:
            tmp.write_bytes(art.loc_row_file(best_row, gt_class=True).read_bytes())
        files["val_gt_class"] = str(gt_class)
    return files


@register_stage
class LocalizeStage(Stage):
    """Score every localizer configuration (Table 13), write submissions and the error breakdown."""

    name = "loc"
    requires = ("data", "cls", "rpn", "rcnn")
    reads = ("loc", "cls", "rpn", "rcnn", "eval")   # cls, rpn, rcnn: the first member of each (engine/rows.py)
    submits = True

    def run(self, ctx: StageContext) -> dict:
        art = ctx.artifacts
        synsets = art.read_classes()["clsloc"]
        val = art.read_loc_records("val")
        if not art.ground_truth("loc", "val").is_file():
            raise FileNotFoundError(f"{art.ground_truth('loc', 'val')} is missing: the data root has no "
                                    "CLS-LOC val XMLs, which LOC scoring needs")
        gt = art.read_loc_ground_truth("val")
        if list(val.images.image_id) != list(gt.stems):
            raise ValueError("val records are not in the ground truth's sorted file-name order")
        rows = {name: score_row(ctx, name, table, who, val, synsets, gt)
                for name, (table, who) in loc_row_inputs(art, ctx.cfg, "val").items()}
        floors = dict(ctx.cfg.get("eval", {}) or {})
        kinds = floors.get("baselines", list(BASELINE_KINDS))
        baselines = score_baselines(art.read_loc_records("train"), val, synsets, gt, kinds, seed=int(floors.get("seed", 0)),
                                    file_of=art.baseline_file)
        baselines = {k.replace("-", "_"): v for k, v in baselines.items()}
        for kind, b in baselines.items():
            row = baseline_row(kind)
            rows[row] = {**{k: b[k] for k in ("gt_class_error", "top5_error", "top1_error")},
                         "files": loc_row_files(art, row)}
        best = min(LOC_ROWS, key=lambda k: (rows[k]["top5_error"], rows[k]["gt_class_error"]))
        failures = loc_failures(*read_back(art.loc_row_file(best)), gt, k=5)
        counts, ious = top5_breakdown(failures), right_class_ious(failures)
        plot_iou_histogram(ious, art.iou_histogram(), f"{best}: right-class guesses (val)")
        for p in art.clear_submissions("loc_"):
            ctx.logger.info("removed the previous submission %s", p)
        submissions = {**write_submissions(ctx, "val", synsets, best), **write_submissions(ctx, "test", synsets, best)}
        metrics = {"top5_error": rows[best]["top5_error"], "gt_class_error": rows[best]["gt_class_error"],
                   "best_row": best, "rows": rows, "breakdown": {best: counts}, "submissions": submissions,
                   "baselines": baselines}
        art.write_metrics("loc", metrics)
        table = pd.DataFrame.from_dict({k: {c: v[c] for c in ("gt_class_error", "top5_error", "top1_error")}
                                        for k, v in rows.items()}, orient="index")
        write_table_atomic(table.reset_index(names="row"), art.table13())
        ctx.logger.info("Table 13 (val, official scorer):\n%s", table.to_string(float_format=lambda x: f"{x:.4f}"))
        ctx.logger.info("best row %s: of %d images wrong at top-5, %d lack the right class, %d have it with IoU < 0.5",
                        best, counts["wrong_top5"], counts["class_missing"], counts["box_iou_below_0_5"])
        ctx.logger.info("LOC submissions in %s", art.submission_dir)
        return {"best_row": best, "top5_error": metrics["top5_error"], "gt_class_error": metrics["gt_class_error"]}
