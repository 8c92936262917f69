"""Per-split image caps (config ``data.max_images``): the paper config end to end on a real ImageNet
in minutes, as a check before the run of days.

The ``data`` stage applies the caps once, after indexing and before anything is decoded or written,
so no later stage ever sees a dropped image. Which images stay is fixed by the lists alone:

* CLS-LOC train (``loc_train_per_class``): the first N images of each class, in list order, so that
  every class keeps N images to train the classifiers on (the RPN and the R-CNN train on the boxed
  ones among them: on a real train set about two in five, so a class may keep none);
* CLS-LOC val (``loc_val``) and test (``loc_test``): the first N images in list (index) order;
* DET train (``det_train``): the first image (in record order) holding a box of each class, then the
  earliest other images up to N. The first N in record order would not do: the records are the
  union of the per-class train lists in class order, so they start with every image of class 1's
  list, and a detector trained on those would miss most classes. With fewer slots than classes,
  the classes whose first image comes earliest are kept;
* DET val1 and val2 (``det_val``, a cap for each half): the first N images of each half in its own
  list's order. val is then the union of the kept halves (in val order) and nothing else; a cap
  that cuts neither half leaves val whole, so a cap at least as large as the halves changes no
  file. Without halves, val keeps its first N images;
* DET test (``det_test``): the first N images in list order.

A key that is absent or None keeps every image of its split.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..utils.errors import UserInputError
from .det_records import DetRecords
from .det_val_halves import HALVES
from .loc_records import LocRecords

CAP_KEYS = ("loc_train_per_class", "loc_val", "loc_test", "det_train", "det_val", "det_test")
LOC_CAPS = {"train": "loc_train_per_class", "val": "loc_val", "test": "loc_test"}
DET_CAPS = {"train": "det_train", "val1": "det_val", "val2": "det_val", "test": "det_test"}
WHERE = "data.max_images"


# -- the config key ------------------------------------------------------------------------------
def check_max_images(data_section) -> None:
    """``data.max_images``: None, or a dict of the keys of :data:`CAP_KEYS`, each None or a positive
    integer. Anything else raises one :class:`UserInputError` line naming the key."""
    caps = (data_section or {}).get("max_images")
    if caps is None:
        return
    if not isinstance(caps, Mapping):
        raise UserInputError(f"{WHERE}: expected a dict of per-split caps (keys {', '.join(CAP_KEYS)}), "
                             f"got {caps!r}")
    for key, value in caps.items():
        if key not in CAP_KEYS:
            raise UserInputError(f"{WHERE}.{key}: unknown cap; expected one of {', '.join(CAP_KEYS)}")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UserInputError(f"{WHERE}.{key}: expected a positive integer (or None: no cap), got {value!r}")


def image_caps(data_section) -> dict[str, int]:
    """The caps that are set (checked by :func:`check_max_images`); empty: keep everything."""
    check_max_images(data_section)
    caps = (data_section or {}).get("max_images") or {}
    return {k: int(v) for k, v in caps.items() if v is not None}


@dataclass(frozen=True)
class SplitCut:
    """What a cap did to one split: the stage logs it and puts the listed count in its figures."""

    task: str      # "CLS-LOC" or "DET"
    split: str
    key: str       # the key of data.max_images
    cap: int
    kept: int
    total: int

    @property
    def dropped(self) -> bool:
        """Whether the cap left any image out."""
        return self.kept < self.total

    def note(self) -> str:
        return f"{self.task} {self.split}: {WHERE}.{self.key}={self.cap} kept {self.kept} of {self.total} images"


# -- which rows stay -----------------------------------------------------------------------------
def first_rows(n_rows: int, cap: int) -> np.ndarray:
    """Boolean mask: the first ``cap`` of ``n_rows`` rows."""
    return np.arange(n_rows) < cap


def first_per_class(labels: Sequence, cap: int) -> np.ndarray:
    """Boolean mask: the first ``cap`` rows of each label, in row order."""
    labels = pd.Series(np.asarray(labels, dtype=object))
    return labels.groupby(labels, sort=False).cumcount().to_numpy() < cap


def covering_first_rows(images: pd.DataFrame, boxes: pd.DataFrame, cap: int) -> np.ndarray:
    """Boolean mask over ``images``: each box class's first image (in row order), at most ``cap`` of
    them (those that come first), then the earliest other images up to ``cap`` in all."""
    keep = np.zeros(len(images), dtype=bool)
    if cap >= len(images):
        keep[:] = True
        return keep
    position = pd.Series(np.arange(len(images)), index=images.image_id.to_numpy())
    boxed = boxes[boxes.image_id.isin(position.index)]
    firsts = np.unique(boxed.image_id.map(position).groupby(boxed.wnid.to_numpy()).min().to_numpy())
    keep[firsts[:cap]] = True
    keep[np.flatnonzero(~keep)[:cap - int(keep.sum())]] = True
    return keep


def subset_tables(images: pd.DataFrame, boxes: pd.DataFrame, keep: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The kept rows of ``images`` and the boxes of those images (both renumbered 0..n-1)."""
    images = images[np.asarray(keep, dtype=bool)].reset_index(drop=True)
    return images, boxes[boxes.image_id.isin(set(images.image_id))].reset_index(drop=True)


def keep_listed(table: pd.DataFrame, image_ids, column: str = "stem") -> pd.DataFrame:
    """Rows of ``table`` (e.g. the DET per-class train lists) whose ``column`` names a kept image."""
    return table[table[column].isin(set(image_ids))].reset_index(drop=True)


# -- whole splits --------------------------------------------------------------------------------
def cut_loc_records(records: LocRecords, split: str, caps: Mapping[str, int]) -> tuple[LocRecords, SplitCut | None]:
    """One CLS-LOC split under its cap (the module docstring says which images stay). No cap: the
    records as given and None; a cap that drops nothing: the records as given and the cut."""
    key = LOC_CAPS[split]
    if key not in caps:
        return records, None
    images = records.images
    keep = first_per_class(images.wnid, caps[key]) if split == "train" else first_rows(len(images), caps[key])
    cut = SplitCut("CLS-LOC", split, key, caps[key], int(keep.sum()), len(images))
    if keep.all():
        return records, cut
    return LocRecords(*subset_tables(images, records.boxes, keep)), cut


def cut_det_records(records: Mapping[str, DetRecords],
                    caps: Mapping[str, int]) -> tuple[dict[str, DetRecords], dict[str, SplitCut]]:
    """Every DET split of ``records`` (train, val, val1, val2, test; absent ones are skipped) under
    its cap; returns the records (those not cut as given) and the :class:`SplitCut` of each capped split."""
    out, cuts = dict(records), {}

    def apply(split: str, key: str, keep: np.ndarray) -> None:
        images, boxes = records[split]
        cuts[split] = SplitCut("DET", split, key, caps[key], int(keep.sum()), len(images))
        if not keep.all():
            out[split] = DetRecords(*subset_tables(images, boxes, keep))

    for split, key in DET_CAPS.items():
        if split in records and key in caps:
            images, boxes = records[split]
            if split == "train":
                apply(split, key, covering_first_rows(images, boxes, caps[key]))
            else:
                apply(split, key, first_rows(len(images), caps[key]))
    if "val" in records and "det_val" in caps:
        val = records["val"].images
        halves = [h for h in HALVES if h in records]
        if not halves:
            apply("val", "det_val", first_rows(len(val), caps["det_val"]))
        elif any(cuts[h].dropped for h in halves):
            kept = set().union(*(out[h].images["index"].tolist() for h in halves))
            apply("val", "det_val", val["index"].isin(kept).to_numpy())
        else:
            apply("val", "det_val", np.ones(len(val), dtype=bool))
    return out, cuts
