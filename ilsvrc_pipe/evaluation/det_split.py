"""A DET file scored on R-CNN's val1/val2 of a data root: which image each detection is of.

The devkit (and this scorer) names an image by its official ``val.txt`` index, but the val1/val2
lists (``det_lists/val2.txt``, R-CNN's ``ilsvrc13_val2.txt``; found as ``data/det_val_halves.py``
resolves them) number their images 1..n inside the file, so users write val2 files numbered 1..n. Those numbers are also official indices, of other
images: scored as they are, most of their detections fall outside val2 and would be dropped
without a word (a val2 file scoring 0.12 instead of 1.0). So a detection of an image outside the
split is an error naming its line, unless the user says what the file is:

* ``numbered_by_split``: the file is numbered by the split list's own 1..n; mapped to official indices
  (a derived val1 has no list of its own, so no such numbering);
* ``drop_outside``: the file holds detections of all val images; those outside the split are dropped
  (and counted, for the caller to report).
"""
from __future__ import annotations

import os

import numpy as np

from ..data.det_val_halves import DetValHalves, read_det_val_half, resolve_det_val_halves
from ..data.image_sets import read_image_list
from ..submission.det_file import DetSubmission, line_of_detection, read_det_file
from ..utils.errors import DataFormatError, UserInputError


def _subset(detections: DetSubmission, keep: np.ndarray) -> DetSubmission:
    return DetSubmission(detections.image_index[keep], detections.class_id[keep], detections.score[keep],
                         detections.boxes[keep])


def _outside_error(path, detections: DetSubmission, outside: np.ndarray, split: str, halves: DetValHalves,
                   n_split: int) -> DataFormatError:
    """Name the first detection outside the split, and say what the file probably is."""
    k = int(np.argmax(outside))
    index = int(detections.image_index[k])
    head = (f"{path}:{line_of_detection(path, k)}: image index {index} is not a {split} image "
            f"({int(outside.sum())} of {len(detections)} detections are of images outside {split}); ")
    drop = f"if it holds detections of all val images, --drop-outside-split scores those of {split} only"
    if halves.list_path(split) is None:
        return DataFormatError(head + f"{halves.label(split)} is numbered by the official val.txt indices; " + drop)
    seems = " seems to be" if detections.image_index.max() <= n_split else " may be"
    return DataFormatError(
        head + f"the file{seems} numbered by {halves.label(split)}'s own list 1..{n_split} instead of the official "
        f"val.txt indices: rerun with --numbered-by-split; " + drop)


def read_split_det_file(path: str | os.PathLike, data_root: str | os.PathLike, split: str,
                        num_classes: int | None = None, numbered_by_split: bool = False,
                        drop_outside: bool = False) -> tuple[DetSubmission, int]:
    """Detections of ``split`` (val1/val2) by official index, and how many were dropped."""
    if split not in ("val1", "val2"):
        raise UserInputError(f"split numbering applies to val1 and val2, not {split!r}")
    if numbered_by_split and drop_outside:
        raise UserInputError("--numbered-by-split and --drop-outside-split exclude each other")
    halves = resolve_det_val_halves(data_root)
    table = read_det_val_half(data_root, split, halves)
    if numbered_by_split and halves.list_path(split) is None:
        raise UserInputError(f"--numbered-by-split: {split} of {data_root} has no list of its own to number its "
                             f"images ({halves.label(split)}); number the detections by {halves.val.name}")
    if numbered_by_split:
        detections = read_det_file(path, num_classes, image_indices=table["split_index"].to_numpy())
        order = np.argsort(table["split_index"].to_numpy())
        at = np.searchsorted(table["split_index"].to_numpy()[order], detections.image_index)
        detections.image_index = table["index"].to_numpy()[order][at]
        return detections, 0
    detections = read_det_file(path, num_classes, image_indices=read_image_list(halves.val)["index"].to_numpy())
    outside = ~np.isin(detections.image_index, table["index"].to_numpy())
    if not outside.any():
        return detections, 0
    if drop_outside:
        return _subset(detections, ~outside), int(outside.sum())
    raise _outside_error(path, detections, outside, split, halves, len(table))


def unlisted_blacklist_note(blacklist: np.ndarray, image_index: np.ndarray, blacklist_path, list_path) -> str | None:
    """A warning when blacklist entries name images outside the scored list. The devkit ignores them
    (which lets val1/val2 share the val blacklist), but with a full list they are mistakes."""
    pairs = np.asarray(blacklist, dtype=np.int64).reshape(-1, 2)
    outside = ~np.isin(pairs[:, 0], np.asarray(image_index, dtype=np.int64))
    if not outside.any():
        return None
    return (f"warning: {blacklist_path}: {int(outside.sum())} of {len(pairs)} entries name images not in "
            f"{list_path} (e.g. index {int(pairs[outside][0, 0])}); they are ignored, as the devkit does")
