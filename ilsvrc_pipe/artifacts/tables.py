"""Tables the stages hand each other: top-5 classes per image and boxes per (image, class).

* a top-5 table: ``image_id, rank (1..k), wnid, score``, best first;
* a box table: ``image_id, wnid, rank, score, x1, y1, x2, y2`` (inclusive boxes in the image's
  frame; rank 1 = best of that image and class);
* a detections table: ``image_id, image_index, class_id, score, x1, y1, x2, y2`` (a DET row's
  detections: official list index, devkit class id, inclusive boxes in the image's frame), which
  :func:`write_det_table` writes as a devkit DET file.

Also which classes the localization stages localize on each image (:func:`requested_classes`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..submission.det_file import write_det_file
from .parts import read_result_table
from .paths import Artifacts

BOX_TABLE_COLUMNS = ["image_id", "wnid", "rank", "score", "x1", "y1", "x2", "y2"]


def top5_table(probs: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """Class probabilities (rows: images, columns: WNIDs) -> ``image_id, rank, wnid, score``."""
    values = probs.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    cols = np.asarray(probs.columns)
    return pd.DataFrame({
        "image_id": np.repeat(probs.index.to_numpy(), order.shape[1]),
        "rank": np.tile(np.arange(1, order.shape[1] + 1), len(probs)),
        "wnid": cols[order].ravel(),
        "score": np.take_along_axis(values, order, axis=1).ravel(),
    })


BOX_TABLE_DTYPES = {"rank": np.int64, "score": np.float64, "x1": np.float64, "y1": np.float64,
                    "x2": np.float64, "y2": np.float64}


def box_table(rows: list[tuple]) -> pd.DataFrame:
    """Rows ``(image_id, wnid, rank, score, x1, y1, x2, y2)`` -> a box table."""
    return pd.DataFrame(rows, columns=BOX_TABLE_COLUMNS).astype(BOX_TABLE_DTYPES)


def box_frame(image_id: str, wnid: str, boxes: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """The box-table rows of one (image, class), built from arrays: ``boxes`` (K, 4) best first."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    k = len(boxes)
    return pd.DataFrame({"image_id": np.full(k, image_id, dtype=object), "wnid": np.full(k, wnid, dtype=object),
                         "rank": np.arange(1, k + 1, dtype=np.int64), "score": np.asarray(scores, dtype=np.float64),
                         "x1": boxes[:, 0], "y1": boxes[:, 1], "x2": boxes[:, 2], "y2": boxes[:, 3]})


def best_box_lookup(table: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """``(image_id, wnid) -> [x1, y1, x2, y2]`` of each group's rank-1 box."""
    best = table[table["rank"] == 1]
    boxes = best[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
    return {(i, w): b for i, w, b in zip(best.image_id, best.wnid, boxes)}


def member_top5(artifacts: Artifacts, member: str, split: str) -> pd.DataFrame:
    """Top-5 table of one classifier (dense mode) or of the ensemble (``member='ensemble'``)."""
    if member == "ensemble":
        return read_result_table(artifacts.top5(split))
    return read_result_table(artifacts.member_top5(member, "dense", split))


def requested_classes(artifacts: Artifacts, split: str, classifiers: Sequence[str]) -> dict[str, list[str]]:
    """Classes to localize per image, in a fixed order: the top-5 of each of ``classifiers`` (names
    or ``"ensemble"``: those of the Table 13 rows, ``engine.rows.loc_classifiers``) and, where known,
    the ground-truth class; on train, the ground-truth class of the boxed images. Images flagged
    corrupt get none (their guesses are whole-image boxes)."""
    images = artifacts.read_images("loc", split)
    if split == "train":  # only boxed training images can label the R-CNN's regions
        images = images[images.n_boxes > 0]
    if "corrupt" in images:
        images = images[~images.corrupt]
    wanted: dict[str, list[str]] = {i: [] for i in images.image_id}
    if split != "train":
        for who in classifiers:
            for row in member_top5(artifacts, who, split).itertuples(index=False):
                if row.image_id in wanted:
                    wanted[row.image_id].append(row.wnid)
    for image_id, wnid in zip(images.image_id, images.wnid):
        if wnid:
            wanted[image_id].append(wnid)
    return {k: list(dict.fromkeys(v)) for k, v in wanted.items() if v}


DETECTION_COLUMNS = ["image_id", "image_index", "class_id", "score", "x1", "y1", "x2", "y2"]
DETECTION_DTYPES = {"image_index": np.int64, "class_id": np.int64, "score": np.float64,
                    "x1": np.float64, "y1": np.float64, "x2": np.float64, "y2": np.float64}


def detection_frame(image_id: str, image_index: int, class_ids: np.ndarray, scores: np.ndarray,
                    boxes: np.ndarray) -> pd.DataFrame:
    """One image's detections as detections-table rows, from arrays."""
    n = len(class_ids)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return pd.DataFrame({"image_id": np.full(n, image_id, dtype=object),
                         "image_index": np.full(n, int(image_index), dtype=np.int64),
                         "class_id": np.asarray(class_ids, dtype=np.int64), "score": np.asarray(scores, dtype=np.float64),
                         "x1": boxes[:, 0], "y1": boxes[:, 1], "x2": boxes[:, 2], "y2": boxes[:, 3]})


def write_det_table(path, table: pd.DataFrame) -> None:
    """A detections table as a devkit DET file (``submission/det_file.py``)."""
    write_det_file(path, table["image_index"].to_numpy(), table.class_id.to_numpy(), table.score.to_numpy(),
                   table[["x1", "y1", "x2", "y2"]].to_numpy(np.float64))
