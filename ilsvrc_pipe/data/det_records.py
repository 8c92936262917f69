"""ILSVRC DET records: image lists, per-class train lists, val1/val2, blacklists, boxes.

Everything is returned as pandas tables keyed by the image's stem (its path relative to
``Data/DET/<split dir>`` without extension; ``image_id`` in the record tables, as in
``loc_records``), so later stages join images and boxes without caring which list an image came from.  Images without an XML (verified negatives) and XMLs without
objects are ordinary images with zero boxes.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..utils.errors import DataFormatError, ImageDecodeError
from .det_val_halves import HALVES, find_det_blacklist, read_det_val_half
from .det_val_halves import map_split_to_val  # noqa: F401  (importable from here, as before it moved)
from .fast_paths import join_path, path_is_file
from .image_headers import READ, read_image_sizes
from .image_sets import int_field, list_lines, read_image_list
from .listed_xmls import parse_listed_xmls
from .synsets import SynsetTable, find_det_synsets, ilsvrc_dir

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "val1", "val2", "test")
TRAIN_LABELS = {1: "positive", 0: "partially boxed", -1: "negative"}
_TRAIN_LIST = re.compile(r"^train_(\d+)\.txt$")


# -- list files ----------------------------------------------------------------------------------
read_det_image_list = read_image_list  # DET val.txt, test.txt and the val1/val2 lists (det_val_halves.py)


def read_det_train_list(path: str | os.PathLike) -> pd.DataFrame:
    """``ImageSets/DET/train_<k>.txt``: columns stem, label (1 positive, 0 partially boxed, -1 negative)."""
    path = Path(path)
    stems, labels = [], []
    for lineno, fields in list_lines(path):
        if len(fields) != 2:
            raise DataFormatError(f"{path}:{lineno}: expected '<image stem> <label>', got {len(fields)} fields")
        label = int_field(fields[1], path, lineno, "label")
        if label not in TRAIN_LABELS:
            raise DataFormatError(f"{path}:{lineno}: expected label 1, 0 or -1, got {label}")
        stems.append(fields[0])
        labels.append(label)
    return pd.DataFrame({"stem": pd.Series(stems, dtype=object), "label": np.asarray(labels, dtype=np.int64)})


def read_det_blacklist(path: str | os.PathLike, synsets: SynsetTable) -> pd.DataFrame:
    """``<val index> <wnid>`` pairs whose detections and ground truth the scorer ignores.

    Columns index, wnid; duplicate lines are kept (they have no extra effect when scoring).
    """
    path = Path(path)
    indices, wnids = [], []
    for lineno, fields in list_lines(path):
        if len(fields) != 2:
            raise DataFormatError(f"{path}:{lineno}: expected '<image index> <wnid>', got {len(fields)} fields")
        index = int_field(fields[0], path, lineno, "image index")
        if fields[1] not in synsets:
            raise DataFormatError(f"{path}:{lineno}: {fields[1]!r} is not a DET class of {synsets.source or 'the synsets'}")
        indices.append(index)
        wnids.append(fields[1])
    return pd.DataFrame({"index": np.asarray(indices, dtype=np.int64), "wnid": pd.Series(wnids, dtype=object)})


# -- locations inside a data root ----------------------------------------------------------------
def check_det_blacklist(root: str | os.PathLike) -> None:
    """Every blacklist entry of a data root must name an image of ``val.txt``.

    The scorer ignores pairs of unlisted images (the devkit rule, which lets val1/val2 share the val
    blacklist), so an entry outside val would silently blacklist nothing."""
    path, val_path = find_det_blacklist(root), det_split_list_path(root, "val")
    if path is None or not val_path.is_file():
        return
    val = set(read_det_image_list(val_path)["index"].tolist())
    for lineno, fields in list_lines(path):
        index = int_field(fields[0], path, lineno, "image index")
        if index not in val:
            raise DataFormatError(f"{path}:{lineno}: image index {index} is not an image of {val_path} "
                                  f"(expected an index of its {len(val)} images)")


def det_image_sets_dir(root: str | os.PathLike) -> Path:
    return ilsvrc_dir(root) / "ImageSets" / "DET"


def det_split_list_path(root: str | os.PathLike, split: str) -> Path:
    """Where the image list of val or test lives (val1/val2: ``det_val_halves.resolve_det_val_halves``,
    as one of several layouts, or none for a derived val1)."""
    if split in ("val", "test"):
        return det_image_sets_dir(root) / f"{split}.txt"
    raise ValueError(f"no single image list for DET split {split!r} (expected val or test; val1/val2 lists are "
                     f"resolved by det_val_halves.resolve_det_val_halves)")


def read_det_split(root: str | os.PathLike, split: str) -> pd.DataFrame:
    """Images of val/val1/val2/test: columns stem, index (official val/test index).

    val1/val2 are in their list's order (a derived val1: val order); see :mod:`.det_val_halves`."""
    if split in HALVES:
        return read_det_val_half(root, split)[["stem", "index"]]
    path = det_split_list_path(root, split)
    if not path.is_file():
        raise FileNotFoundError(f"DET {split} list not found: {path}")
    return read_det_image_list(path)


def read_det_train_lists(root: str | os.PathLike, synsets: SynsetTable) -> pd.DataFrame:
    """All ``train_<k>.txt`` in k order: columns stem, wnid (class k), label."""
    folder = det_image_sets_dir(root)
    lists = sorted(((int(m.group(1)), p) for p in folder.glob("train_*.txt") if (m := _TRAIN_LIST.match(p.name))))
    if not lists:
        raise FileNotFoundError(f"no DET train lists ({folder}/train_<k>.txt)")
    tables = []
    for k, path in lists:
        if not 1 <= k <= len(synsets):
            raise DataFormatError(f"{path}: class id {k} is outside 1..{len(synsets)} of {synsets.source}")
        table = read_det_train_list(path)
        table.insert(1, "wnid", synsets.wnid_of_id(k))
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


# -- records -------------------------------------------------------------------------------------
IMAGE_COLUMNS = ["image_id", "index", "split", "path", "xml_path", "width", "height", "n_boxes"]
BOX_COLUMNS = ["image_id", "wnid", "x1", "y1", "x2", "y2"]


class DetRecords(NamedTuple):
    """Images of one split (one row each) and their boxes; unpacks as ``images, boxes``.

    images: image_id (stem), index (val/test list index; running 1-based number for train), split,
    path (``.JPEG``), xml_path (None without XML), width, height (-1 where unknown), n_boxes.
    boxes: image_id, wnid, x1, y1, x2, y2 (inclusive, XML frame). The per-class train list labels
    (positive / partial / negative) are :func:`read_det_train_lists`.
    """

    images: pd.DataFrame
    boxes: pd.DataFrame


def _image_size_from_file(path: Path) -> tuple[int, int]:
    """Width and height from the image header (only the header is read); (-1, -1) if unreadable."""
    from .images import image_size

    try:
        return image_size(path)
    except ImageDecodeError as exc:
        logger.warning("cannot read the image size: %s", exc)
        return -1, -1


def _split_stems(root, split: str, synsets: SynsetTable) -> pd.DataFrame:
    """stem and index of every image of a split (train: union of the per-class lists, first seen first)."""
    if split != "train":
        return read_det_split(root, split)
    stems = pd.unique(read_det_train_lists(root, synsets)["stem"].to_numpy(dtype=object))
    return pd.DataFrame({"stem": stems, "index": np.arange(1, len(stems) + 1, dtype=np.int64)})


def load_det_records(root: str | os.PathLike, split: str, synsets: SynsetTable | None = None,
                     read_boxes: bool = True, sizes_from_images: bool = True) -> DetRecords:
    """DET images and boxes of ``split`` (train, val, val1, val2, test) under a data root.

    Sizes come from the XML; images without an XML (verified negatives, test) get theirs from the
    image header when ``sizes_from_images``. Broken boxes are dropped with a warning (see
    :func:`parse_annotation`); objects of classes outside ``synsets`` are an error.
    ``read_boxes=False`` skips the XMLs (a fast listing).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown DET split {split!r}; expected one of {SPLITS}")
    synsets = synsets or find_det_synsets(root)
    base = ilsvrc_dir(root)
    folder = "val" if split in ("val1", "val2") else split
    listed = _split_stems(root, split, synsets)
    stems = listed["stem"].to_numpy(dtype=object)
    data_dir, xml_dir = str(base / "Data" / "DET" / folder), str(base / "Annotations" / "DET" / folder)
    paths = [join_path(data_dir, f"{stem}.JPEG") for stem in stems]
    xml_paths = [join_path(xml_dir, f"{stem}.xml") for stem in stems]

    n = len(stems)
    has_xml, width, height = np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    counts, box_ids, names, boxes = np.zeros(n, dtype=np.int64), [], [], np.zeros((0, 4))
    if split != "test" and read_boxes:
        parsed = parse_listed_xmls(xml_paths, synsets, lambda ann: _check_det_classes(ann, synsets), f"DET {split} XML")
        has_xml, width, height, counts = parsed.present, parsed.width, parsed.height, parsed.counts
        box_ids, names, boxes = stems[parsed.object_files()], parsed.names, parsed.boxes
    elif split != "test":
        has_xml = np.asarray([path_is_file(p) for p in xml_paths], dtype=bool)
    if sizes_from_images:
        _sizes_from_headers(paths, width, height, f"DET {split} image sizes")
    images = pd.DataFrame({
        "image_id": stems,
        "index": listed["index"].to_numpy(dtype=np.int64),
        "split": split,
        "path": pd.Series(paths, dtype=object),
        "xml_path": pd.Series([p if x else None for p, x in zip(xml_paths, has_xml)], dtype=object),
        "width": width,
        "height": height,
        "n_boxes": counts,
    })
    boxes = pd.DataFrame({"image_id": pd.Series(box_ids, dtype=object), "wnid": pd.Series(names, dtype=object),
                          **{c: np.asarray(boxes[:, k], dtype=np.float64) for k, c in enumerate(BOX_COLUMNS[2:])}},
                         columns=BOX_COLUMNS)
    return DetRecords(images[IMAGE_COLUMNS], boxes)


def _check_det_classes(ann, synsets: SynsetTable) -> None:
    """An object of no DET class is an error naming its line."""
    unknown = [(n, line) for n, line in zip(ann.names, ann.lines) if n not in synsets]
    if unknown:
        raise DataFormatError(f"{ann.path}:{unknown[0][1]}: object class {unknown[0][0]!r} is not a DET class "
                              f"of {synsets.source}")


def _sizes_from_headers(paths: list[str], width: np.ndarray, height: np.ndarray, desc: str) -> None:
    """Fill the unknown sizes (width < 0) of images that exist from their headers, in place (on all
    CPUs, ``image_headers.py``); an unreadable header keeps -1, with a warning."""
    todo = np.flatnonzero(width < 0)
    read = read_image_sizes([paths[i] for i in todo], require_file=True, desc=desc)
    done = read.status == READ
    width[todo[done]], height[todo[done]] = read.sizes[done, 0], read.sizes[done, 1]
    for k in read.again:
        path = Path(paths[todo[k]])
        if path.is_file():
            width[todo[k]], height[todo[k]] = _image_size_from_file(path)
