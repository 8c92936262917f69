"""Every figure of the HTML report, drawn into ``eval/report_files/`` (the page embeds them).

Charts go through :mod:`ilsvrc_pipe.report.plots` (matplotlib, atomic saves); contact sheets draw ground
truth in green and the run's boxes in red, each image titled with its file name, so a reader can
open the very image that failed.
"""
from __future__ import annotations

import numpy as np

from ..evaluation.det_diagnosis import CAUSES
from ..evaluation.loc_failures import worst_failures
from .analysis import gt_boxes_of, image_path
from .plots import contact_sheet, plot_class_ap, plot_fp_causes, plot_loc_failures, plot_pr_curves

SHEET_SIZE = 12   # images per contact sheet


def short_name(synsets, class_id: int, width: int = 14) -> str:
    return synsets.name_of(synsets.wnid_of_id(int(class_id))).split(",")[0][:width]


def loc_figures(art, loc: dict, gt, synsets) -> dict:
    """The failure-bin chart of every Table 13 row and the contact sheet of the best row's worst images."""
    out = {"loc_failures": art.report_figure("loc_failures")}
    plot_loc_failures({k: v["fractions"] for k, v in loc["rows"].items()}, out["loc_failures"],
                      f"top-5 LOC failures by cause ({loc['denominator']} scored val images)")
    worst = worst_failures(loc["table"], SHEET_SIZE)
    images = art.read_images("loc", "val")
    items = []
    for pos, r in zip(worst.index, worst.itertuples(index=False)):
        if images.image_id.iloc[pos] != r.image:
            raise ValueError(f"LOC val records and ground truth disagree at position {pos}")
        label = int(loc["labels"][pos, r.guess])
        items.append({"path": image_path(images.path.iloc[pos]), "title": f"{r.image} {r.kind}",
                      "truth": gt_boxes_of(gt, pos, int(gt.class_ids[pos])).tolist(),
                      "boxes": [loc["boxes"][pos, r.guess].tolist()],
                      "labels": [f"{short_name(synsets, label)} IoU {r.iou_guess:.2f}"]})
    if items:
        out["loc_worst"] = art.report_figure("loc_worst")
        contact_sheet(items, out["loc_worst"])
    return out


def det_figures(art, det: dict, rows: dict, gt, synsets) -> dict:
    """Per-class AP, precision-recall small multiples, false-positive causes, and the contact sheet
    of the highest-scored false positives."""
    classes = sorted(det["ap"])
    names = [short_name(synsets, c, 24) for c in classes]
    out = {k: art.report_figure(k) for k in ("class_ap", "pr_curves", "fp_causes")}
    baseline = rows.get("baseline", {}).get("ap")
    plot_class_ap(names, [det["ap"][c] for c in classes], out["class_ap"], det["best"],
                  [baseline.get(str(c), baseline.get(c, np.nan)) for c in classes] if baseline else None, "baseline")
    titles = {c: f"{short_name(synsets, c, 20)} (AP {det['ap'][c]:.2f})" for c in det["curves"]}
    plot_pr_curves(det["curves"], titles, out["pr_curves"], f"{det['best']}: precision-recall per class (val2)")
    counts = det["diagnosis"]["counts"]
    labels = [short_name(synsets, c, 24) for c in counts.index] + ["all classes"]
    plot_fp_causes(labels, {c: list(counts[c]) + [int(counts[c].sum())] for c in CAUSES}, out["fp_causes"],
                   f"{det['best']}: causes of the top-scored false positives (val2)")
    fps = det["diagnosis"]["false_positives"].sort_values("score", ascending=False, kind="stable").head(SHEET_SIZE)
    images = art.read_images("det", "val2").set_index("image_id")
    position = {s: i for i, s in enumerate(gt.stems)}
    items = [{"path": image_path(images.path.loc[r.image]), "title": r.image,
              "truth": gt_boxes_of(gt, position[r.image]).tolist(), "boxes": [[r.x1, r.y1, r.x2, r.y2]],
              "labels": [f"{short_name(synsets, r.class_id, 10)} {r.score:.2f} {r.cause[:5]}"]}
             for r in fps.itertuples(index=False)]
    if items:
        out["det_fps"] = art.report_figure("det_fps")
        contact_sheet(items, out["det_fps"])
    return out
