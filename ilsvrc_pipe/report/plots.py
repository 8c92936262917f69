"""Figures of the reports: LOC error bars and IoU histogram, Table 9, precision-recall curves per
class, contact sheets of detections.

matplotlib (Agg) for charts, Pillow for drawing boxes on images; files are written atomically.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np

from ..utils.io_utils import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike, dpi: int = 90) -> None:
    """Write a figure as PNG atomically and release it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    _pyplot().close(fig)


def plot_iou_histogram(ious: np.ndarray, path: str | os.PathLike, title: str) -> None:
    """Histogram of the IoU of each right-class LOC guess with the ground truth (0.5 marked)."""
    fig, ax = _pyplot().subplots(figsize=(6, 3.5))
    ax.hist(ious, bins=np.linspace(0, 1, 21), color="tab:blue", edgecolor="white")
    ax.axvline(0.5, color="tab:red", linestyle="--", label="IoU 0.5")
    ax.set_xlabel("IoU of the right-class guess with the ground truth")
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    _save(fig, path, dpi=100)


def plot_loc_errors(table, path: str | os.PathLike) -> None:
    """Horizontal bars of each Table 13 row's errors (a pandas table, one row per Table 13 row)."""
    _pyplot()
    cols = [c for c in ("gt_class_error", "top1_error", "top5_error") if c in table]
    ax = table[cols].plot.barh(figsize=(7, 0.5 + 0.45 * len(table) * len(cols) / 2))
    ax.set_xlabel("error (official scorer)")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    fig = ax.get_figure()
    fig.tight_layout()
    _save(fig, path, dpi=100)


def plot_pr_curves(curves: dict, titles: dict, path: str | os.PathLike, suptitle: str = "") -> None:
    """Small multiples: one precision-recall curve per class (``curves[c] = (recall, precision)``)."""
    plt = _pyplot()
    keys = list(curves)
    cols = min(4, max(1, len(keys)))
    rows = max(1, math.ceil(len(keys) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    for ax, c in zip(axes.ravel(), keys):
        recall, precision = curves[c]
        ax.plot(np.r_[0, recall], np.r_[1 if len(precision) else 0, precision], color="tab:blue")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(titles.get(c, str(c)), fontsize=9)
        ax.grid(alpha=0.3)
    if suptitle:
        fig.suptitle(suptitle)
    fig.supxlabel("recall")
    fig.supylabel("precision")
    fig.tight_layout()
    _save(fig, path)


def contact_sheet(items: Sequence[dict], path: str | os.PathLike, cell: int = 220, cols: int = 4) -> None:
    """A grid of images with boxes drawn. Each item: ``path``, ``truth`` (inclusive boxes, green),
    ``boxes`` (inclusive, red) with ``labels`` (text per box), ``title``."""
    from PIL import Image, ImageDraw

    from ..data.images import load_rgb

    rows = max(1, math.ceil(len(items) / cols))
    sheet = Image.new("RGB", (cols * cell, rows * (cell + 14)), (255, 255, 255))
    for k, item in enumerate(items):
        img = load_rgb(item["path"])
        scale = cell / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
        draw = ImageDraw.Draw(img)
        for box in item.get("truth", []):
            draw.rectangle([v * scale for v in box], outline=(0, 200, 0), width=2)
        for box, text in zip(item.get("boxes", []), item.get("labels", [])):
            draw.rectangle([v * scale for v in box], outline=(230, 20, 20), width=2)
            width = draw.textlength(str(text))
            at = (max(0, min(box[0] * scale + 2, img.width - width - 1)), box[1] * scale + 1)   # inside the image
            draw.rectangle(draw.textbbox(at, str(text)), fill=(255, 255, 255))   # readable on any background
            draw.text(at, str(text), fill=(230, 20, 20))
        x, y = (k % cols) * cell, (k // cols) * (cell + 14)
        sheet.paste(img, (x, y + 14))
        ImageDraw.Draw(sheet).text((x + 2, y + 1), str(item.get("title", ""))[:40], fill=(0, 0, 0))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")


def plot_table9(rows: dict, path: str | os.PathLike) -> None:
    """Bar chart of the Table 9 rows' mAP."""
    names = list(rows)
    fig, ax = _pyplot().subplots(figsize=(7, 0.6 + 0.45 * len(names)))
    ax.barh(names, [rows[n] for n in names], color="tab:blue")
    ax.set_xlim(0, 1)
    ax.set_xlabel("mAP (official DET rules)")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def _stacked_barh(ax, labels: Sequence[str], parts: dict, colors: dict, names: dict | None = None) -> None:
    """Horizontal stacked bars: ``parts[name]`` holds one value per label, drawn in ``colors[name]``,
    named ``names[name]`` in the legend."""
    left = np.zeros(len(labels))
    for name, values in parts.items():
        values = np.asarray(values, dtype=np.float64)
        ax.barh(list(labels), values, left=left, color=colors.get(name),
                label=(names or {}).get(name, name.replace("_", " ")))
        left += values
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)


LOC_FAILURE_COLORS = {"wrong_class": "tab:orange", "low_iou": "tab:blue", "both": "tab:red"}
LOC_FAILURE_NAMES = {"wrong_class": "wrong class (a box covers the object)", "low_iou": "right class, IoU < 0.5",
                     "both": "wrong class and no box on the object"}
FP_CAUSE_COLORS = {"localization": "tab:blue", "duplicate": "tab:cyan", "confusion": "tab:orange",
                   "background": "tab:gray"}


def plot_loc_failures(fractions: dict, path: str | os.PathLike, title: str = "") -> None:
    """Per Table 13 row, its top-5 LOC error split into wrong class / right class, IoU < 0.5 / both
    (``fractions[row][kind]``, fractions of the scored images)."""
    rows = list(fractions)
    kinds = list(LOC_FAILURE_COLORS)
    fig, ax = _pyplot().subplots(figsize=(10.5, 1.2 + 0.45 * len(rows)))
    _stacked_barh(ax, rows, {k: [fractions[r].get(k, 0.0) for r in rows] for k in kinds}, LOC_FAILURE_COLORS,
                  LOC_FAILURE_NAMES)
    ax.set_xlabel("top-5 LOC error (fraction of the scored val images)")
    ax.set_xlim(0, 1)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path, dpi=100)


def plot_class_ap(names: Sequence[str], ap: Sequence[float], path: str | os.PathLike, label: str,
                  reference: Sequence[float] | None = None, reference_label: str = "") -> None:
    """Per-class AP as bars (classes sorted by AP, best first), with an optional second row as dots."""
    ap = np.asarray(ap, dtype=np.float64)
    order = np.argsort(-np.nan_to_num(ap, nan=-1.0), kind="stable")
    fig, ax = _pyplot().subplots(figsize=(7, 1.0 + 0.28 * len(names)))
    ys = np.arange(len(order))
    ax.barh(ys, ap[order], color="tab:blue", label=label)
    if reference is not None:
        ax.plot(np.asarray(reference, dtype=np.float64)[order], ys, "o", color="tab:red", label=reference_label)
    ax.set_yticks(ys, [names[i] for i in order], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("AP (official DET rules, val2)")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    _save(fig, path, dpi=100)


def plot_fp_causes(labels: Sequence[str], counts: dict, path: str | os.PathLike, title: str = "") -> None:
    """Per class (and overall), the share of each cause among its top-scored false positives
    (``counts[cause]`` = one count per label); Hoiem et al.'s pie charts as stacked bars."""
    total = np.sum([np.asarray(v, dtype=np.float64) for v in counts.values()], axis=0)
    shares = {c: np.asarray(v, dtype=np.float64) / np.maximum(total, 1) for c, v in counts.items()}
    fig, ax = _pyplot().subplots(figsize=(8, 1.3 + 0.32 * len(labels)))
    _stacked_barh(ax, [f"{name} ({int(n)})" for name, n in zip(labels, total)], shares, FP_CAUSE_COLORS)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the class's top-scored false positives (count in brackets)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.6 / (1.3 + 0.32 * len(labels))), ncol=4,
              fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path, dpi=100)
