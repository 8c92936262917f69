"""Devkit CLS-LOC submission: one line per image, ``<devkit id> <x1> <y1> <x2> <y2>`` x up to 5.

The devkit reads the file with ``dlmread``, which silently drops blank lines and so shifts every
later image; the writer therefore writes ``0 0 0 0 0`` for an image without guesses and the
reader rejects blank lines (and every other malformed line) naming the file and line.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..utils.errors import DataFormatError, open_text
from ..utils.io_utils import atomic_path

MAX_GUESSES = 5
NO_GUESS = 0


@dataclass
class LocSubmission:
    """Guesses per image, best first: devkit class ids (0 = no guess) and inclusive boxes."""

    labels: np.ndarray  # (N, K) int64
    boxes: np.ndarray   # (N, K, 4) float64, XML frame

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.boxes = np.asarray(self.boxes, dtype=np.float64)
        if self.labels.ndim != 2 or self.boxes.shape != self.labels.shape + (4,):
            raise ValueError(f"labels (N, K) and boxes (N, K, 4) expected, got {self.labels.shape} and {self.boxes.shape}")

    def __len__(self) -> int:
        return len(self.labels)


def format_number(value: float) -> str:
    """Shortest text that reads back to the same double; integers without a decimal point."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def format_guesses(labels: np.ndarray, boxes: np.ndarray, label_text=str) -> list[str]:
    """``label x1 y1 x2 y2`` groups of one image, trailing no-guess groups left out."""
    labels = np.asarray(labels)
    used = len(labels)
    while used and labels[used - 1] == NO_GUESS:
        used -= 1
    return [" ".join([label_text(int(labels[j]))] + [format_number(v) for v in boxes[j]]) for j in range(used)]


def write_loc_file(path: str | os.PathLike, labels, boxes) -> None:
    """Write one line per image: its guesses (labels (N, K<=5) devkit ids, boxes (N, K, 4)), best
    first, single spaces; ``0 0 0 0 0`` for an image without guesses."""
    submission = LocSubmission(labels, boxes)
    if submission.labels.shape[1] > MAX_GUESSES:
        raise ValueError(f"at most {MAX_GUESSES} guesses per image, got {submission.labels.shape[1]}")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row_labels, row_boxes in zip(submission.labels, submission.boxes):
            groups = format_guesses(row_labels, row_boxes)
            fh.write((" ".join(groups) if groups else "0 0 0 0 0") + "\n")


def parse_guess_fields(fields: list[str], where: str, num_classes: int | None):
    """Labels and boxes of one line's fields, checked one by one; errors start with ``where``."""
    if not fields:
        raise DataFormatError(f"{where}: empty line; an image without guesses must be written '0 0 0 0 0'")
    if len(fields) % 5:
        raise DataFormatError(f"{where}: expected groups of 5 fields '<class id> <xmin> <ymin> <xmax> <ymax>', "
                              f"got {len(fields)} fields")
    labels, boxes = [], []
    for g in range(0, len(fields), 5):
        try:
            label = int(fields[g])
        except ValueError:
            raise DataFormatError(f"{where}: field {g + 1}: expected an integer class id, got {fields[g]!r}") from None
        if label < 0 or (num_classes is not None and label > num_classes):
            raise DataFormatError(f"{where}: field {g + 1}: unknown class id {label} "
                                  f"(expected 1..{num_classes or 'N'}, or 0 for no guess)")
        box = []
        for f in range(g + 1, g + 5):
            try:
                value = float(fields[f])
            except ValueError:
                raise DataFormatError(f"{where}: field {f + 1}: expected a number, got {fields[f]!r}") from None
            if not math.isfinite(value):
                raise DataFormatError(f"{where}: field {f + 1}: expected a finite coordinate, got {fields[f]!r}")
            box.append(value)
        labels.append(label)
        boxes.append(box)
    return labels, boxes


def stack_guesses(rows: Sequence[tuple[list[int], list[list[float]]]]) -> LocSubmission:
    """Pad ragged per-image guesses with no-guess groups (label 0, box 0), as ``dlmread`` does."""
    width = max((len(labels) for labels, _ in rows), default=0)
    labels = np.zeros((len(rows), width), dtype=np.int64)
    boxes = np.zeros((len(rows), width, 4), dtype=np.float64)
    for i, (row_labels, row_boxes) in enumerate(rows):
        labels[i, :len(row_labels)] = row_labels
        if row_boxes:
            boxes[i, :len(row_boxes)] = row_boxes
    return LocSubmission(labels, boxes)


def read_loc_file(path: str | os.PathLike, num_images: int | None = None,
                  num_classes: int | None = None) -> LocSubmission:
    """Read a devkit LOC file strictly; ``num_images`` and ``num_classes`` enable those checks."""
    from .loc_file_fast import read_plain_loc_file  # the common case, ~20x faster; else the line reader

    plain = read_plain_loc_file(path, num_classes)
    if plain is not None and (num_images is None or len(plain[0]) == num_images):
        return LocSubmission(*plain)
    rows = []
    with open_text(path) as fh:
        for lineno, raw in enumerate(fh, 1):
            rows.append(parse_guess_fields(raw.split(), f"{path}:{lineno}", num_classes))
    if num_images is not None and len(rows) != num_images:
        raise DataFormatError(f"{path}: {len(rows)} lines, expected {num_images} (one line per image, in the "
                              "sorted order of the ground-truth file names)")
    return stack_guesses(rows)


def gt_class_submission(class_ids: Sequence[int] | np.ndarray,
                        boxes_by_image_class: Mapping[tuple[int, int], Sequence[float]]) -> LocSubmission:
    """One guess per image: its ground-truth class with that class's predicted box.

    ``boxes_by_image_class[(i, devkit_id)]`` is the box predicted for class ``devkit_id`` on image
    ``i`` (0-based position). Its top-1 LOC error is the paper's LOC error on the ground-truth class
    (Table 13).
    """
    class_ids = np.asarray(class_ids, dtype=np.int64)
    boxes = np.zeros((len(class_ids), 1, 4), dtype=np.float64)
    for i, cid in enumerate(class_ids.tolist()):
        try:
            boxes[i, 0] = boxes_by_image_class[(i, cid)]
        except KeyError:
            raise KeyError(f"no box predicted for image {i} and its ground-truth class {cid}") from None
    return LocSubmission(class_ids[:, None], boxes)


def write_gt_class_loc_file(path: str | os.PathLike, class_ids: Sequence[int] | np.ndarray,
                            boxes_by_image_class: Mapping[tuple[int, int], Sequence[float]]) -> None:
    """Write the ground-truth-class oracle file (see :func:`gt_class_submission`)."""
    submission = gt_class_submission(class_ids, boxes_by_image_class)
    write_loc_file(path, submission.labels, submission.boxes)
