"""The report's result sections: classification, Table 13 (LOC), Table 9 (DET), the DET error
diagnosis and the contact sheets, each with the paper's figures beside the run's.

Each function takes plain metrics (``eval/metrics.json``'s content) and the figures' paths and
returns HTML; they compute nothing, so what the page shows is what the metrics file holds.
"""
from __future__ import annotations

from ..evaluation.det_diagnosis import CAUSES
from ..evaluation.loc_failures import KINDS, worst_failures
from .figures import SHEET_SIZE, short_name
from .html import esc, figure, note, num, pct, table
from .paper import (
    CITATION,
    PAPER_MODEL_OF_DEPTH,
    TABLE3_TEN_CROP,
    TABLE4_DENSE,
    TABLE5_ENSEMBLE_TOP5_TEST,
    TABLE9_COCO,
    TABLE12_DET,
    TABLE13,
    TABLE13_VGG_GT_CLASS,
    TABLE14_TOP5_LOC_TEST,
    table12_by_split,
)

MODES = (("center", "center crop"), ("ten_crop", "10-crop"), ("dense", "dense"))


def _pair(errors: dict | None) -> str:
    return "\u2014" if not errors else f"{pct(errors['top1_error'])} / {pct(errors['top5_error'])}"


def _paper_pair(values) -> str:
    return "\u2014" if values is None else f"{values[0]:.2f} / {values[1]:.2f}"


def cls_section(cls: dict | None, models_cfg: list) -> str:
    """Per model and test mode, and the ensemble, next to the paper's Tables 3-5."""
    if not cls or "models" not in cls:
        return note("The cls stage wrote no metrics.")
    depth = {m["name"]: m.get("backbone", {}).get("depth") for m in models_cfg}
    rows = []
    for name, modes in cls["models"].items():
        twin = PAPER_MODEL_OF_DEPTH.get(depth.get(name))
        rows.append([name, *(_pair(modes.get(m)) for m, _ in MODES), twin or "\u2014",
                     _paper_pair(TABLE3_TEN_CROP.get(twin)), _paper_pair(TABLE4_DENSE.get(twin))])
    ens_mode = cls.get("ensemble_mode", "dense")
    rows.append([f"ensemble ({ens_mode}; {', '.join(cls.get('members', []))})",
                 *(_pair(cls["ensemble"]) if m == ens_mode else "" for m, _ in MODES),
                 "ILSVRC 2015 ensemble", "\u2014", f"\u2014 / {TABLE5_ENSEMBLE_TOP5_TEST} (test, Table 5)"])
    run = table(["model", *(f"{label} top-1 / top-5" for _, label in MODES), "paper model",
                 "paper 10-crop (Table 3)", "paper dense (Table 4)"], rows, "cls-table",
                classes=[""] * (len(rows) - 1) + ["best"])
    ref = table(["paper model", "10-crop top-1 / top-5 (Table 3)", "dense top-1 / top-5 (Table 4)"],
                [[k, _paper_pair(TABLE3_TEN_CROP[k]), _paper_pair(v)] for k, v in TABLE4_DENSE.items()],
                "paper-table4")
    return (note("Classification error (%) on val by the devkit's rules (top-1 / top-5). The paper's figures are "
                 "ImageNet val (1000 classes, 224 px crops); this run's are its own data and model sizes.")
            + f'<div class="side"><div><h3>This run</h3>{run}</div>'
            f'<div class="paper"><h3>Paper, Tables 3 and 4</h3>{ref}<p class="note">{esc(CITATION)}</p>'
            "</div></div>")


def loc_section(loc: dict, analysis: dict, figs: dict, iou_histogram) -> str:
    """Table 13 with GT-class and predicted-class errors, the paper's rows, and the failure bins."""
    best = loc.get("best_row")
    rows, classes = [], []
    for name, r in loc["rows"].items():
        prow, p_gt, p_top5 = TABLE13.get(name, ("\u2014", None, None))
        bins = analysis["rows"].get(name, {}).get("counts", {})
        rows.append([name, prow, pct(r["gt_class_error"]), "\u2014" if p_gt is None else p_gt,
                     pct(r["top5_error"]), "\u2014" if p_top5 is None else p_top5, pct(r["top1_error"]),
                     *(bins.get(k, "\u2014") for k in KINDS)])
        classes.append("best" if name == best else "")
    rows.append(["VGG (paper's reference)", "VGG-16, 1-crop", "\u2014", TABLE13_VGG_GT_CLASS, "\u2014", "\u2014",
                 "\u2014", "", "", ""])
    classes.append("paper")
    t13 = table(["row", "paper row (Table 13)", "GT-class LOC err", "paper", "top-5 LOC err (predicted classes)",
                 "paper", "top-1 LOC err", "top-5 fails: wrong class", "right class, IoU < 0.5", "both"],
                rows, "table13", left=2, classes=classes)
    return (note(f"LOC error (%) on val, {analysis['denominator']} scored images (blacklisted ones left out), each "
                 "row re-scored from its devkit file. Best row (it wrote the submissions) in bold. Paper: Table 13 "
                 f"(ImageNet val); the ILSVRC 2015 entry scored {TABLE14_TOP5_LOC_TEST} top-5 LOC error on test "
                 "(Table 14). Failure bins count the top-5 misses: no guess of the right class though a box covers "
                 "the object (wrong class), a right-class guess whose box has IoU < 0.5 (right class, IoU < 0.5), "
                 "neither (both).") + t13
            + figure(figs.get("loc_failures"), "Top-5 LOC error of every row split by cause.", "LOC failure chart")
            + figure(figs.get("loc_errors"), "Every row's GT-class, top-1 and top-5 LOC error.", "LOC error bars")
            + figure(iou_histogram, f"{best}: IoU of the right-class guess with the ground truth.", "IoU histogram"))


def det_section(det: dict, analysis: dict | None, figs: dict, synsets) -> str:
    """Table 9 rows next to the paper's Tables 9 and 12, per-class AP, precision-recall curves."""
    if not det.get("rows"):
        return note(f"No DET results in this run ({det.get('skipped', 'the det stage wrote no rows')}).")
    best = det["best_row"]
    rows, classes = [], []
    for name, r in det["rows"].items():
        p9 = TABLE9_COCO.get(name)
        p12 = TABLE12_DET.get(name)
        rows.append([name, ", ".join(r.get("models", [])) or "\u2014", pct(r["mAP"]), p9[0] if p9 else "\u2014",
                     p9[1] if p9 else "\u2014", p12["val2"] if p12 else "\u2014"])
        classes.append("best" if name == best else "")
    t9 = table(["row", "detectors", "val2 mAP (%)", "paper row (Table 9)", "paper COCO mAP@.5",
                "paper ImageNet DET val2 mAP (Table 12)"], rows, "table9", left=4, classes=classes)
    ap_rows = []
    for c in sorted(analysis["ap"]) if analysis else []:
        ap_rows.append([short_name(synsets, c, 30), synsets.wnid_of_id(c), analysis["npos"][c],
                        *(num(_ap_of(r, c)) for r in det["rows"].values())])
    per_class = table(["class", "wnid", "objects", *det["rows"]], ap_rows, "class-ap", left=2)
    p12 = table12_by_split()
    return (note("Mean AP on val2 by the official DET rules, each row re-scored from its devkit file; the best row "
                 "wrote the submissions. The paper's Table 9 is on MS COCO (mAP@.5); its ImageNet DET figures are "
                 f"Table 12 (val2: {p12['val2']['single']} single model, {p12['val2']['ensemble']} ensemble; "
                 f"test: {p12['test']['single']} / {p12['test']['ensemble']}).") + t9
            + "<h3>Per-class AP (val2)</h3>" + per_class
            + figure(figs.get("class_ap"), f"Per-class AP of {best} (bars) and of the baseline row (dots).", "per-class AP")
            + figure(figs.get("pr_curves"), f"{best}: precision-recall curve of every class.", "precision-recall curves"))


def _ap_of(row: dict, c: int):
    ap = row.get("ap", {})
    return ap.get(c, ap.get(str(c)))


def diagnosis_section(analysis: dict | None, figs: dict, synsets) -> str:
    """The causes of each class's top-scored false positives, as a chart and a table."""
    if not analysis:
        return note("No DET results in this run.")
    counts = analysis["diagnosis"]["counts"]
    rows = [[short_name(synsets, c, 30), int(r.objects), num(analysis["ap"].get(c)), int(r.analysed),
             *(f"{int(r[k])} ({pct(r[k] / r.analysed if r.analysed else None, 0)}%)" for k in CAUSES)]
            for c, r in counts.iterrows()]
    total = counts[list(CAUSES)].sum()
    n = int(total.sum())
    rows.append(["all classes", int(counts.objects.sum()), "", n,
                 *(f"{int(total[k])} ({pct(total[k] / n if n else None, 0)}%)" for k in CAUSES)])
    body = table(["class", "objects", "AP", "false positives analysed", *CAUSES], rows, "fp-diagnosis",
                 classes=[""] * (len(rows) - 1) + ["best"])
    return (note("After Hoiem, Chodpathumwan and Dai, Diagnosing Error in Object Detectors (ECCV 2012): the "
                 f"top-scored false positives of each class of {analysis['best']} (as many as the class has "
                 "objects), each given one cause in this order: duplicate (IoU with an already matched object of "
                 "its class at or above the devkit threshold), localization (IoU in [0.1, threshold) with an "
                 "object of its class), confusion (IoU >= 0.1 with an object of another class), background. "
                 "True and false positives are the official scorer's.")
            + figure(figs.get("fp_causes"), "Share of each cause among every class's top-scored false positives.",
                     "false-positive causes") + body)


def sheets_section(loc_an: dict, det_an: dict | None, figs: dict, det_synsets=None) -> str:
    """The worst LOC failures and the highest-scored DET false positives, with their file names."""
    worst = worst_failures(loc_an["table"], SHEET_SIZE)
    loc_rows = [[r.image, r.kind, num(r.iou_guess, 2), num(r.iou_best, 2)] for r in worst.itertuples(index=False)]
    html = ("<h3>Worst LOC failures (best row, top-5)</h3>"
            + figure(figs.get("loc_worst"), "Ground truth in green; the guess shown (the right-class one if any, "
                     "else the first) in red with its class and IoU. Worst = smallest IoU of the guess shown.",
                     "worst LOC failures")
            + table(["file", "cause", "IoU of the guess shown", "best IoU of any guess"], loc_rows, "loc-worst", left=2))
    if det_an:
        fps = det_an["diagnosis"]["false_positives"].sort_values("score", ascending=False, kind="stable").head(SHEET_SIZE)
        det_rows = [[r.image, short_name(det_synsets, r.class_id, 30), num(r.score), r.cause, num(r.iou_same, 2),
                     num(r.iou_other, 2)]
                    for r in fps.itertuples(index=False)]
        html += ("<h3>Highest-scored DET false positives</h3>"
                 + figure(figs.get("det_fps"), "Ground truth (all classes) in green; the false positive in red with "
                          "its class, score and cause.", "DET false positives")
                 + table(["file", "class", "score", "cause", "IoU same class", "IoU other class"], det_rows,
                         "det-fps", left=2))
    return html
