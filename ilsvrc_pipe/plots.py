"""Figures of the reports: LOC error bars and IoU histogram, Table 9, precision-recall curves per
class, contact sheets of detections.

matplotlib (Agg) for charts, Pillow for drawing boxes on images; files are written atomically.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np

from .io_utils import atomic_path


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

    from .data.images import load_rgb

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
            draw.text((box[0] * scale + 2, box[1] * scale + 1), str(text), fill=(230, 20, 20))
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
