"""Stage ``eval``: score the files the pipeline wrote, through the official scorers, into one report.

Every LOC number in ``eval/metrics.json`` is the score of a file on disk, computed here again from
that file and the ``data`` stage's ground truth: each Table 13 row's devkit files, the baselines'
files and the submission files (devkit flat file and Kaggle CSV); every Table 9 row's val2 DET file
and the DET val2 submission likewise. Classification errors are those of the ``cls`` stage's score
tables. Also writes ``loc_table.csv``, ``errors.png``, ``report.md`` and the HTML report
``report.html`` (:mod:`ilsvrc_pipe.report`), which shows the run's config: so the stage reads every
section, and any config change that reruns a stage also redraws the report.
"""
from __future__ import annotations

import json

import pandas as pd

from ..engine.rows import BASELINE_PREFIX, loc_row_files
from ..engine.stage import Stage, StageContext, register_stage
from ..evaluation.det import evaluate_det
from ..evaluation.loc import evaluate_loc_file
from ..report import write_html_report
from ..report.paper import table12_by_split
from ..report.plots import plot_loc_errors
from ..report.run_info import plain
from ..submission.det_file import read_det_file
from ..utils.errors import DataFormatError
from ..utils.io_utils import write_table_atomic, write_text_atomic

ROW_COLUMNS = ("gt_class_error", "top1_error", "top5_error")


SUBMISSION_FILES = {"val": "loc_val.txt", "val_kaggle": "loc_val.csv"}
# the sections the report shows (and compares with the paper config)
REPORT_SECTIONS = ("data", "cls", "rpn", "rcnn", "loc", "det", "eval", "precision")


def score_row_files(files: dict, gt, synsets) -> dict:
    """A Table 13 row from its files: ``top5`` (predicted classes) and ``gt_class``."""
    top5 = evaluate_loc_file(files["top5"], gt, synsets)
    gt_class = evaluate_loc_file(files["gt_class"], gt, synsets)
    return {"gt_class_error": float(gt_class["loc_error"][0]), "top1_error": float(top5["loc_error"][0]),
            "top5_error": float(top5["loc_error"][4]), "files": dict(files)}


def rescore_det(art, det: dict) -> dict:
    """The ``det`` stage's metrics with every row's mAP and AP recomputed from its val2 file, and
    its val2 submission file scored."""
    if "rows" not in det:
        return det
    gt = art.read_det_ground_truth("val2")
    rows = {}
    for name, row in det["rows"].items():
        path = art.det_row_file(name, "val2")
        res = evaluate_det(read_det_file(path), gt)
        if abs(res["mAP"] - row["mAP"]) > 1e-12:
            raise DataFormatError(f"{path} scores mAP {res['mAP']:.6f}, not the {row['mAP']:.6f} that "
                                  f"{art.metrics('det')} reports: rerun with --stage det --force")
        rows[name] = {**row, "file": str(path), "mAP": res["mAP"], "ap": {int(c): float(v) for c, v in res["ap"].items()}}
    submitted = evaluate_det(read_det_file(art.submission("det_val2.txt")), gt)
    return {**det, "rows": rows, "submission_val2_mAP": submitted["mAP"]}


def score_submission(path: str, gt, synsets) -> dict:
    res = evaluate_loc_file(path, gt, synsets)
    return {"file": path, "top5_error": float(res["loc_error"][4]), "top1_error": float(res["loc_error"][0]),
            "cls_top5_error": float(res["cls_error"][4]), "cls_top1_error": float(res["cls_error"][0])}


def _report(metrics: dict, table: pd.DataFrame) -> str:
    lines = ["# ilsvrc_pipe evaluation", "", "LOC rows (val split; each re-scored from its file by the official rules):",
             "", "```", table.to_string(float_format=lambda x: f"{x:.4f}"), "```", ""]
    if metrics.get("submissions"):
        lines += ["Submission files:", ""] + [f"- `{k}`: {v['file']} (top-5 LOC error {v['top5_error']:.4f})"
                                             for k, v in metrics["submissions"].items() if "top5_error" in v] + [""]
    det = metrics.get("det", {})
    if det.get("rows"):
        p12 = table12_by_split()
        lines += [f"Table 9 (DET, val2 mAP by the official rules; paper, Table 12: {p12['val2']['single']} single / "
                  f"{p12['val2']['ensemble']} ensemble",
                  f"on val2, {p12['test']['single']} / {p12['test']['ensemble']} on test):", "", "```"]
        lines += [f"{k:<28} {v['mAP']:.4f}" for k, v in det["rows"].items()] + ["```", ""]
    if "cls" in metrics:
        lines += ["Classification:", "", "```", json.dumps(metrics["cls"], indent=2), "```", ""]
    return "\n".join(lines)


@register_stage
class EvaluateStage(Stage):
    """Re-score every file the LOC stage reports (rows, baselines, submissions) into metrics and a report."""

    name = "eval"
    requires = ("data", "cls", "loc", "det")
    reads = REPORT_SECTIONS

    def run(self, ctx: StageContext) -> dict:
        art = ctx.artifacts
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        synsets = art.read_classes()["clsloc"]
        gt = art.read_loc_ground_truth("val")
        loc = art.read_metrics("loc")
        rows = {name: score_row_files(loc_row_files(art, name), gt, synsets) for name in loc["rows"]}
        differ = [k for k in rows if any(abs(rows[k][c] - loc["rows"][k][c]) > 1e-12 for c in ROW_COLUMNS)]
        if differ:
            raise DataFormatError(f"the files of rows {differ} score otherwise than the loc stage reported: "
                             f"{art.metrics('loc')} is stale; rerun with --stage loc --force")
        submissions = {k: score_submission(str(art.submission(SUBMISSION_FILES[k])), gt, synsets) for k in loc["submissions"]
                       if k in ("val", "val_kaggle")}
        if "val_gt_class" in loc["submissions"]:
            path = str(art.submission("loc_val_gt_class.txt"))
            submissions["val_gt_class"] = {"file": path, "gt_class_error": float(
                evaluate_loc_file(path, gt, synsets)["loc_error"][0])}
        best = loc["best_row"]
        metrics: dict = {"n_classes": len(synsets), "cls": art.read_metrics("cls"),
                         "loc": {**loc, "rows": rows, "top5_error": rows[best]["top5_error"],
                                 "gt_class_error": rows[best]["gt_class_error"]},
                         "baselines": {k[len(BASELINE_PREFIX):]: v for k, v in rows.items()
                                       if k.startswith(BASELINE_PREFIX)},
                         "submissions": submissions, "det": rescore_det(art, art.read_metrics("det") or {})}
        table = pd.DataFrame.from_dict({k: {c: v[c] for c in ROW_COLUMNS} for k, v in rows.items()}, orient="index")
        table.index.name = "row"
        art.write_metrics("eval", metrics)
        write_table_atomic(table.reset_index(), art.loc_table())
        plot_loc_errors(table, art.errors_plot())
        write_text_atomic(art.report(), _report(metrics, table))
        config = {s: plain(ctx.cfg.get(s, {}) or {}) for s in self.reads}
        html = write_html_report(art, metrics, config, ctx.data_root, art.read_classes())
        ctx.logger.info("LOC table (val, each row re-scored from its files):\n%s",
                        table.to_string(float_format=lambda x: f"{x:.4f}"))
        if metrics["det"].get("rows"):
            ctx.logger.info("Table 9 (DET val2 mAP, each row re-scored from its file):\n%s", "\n".join(
                f"  {k:<28} {v['mAP']:.4f}" for k, v in metrics["det"]["rows"].items()))
        ctx.logger.info("report: %s", html)
        return {"rows": {k: {c: v[c] for c in ROW_COLUMNS} for k, v in rows.items()}, "report": str(html)}
