"""Ground truth for the official scorers, read the way the devkit reads it, held as flat arrays.

Objects of all images are concatenated (``object_image`` says whose they are) so the scorers work
on whole arrays.  Class numbers here are devkit ids: the scorers reproduce devkit files, and the
ids are looked up through :class:`SynsetTable` only.  Every XML object is kept, broken boxes
included, as the devkit keeps them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data.devkit_lists import clsloc_val_blacklist_path, read_loc_blacklist
from ..data.synsets import SynsetTable, find_clsloc_synsets, find_det_synsets, ilsvrc_dir, read_synsets
from .gt_objects import det_objects, loc_objects, xml_names

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class LocGroundTruth:
    """CLS-LOC ground truth: images in sorted XML file-name order, one class each."""

    stems: list[str]             # XML file names without ``.xml``; line i of a submission is stems[i]
    class_ids: np.ndarray        # (N,) devkit id of each image's class
    object_image: np.ndarray     # (M,) 0-based image position of each object
    object_class: np.ndarray     # (M,) devkit id of each object
    object_boxes: np.ndarray     # (M, 4) inclusive boxes, XML frame
    blacklist: np.ndarray        # (B,) 1-based image numbers, as listed (duplicates kept)


@dataclass
class DetGroundTruth:
    """DET ground truth of the listed images (list order), with blacklisted (index, class) pairs."""

    stems: list[str]
    image_index: np.ndarray      # (n,) the image's index in the official list (val.txt column 2)
    object_image: np.ndarray     # (M,) 0-based position in ``stems``
    object_class: np.ndarray     # (M,) devkit id
    object_boxes: np.ndarray     # (M, 4)
    blacklist: np.ndarray        # (P, 2) int64 rows (image index, devkit id)


# -- CLS-LOC -------------------------------------------------------------------------------------
def load_loc_ground_truth(xml_dir: str | os.PathLike | None = None, synsets: SynsetTable | str | os.PathLike | None = None,
                          blacklist: str | os.PathLike | None = None, *, data_root: str | os.PathLike | None = None,
                          split: str = "val", cache_dir: str | os.PathLike | None = None) -> LocGroundTruth:
    """All ``*.xml`` of ``xml_dir`` in sorted file-name order; each image's class from its objects.

    Give ``xml_dir`` and ``synsets`` (``blacklist=None``: no blacklist; a given path must exist), or
    ``data_root`` alone: ``Annotations/CLS-LOC/<split>``, the devkit class list and the
    ``*clsloc_validation_blacklist.txt`` (absent: no blacklist) are found there.
    An image must have at least one object and all of one class (the devkit's precondition).
    ``cache_dir``: keep the parsed XMLs there (see :mod:`.gt_cache`); ``None`` parses every call.
    """
    if data_root is not None:
        if xml_dir is not None or synsets is not None or blacklist is not None:
            raise ValueError("give either data_root or xml_dir/synsets/blacklist, not both")
        xml_dir = ilsvrc_dir(data_root) / "Annotations" / "CLS-LOC" / split
        synsets, blacklist = find_clsloc_synsets(data_root), clsloc_val_blacklist_path(data_root)
    if xml_dir is None or synsets is None:
        raise ValueError("load_loc_ground_truth needs xml_dir and synsets, or data_root")
    xml_dir = Path(xml_dir)
    if not isinstance(synsets, SynsetTable):
        synsets = read_synsets(synsets)
    names = xml_names(xml_dir)
    if not names:
        raise FileNotFoundError(f"no ground-truth XML files in {xml_dir}")
    class_ids, object_image, object_class, object_boxes = loc_objects(xml_dir, names, synsets, cache_dir)
    black = np.asarray(read_loc_blacklist(blacklist, len(names)) if blacklist is not None else [], dtype=np.int64)
    return LocGroundTruth([n[:-4] for n in names], class_ids,
                          object_image, object_class, object_boxes, black)


# -- DET -----------------------------------------------------------------------------------------
def load_det_ground_truth(xml_dir: str | os.PathLike | None = None, synsets: SynsetTable | str | os.PathLike | None = None,
                          image_list: str | os.PathLike | pd.DataFrame | None = None,
                          blacklist: str | os.PathLike | None = None, *, data_root: str | os.PathLike | None = None,
                          split: str = "val", cache_dir: str | os.PathLike | None = None) -> DetGroundTruth:
    """``<xml_dir>/<stem>.xml`` for each ``<stem> <index>`` of the image list (a file or a table).

    Give ``xml_dir``, ``synsets`` and ``image_list`` (``blacklist=None``: no blacklist), or
    ``data_root`` alone with ``split`` val, val1 or val2 (the halves keep their official val
    indices; their lists, or a derived val1, as ``data.det_val_halves`` resolves them). A listed
    image without its XML is an error (the devkit cannot read it); XMLs without
    objects are images with no positives. ``cache_dir`` as for :func:`load_loc_ground_truth`.
    """
    import pandas as pd  # here, not at the top: a LOC score needs no pandas

    from ..data.det_records import find_det_blacklist, read_det_blacklist, read_det_image_list, read_det_split

    if data_root is not None:
        if xml_dir is not None or synsets is not None or image_list is not None or blacklist is not None:
            raise ValueError("give either data_root or xml_dir/synsets/image_list/blacklist, not both")
        if split not in ("val", "val1", "val2"):
            raise ValueError(f"DET ground truth exists for val, val1 and val2, not {split!r}")
        xml_dir = ilsvrc_dir(data_root) / "Annotations" / "DET" / "val"
        synsets, image_list = find_det_synsets(data_root), read_det_split(data_root, split)
        blacklist = find_det_blacklist(data_root)
    if xml_dir is None or synsets is None or image_list is None:
        raise ValueError("load_det_ground_truth needs xml_dir, synsets and image_list, or data_root")
    xml_dir = Path(xml_dir)
    if not isinstance(synsets, SynsetTable):
        synsets = read_synsets(synsets)
    images = image_list if isinstance(image_list, pd.DataFrame) else read_det_image_list(image_list)
    object_image, object_class, object_boxes = det_objects(xml_dir, list(images["stem"]), synsets, cache_dir)
    pairs = np.zeros((0, 2), np.int64)
    if blacklist is not None:
        table = read_det_blacklist(blacklist, synsets)
        pairs = np.stack([table["index"].to_numpy(np.int64),
                          np.asarray([synsets.id_of(w) for w in table["wnid"]], dtype=np.int64)], axis=1).reshape(-1, 2)
    return DetGroundTruth(list(images["stem"]), images["index"].to_numpy(np.int64),
                          object_image, object_class, object_boxes, pairs)


# -- subsets (the data stage's per-split caps, ``data/subset.py``) --------------------------------
def _kept_objects(object_image: np.ndarray, kept_positions: np.ndarray, n_images: int):
    """Which objects belong to kept images, and their images' new 0-based positions."""
    new_position = np.full(n_images, -1, dtype=np.int64)
    new_position[kept_positions] = np.arange(len(kept_positions))
    moved = new_position[np.asarray(object_image, dtype=np.int64)]
    return moved >= 0, moved


def subset_loc_ground_truth(gt: LocGroundTruth, stems) -> LocGroundTruth:
    """The ground truth of the images named by ``stems``, kept in ``gt``'s (sorted) order.

    The blacklist holds 1-based numbers of the image list, which a scorer reads as positions: each
    entry of a kept image is renumbered to that image's position in the kept list (duplicates stay,
    as the devkit counts them), entries of dropped images go. A stem ``gt`` lacks is a ValueError."""
    position = {s: i for i, s in enumerate(gt.stems)}
    missing = [s for s in stems if s not in position]
    if missing:
        raise ValueError(f"{len(missing)} image(s) to keep are not in the ground truth, e.g. {missing[0]!r}")
    kept = np.asarray(sorted({position[s] for s in stems}), dtype=np.int64)
    on_kept, moved = _kept_objects(gt.object_image, kept, len(gt.stems))
    black_kept, black_moved = _kept_objects(np.asarray(gt.blacklist, dtype=np.int64) - 1, kept, len(gt.stems))
    return LocGroundTruth([gt.stems[i] for i in kept], np.asarray(gt.class_ids)[kept], moved[on_kept],
                          np.asarray(gt.object_class)[on_kept], np.asarray(gt.object_boxes)[on_kept],
                          black_moved[black_kept] + 1)


def subset_det_ground_truth(gt: DetGroundTruth, image_indices) -> DetGroundTruth:
    """The ground truth of the images whose official index is in ``image_indices``, kept in ``gt``'s
    (list) order with their official indices; blacklist pairs of dropped images go. An index ``gt``
    lacks is a ValueError."""
    indices = np.asarray(gt.image_index, dtype=np.int64)
    wanted = np.unique(np.asarray(list(image_indices), dtype=np.int64))
    missing = wanted[~np.isin(wanted, indices)]
    if missing.size:
        raise ValueError(f"{missing.size} image index(es) to keep are not in the ground truth, e.g. {missing[0]}")
    kept = np.flatnonzero(np.isin(indices, wanted))
    on_kept, moved = _kept_objects(gt.object_image, kept, len(gt.stems))
    pairs = np.asarray(gt.blacklist, dtype=np.int64).reshape(-1, 2)
    return DetGroundTruth([gt.stems[i] for i in kept], indices[kept], moved[on_kept],
                          np.asarray(gt.object_class)[on_kept], np.asarray(gt.object_boxes)[on_kept],
                          pairs[np.isin(pairs[:, 0], wanted)])
