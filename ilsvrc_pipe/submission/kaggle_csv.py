"""Kaggle LOC CSV: ``ImageId,PredictionString`` with groups ``label x1 y1 x2 y2`` (best first).

Labels are WNIDs by default (what Kaggle's solution files use); ``label_format`` also allows the
sorted index (0-based line of ``LOC_synset_mapping.txt``) or the devkit id.  Rows may come in any
order, so reading returns the image ids with the guesses and :func:`align_to_images` puts them in
the ground truth's order.  Inside, labels are devkit ids (0 = no guess), as in
:class:`LocSubmission`.
"""
from __future__ import annotations

import csv
import os
from typing import Sequence

import numpy as np

from ..data.synsets import SynsetTable
from ..utils.errors import DataFormatError, open_text
from ..utils.io_utils import atomic_path
from .loc_file import MAX_GUESSES, LocSubmission, format_guesses, parse_guess_fields, stack_guesses

HEADER = ("ImageId", "PredictionString")
LABEL_FORMATS = ("wnid", "sorted_index", "devkit_id")


def is_kaggle_csv(path: str | os.PathLike) -> bool:
    """True when the file starts with the Kaggle header ``ImageId,PredictionString``."""
    with open_text(path) as fh:
        return fh.readline().strip().replace(" ", "") == ",".join(HEADER)


def looks_like_csv(path: str | os.PathLike) -> bool:
    """A ``.csv`` name, or a comma in the first line (devkit flat files have none): such a file is
    read as a Kaggle CSV, so a wrong header is reported as one instead of as a broken flat file."""
    with open_text(path) as fh:
        first = fh.readline()
    return str(path).lower().endswith(".csv") or "," in first


def _label_writer(synsets: SynsetTable, label_format: str):
    if label_format == "wnid":
        return synsets.wnid_of_id
    if label_format == "sorted_index":
        return lambda cid: str(synsets.index_of(synsets.wnid_of_id(cid)))
    if label_format == "devkit_id":
        return str
    raise ValueError(f"label_format must be one of {LABEL_FORMATS}, got {label_format!r}")


def _label_reader(synsets: SynsetTable, label_format: str):
    """Text label -> devkit id, raising KeyError/ValueError for labels that name no class."""
    if label_format == "wnid":
        return synsets.id_of
    if label_format == "sorted_index":
        def from_index(text):
            index = int(text)
            if not 0 <= index < len(synsets):
                raise KeyError(text)
            return synsets.id_of(synsets.wnid_of_index(index))
        return from_index
    if label_format == "devkit_id":
        def from_id(text):
            synsets.wnid_of_id(int(text))
            return int(text)
        return from_id
    raise ValueError(f"label_format must be one of {LABEL_FORMATS}, got {label_format!r}")


def write_kaggle_loc_csv(path: str | os.PathLike, image_ids: Sequence[str], labels, boxes, synsets: SynsetTable,
                         label_format: str = "wnid") -> None:
    """One row per image (labels (N, K<=5) devkit ids, boxes (N, K, 4), rows in ``image_ids`` order);
    an image without guesses gets an empty PredictionString."""
    submission = LocSubmission(labels, boxes)
    if len(image_ids) != len(submission):
        raise ValueError(f"{len(image_ids)} image ids for {len(submission)} prediction rows")
    if submission.labels.shape[1] > MAX_GUESSES:
        raise ValueError(f"at most {MAX_GUESSES} guesses per image, got {submission.labels.shape[1]}")
    label_text = _label_writer(synsets, label_format)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        for image_id, row_labels, row_boxes in zip(image_ids, submission.labels, submission.boxes):
            writer.writerow((image_id, " ".join(format_guesses(row_labels, row_boxes, label_text))))


def read_kaggle_loc_csv(path: str | os.PathLike, synsets: SynsetTable,
                        label_format: str = "wnid") -> tuple[list[str], LocSubmission]:
    """Image ids (file order) and their guesses; malformed rows raise with file and line."""
    to_devkit_id = _label_reader(synsets, label_format)
    image_ids, rows, seen = [], [], {}
    with open_text(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != HEADER:
            found = "an empty file" if header is None else repr(",".join(header))
            raise DataFormatError(f"{path}:1: expected the header 'ImageId,PredictionString' of a Kaggle CSV, found {found}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if len(row) != 2:
                raise DataFormatError(f"{where}: expected 2 fields 'ImageId,PredictionString', got {len(row)}")
            image_id, fields = row[0].strip(), row[1].split()
            if not image_id:
                raise DataFormatError(f"{where}: empty ImageId")
            if image_id in seen:
                raise DataFormatError(f"{where}: ImageId {image_id} already given on line {seen[image_id]}")
            seen[image_id] = reader.line_num
            numeric = list(fields)
            for g in range(0, len(fields) - len(fields) % 5, 5):
                try:
                    numeric[g] = str(to_devkit_id(fields[g]))
                except (KeyError, ValueError):
                    raise DataFormatError(f"{where}: group {g // 5 + 1}: {fields[g]!r} is not a class label "
                                          f"({label_format} of {synsets.source or 'the synsets'})") from None
            image_ids.append(image_id)
            rows.append(parse_guess_fields(numeric, where, len(synsets)) if fields else ([], []))
    return image_ids, stack_guesses(rows)


def align_to_images(image_ids: Sequence[str], submission: LocSubmission, stems: Sequence[str],
                    source: str = "predictions") -> LocSubmission:
    """Reorder rows keyed by ``image_ids`` into the order of ``stems``; every stem needs one row."""
    position = {image_id: i for i, image_id in enumerate(image_ids)}
    missing = [s for s in stems if s not in position]
    if missing:
        raise DataFormatError(f"{source}: no row for {len(missing)} image(s), e.g. {missing[:3]}")
    extra = len(position) - len(stems)
    if extra:
        known = set(stems)
        unknown = [i for i in image_ids if i not in known]
        raise DataFormatError(f"{source}: {len(unknown)} row(s) for images not in the ground truth, e.g. {unknown[:3]}")
    order = np.asarray([position[s] for s in stems], dtype=np.int64)
    return LocSubmission(submission.labels[order], submission.boxes[order])
