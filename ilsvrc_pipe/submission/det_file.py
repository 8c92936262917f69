"""Devkit DET submission: one detection per line, ``<image index> <class id> <score> <x1> <y1> <x2> <y2>``.

The image index is the second column of ``val.txt``/``test.txt``, the class id the 1-based
position in ``map_det.txt``/``meta_det.mat``.  Files hold up to millions of lines, so the reader
parses with pandas and, only when something is wrong, walks the lines once more to name the first
bad one (file, line number, what was expected).  Blank lines carry no detection and are skipped,
as the devkit's ``textread`` skips them.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..utils.errors import DataFormatError, open_text
from ..utils.io_utils import atomic_path
from .loc_file import format_number

FIELDS = ("image_index", "class_id", "score", "x1", "y1", "x2", "y2")


@dataclass
class DetSubmission:
    """Detections in file order."""

    image_index: np.ndarray  # (D,) int64
    class_id: np.ndarray     # (D,) int64 devkit DET id
    score: np.ndarray        # (D,) float64
    boxes: np.ndarray        # (D, 4) float64 inclusive, XML frame

    def __post_init__(self):
        self.image_index = np.asarray(self.image_index, dtype=np.int64).reshape(-1)
        self.class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        self.score = np.asarray(self.score, dtype=np.float64).reshape(-1)
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        n = len(self.image_index)
        if not (len(self.class_id) == len(self.score) == len(self.boxes) == n):
            raise ValueError("image_index, class_id, score and boxes must have the same length")

    def __len__(self) -> int:
        return len(self.image_index)


def write_det_file(path: str | os.PathLike, image_index, class_id, score, boxes) -> None:
    """One line per detection, in the given order, numbers that read back exactly."""
    detections = DetSubmission(image_index, class_id, score, boxes)
    fmt = format_number
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for index, cid, conf, box in zip(detections.image_index.tolist(), detections.class_id.tolist(),
                                         detections.score.tolist(), detections.boxes.tolist()):
            fh.write(f"{index} {cid} {fmt(conf)} {fmt(box[0])} {fmt(box[1])} {fmt(box[2])} {fmt(box[3])}\n")


def _check_line(fields: list[str], where: str, num_classes: int | None, image_indices) -> tuple:
    if len(fields) != 7:
        raise DataFormatError(f"{where}: expected 7 fields '<image index> <class id> <score> <xmin> <ymin> "
                              f"<xmax> <ymax>', got {len(fields)}")
    values = []
    for f, text in enumerate(fields):
        try:
            values.append(int(text) if f < 2 else float(text))
        except ValueError:
            kind = "an integer" if f < 2 else "a number"
            raise DataFormatError(f"{where}: field {f + 1} ({FIELDS[f]}): expected {kind}, got {text!r}") from None
        if f >= 2 and not math.isfinite(values[-1]):
            raise DataFormatError(f"{where}: field {f + 1} ({FIELDS[f]}): expected a finite number, got {text!r}")
    index, cid = values[0], values[1]
    if cid < 1 or (num_classes is not None and cid > num_classes):
        raise DataFormatError(f"{where}: unknown class id {cid} (expected 1..{num_classes or 'N'})")
    if image_indices is not None and index not in image_indices:
        raise DataFormatError(f"{where}: image index {index} is not in the image list")
    return tuple(values)


def _read_slowly(path, num_classes, image_indices) -> DetSubmission:
    """Line-by-line parse: names the first bad line (the fast path found something wrong)."""
    allowed = None if image_indices is None else set(np.asarray(image_indices).tolist())
    rows = []
    with open_text(path) as fh:
        for lineno, raw in enumerate(fh, 1):
            fields = raw.split()
            if fields:
                rows.append(_check_line(fields, f"{path}:{lineno}", num_classes, allowed))
    table = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    ints = np.asarray([r[:2] for r in rows], dtype=np.int64).reshape(-1, 2)
    return DetSubmission(ints[:, 0], ints[:, 1], table[:, 2], table[:, 3:])


def _read_fast(path) -> DetSubmission | None:
    """pandas parse; None when the file is not plainly well formed (then the slow path decides)."""
    try:
        frame = pd.read_csv(path, sep=r"\s+", header=None, engine="c")
    except pd.errors.EmptyDataError:
        return DetSubmission(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((0, 4)))
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError):
        return None
    if frame.shape[1] != 7 or not all(pd.api.types.is_integer_dtype(frame[c]) for c in (0, 1)):
        return None
    if not all(pd.api.types.is_float_dtype(frame[c]) or pd.api.types.is_integer_dtype(frame[c]) for c in range(2, 7)):
        return None
    values = frame.iloc[:, 2:].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        return None
    return DetSubmission(frame[0].to_numpy(np.int64), frame[1].to_numpy(np.int64), values[:, 0], values[:, 1:])


def line_of_detection(path: str | os.PathLike, k: int) -> int:
    """Line number of the ``k``-th (0-based) detection of a file: blank lines hold none, so errors
    found on the arrays can still name the line."""
    seen = -1
    with open_text(path) as fh:
        for lineno, raw in enumerate(fh, 1):
            seen += bool(raw.split())
            if seen == k:
                return lineno
    raise IndexError(f"{path} has no detection {k}")


def read_det_file(path: str | os.PathLike, num_classes: int | None = None, image_indices=None) -> DetSubmission:
    """Read a devkit DET file strictly.

    ``num_classes`` rejects class ids outside 1..num_classes; ``image_indices`` (the list's index
    column) rejects detections of unlisted images, which make the devkit fail.
    """
    if os.path.isdir(path):
        raise DataFormatError(f"{path}: is a directory; expected a DET file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"DET file not found: {path}")
    detections = _read_fast(path)
    if detections is not None:
        bad_class = (detections.class_id < 1) | (detections.class_id > (num_classes or np.iinfo(np.int64).max))
        bad_image = (np.zeros(len(detections), bool) if image_indices is None
                     else ~np.isin(detections.image_index, np.asarray(image_indices, dtype=np.int64)))
        if not (bad_class.any() or bad_image.any()):
            return detections
    return _read_slowly(path, num_classes, image_indices)
