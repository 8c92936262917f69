"""Assemble ``eval/report.html`` from the eval stage's metrics and the run's files."""
from __future__ import annotations

from pathlib import Path

from ..utils.io_utils import write_text_atomic
from .analysis import det_analysis, loc_analysis
from .figures import det_figures, loc_figures
from .html import note, page
from .results import cls_section, det_section, diagnosis_section, loc_section, sheets_section
from .run_sections import run_section, submissions_section

STAGES = ("data", "cls", "rpn", "rcnn", "loc", "det", "eval")


def write_html_report(art, metrics: dict, config: dict, data_root, classes: dict) -> Path:
    """Compute the analyses, draw the figures, write the page; returns its path.

    ``metrics``: what ``eval`` wrote to its metrics.json; ``config``: the config sections of the run
    (plain dicts); ``classes``: the data stage's class tables (``clsloc`` and, with DET, ``det``).
    """
    loc, det = metrics["loc"], metrics.get("det") or {}
    loc_gt = art.read_loc_ground_truth("val")
    loc_an = loc_analysis(loc["rows"], loc["best_row"], loc_gt, classes["clsloc"])
    figs = {**loc_figures(art, loc_an, loc_gt, classes["clsloc"]), "loc_errors": art.errors_plot()}
    det_an = None
    if det.get("rows") and "det" in classes:
        det_gt = art.read_det_ground_truth("val2")
        det_an = det_analysis(det, det_gt)
        figs.update(det_figures(art, det_an, det["rows"], det_gt, classes["det"]))
    sections = [
        ("classification", "Classification", cls_section(metrics.get("cls"), config.get("cls", {}).get("models", []))),
        ("loc", "Localization (Table 13)", loc_section(loc, loc_an, figs, art.iou_histogram())),
        ("det", "Detection (Table 9)", det_section(det, det_an, figs, classes.get("det"))),
        ("diagnosis", "DET error diagnosis", diagnosis_section(det_an, figs, classes.get("det"))),
        ("failures", "Failures", sheets_section(loc_an, det_an, figs, classes.get("det"))),
        ("submissions", "Submission files", submissions_section(metrics, loc.get("submissions", {}), det,
                                                                art.stage_dir("eval"))),
        ("run", "The run", run_section(art, config, data_root, STAGES)),
    ]
    intro = note(f"Work dir {art.work_dir.resolve()}. Every number is re-computed by the eval stage from the "
                 "files the run wrote, by the official ILSVRC 2015 devkit rules; figures in brown are the paper's.")
    path = art.report_html()
    write_text_atomic(path, page("ilsvrc_pipe report", sections, intro))
    return path
