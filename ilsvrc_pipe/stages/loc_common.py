"""What the localization stages (``rpn``, ``rcnn``, ``loc``) share: which classes to localize per image
and the per-(image, class) box tables.

A box table has columns ``image_id, wnid, rank, score, x1, y1, x2, y2`` (inclusive boxes in the
image's frame; rank 1 = best of that image and class).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io_utils import read_table
from .classify import top5_table
from .data import read_loc_records

BOX_TABLE_COLUMNS = ["image_id", "wnid", "rank", "score", "x1", "y1", "x2", "y2"]


def member_top5(cls_dir: Path, member: str, split: str) -> pd.DataFrame:
    """Top-5 table of one classifier (dense mode) or of the ensemble (``member='ensemble'``)."""
    if member == "ensemble":
        return read_table(cls_dir / f"top5_{split}.parquet")
    scores = read_table(cls_dir / "scores" / f"{member}_dense_{split}.parquet").set_index("image_id")
    return top5_table(scores)


def classifier_names(cls_dir: Path) -> list[str]:
    import json

    return json.loads((cls_dir / "metrics.json").read_text())["members"]


def requested_classes(work_dir: Path, split: str) -> dict[str, list[str]]:
    """Classes to localize per image, in a fixed order: the ensemble's top-5, the first classifier's
    top-5 (the single-model rows of Table 13) and, where known, the ground-truth class; on train,
    the ground-truth class of the boxed images."""
    data_dir, cls_dir = work_dir / "data", work_dir / "cls"
    images = read_loc_records(data_dir, split).images
    if split == "train":  # only boxed training images can label the R-CNN's regions
        images = images[images.n_boxes > 0]
    wanted: dict[str, list[str]] = {i: [] for i in images.image_id}
    if split != "train":
        for who in ("ensemble", classifier_names(cls_dir)[0]):
            for row in member_top5(cls_dir, who, split).itertuples(index=False):
                wanted[row.image_id].append(row.wnid)
    for image_id, wnid in zip(images.image_id, images.wnid):
        if wnid:
            wanted[image_id].append(wnid)
    return {k: list(dict.fromkeys(v)) for k, v in wanted.items() if v}


def box_table(rows: list[tuple]) -> pd.DataFrame:
    """Rows ``(image_id, wnid, rank, score, x1, y1, x2, y2)`` -> a box table."""
    table = pd.DataFrame(rows, columns=BOX_TABLE_COLUMNS)
    return table.astype({"rank": np.int64, "score": np.float64, "x1": np.float64, "y1": np.float64,
                         "x2": np.float64, "y2": np.float64})


def best_box_lookup(table: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """``(image_id, wnid) -> [x1, y1, x2, y2]`` of each group's rank-1 box."""
    best = table[table["rank"] == 1]
    boxes = best[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
    return {(i, w): b for i, w, b in zip(best.image_id, best.wnid, boxes)}
