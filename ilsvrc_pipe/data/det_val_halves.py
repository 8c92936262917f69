"""R-CNN's halves of DET val (val1 trains the detector, val2 scores it): which files hold them.

Each half's list is the first of these files that exists (one search order for both halves):

1. ``ILSVRC/ImageSets/DET/val<k>.txt``: lists a user puts beside ``val.txt``;
2. ``devkit/data/det_lists/val<k>.txt``: both halves (the synthetic presets' default layout);
3. ``devkit/data/det_lists/ilsvrc13_val<k>.txt``: R-CNN's names. The public ILSVRC2014 devkit ships
   ``ilsvrc13_val2.txt`` alone (9,917 images in its own order, not sorted), beside
   ``det_lists/val.txt`` (all of val), and no val1.

With no val1 list anywhere, val1 is derived: the images of ``ImageSets/DET/val.txt``, in its order,
minus val2's, minus every image the DET val blacklist names. R-CNN's released halves leave the
blacklisted images out (its split lists come with those images pre-filtered), and val1 is a
training set: an image whose labels of some class are known to be wrong would teach that class
wrong negatives. A val1 list that shares images with val2 is an error (it would train on the
images that score the detector), whichever files the two halves came from.

Every list numbers its images 1..n inside the file; records keep each image's official ``val.txt``
index (:func:`map_split_to_val`), which is what the devkit and the submission files use.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils.errors import DataFormatError
from .image_sets import int_field, list_lines, read_image_list
from .synsets import devkit_data_dir, find_devkit_file, ilsvrc_dir

HALVES = ("val1", "val2")
# Where the ILSVRC2014 devkit keeps R-CNN's val2 (the standard split); named in the missing-list error.
DEVKIT_VAL2 = "data/det_lists/ilsvrc13_val2.txt"


def find_det_blacklist(root: str | os.PathLike) -> Path | None:
    """The DET val blacklist of a data root (this year's name first, then any year's); None if absent."""
    return find_devkit_file(root, "ILSVRC2015_det_validation_blacklist.txt", "*det_validation_blacklist.txt")


def det_val_list_path(root: str | os.PathLike) -> Path:
    """``ImageSets/DET/val.txt``: the official val order and indices."""
    return ilsvrc_dir(root) / "ImageSets" / "DET" / "val.txt"


def det_val_half_candidates(root: str | os.PathLike, split: str) -> list[Path]:
    """The files that may hold the list of ``split`` (val1 or val2), in search order."""
    if split not in HALVES:
        raise ValueError(f"DET val halves are {HALVES}, not {split!r}")
    sets, lists = ilsvrc_dir(root) / "ImageSets" / "DET", devkit_data_dir(root) / "det_lists"
    return [sets / f"{split}.txt", lists / f"{split}.txt", lists / f"ilsvrc13_{split}.txt"]


def _first_file(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


@dataclass(frozen=True)
class DetValHalves:
    """The resolved list files of val1 and val2 of a data root."""

    val2: Path
    val1: Path | None          # None: no val1 list anywhere, so val1 is derived
    val: Path                  # ImageSets/DET/val.txt
    blacklist: Path | None     # the DET val blacklist, whose images a derived val1 leaves out

    def list_path(self, split: str) -> Path | None:
        """The list file of ``split`` (val1 or val2); None for a derived val1."""
        if split not in HALVES:
            raise ValueError(f"DET val halves are {HALVES}, not {split!r}")
        return self.val2 if split == "val2" else self.val1

    def label(self, split: str) -> str:
        """How messages name the split's list: its file name, or what a derived val1 is."""
        path = self.list_path(split)
        return path.name if path is not None else f"the derived val1 ({self.val.name} minus val2)"


def resolve_det_val_halves(root: str | os.PathLike) -> DetValHalves:
    """The val1/val2 list files of ``root``, each the first that exists in the module's search order.

    Raises FileNotFoundError naming every path tried when no val2 list exists, and where the
    standard split comes from."""
    tried = det_val_half_candidates(root, "val2")
    val2 = _first_file(tried)
    if val2 is None:
        raise FileNotFoundError(
            f"no DET val2 list: tried {', '.join(map(str, tried))}; the standard val1/val2 split is R-CNN's "
            f"ILSVRC13 split, whose val2 the ILSVRC2014 devkit ships as {DEVKIT_VAL2}: copy that file to "
            f"{tried[-1]} (val1 is then derived from {det_val_list_path(root).name})")
    return DetValHalves(val2, _first_file(det_val_half_candidates(root, "val1")), det_val_list_path(root),
                        find_det_blacklist(root))


def check_det_split_lists(root: str | os.PathLike) -> None:
    """A start-up check, cheap enough for before any training: a data root with a DET part
    (``ILSVRC/ImageSets/DET``) must have a val2 list and ``val.txt``; one without does nothing.

    Raises FileNotFoundError (one line, naming the paths tried) otherwise."""
    if not (ilsvrc_dir(root) / "ImageSets" / "DET").is_dir():
        return
    halves = resolve_det_val_halves(root)
    if not halves.val.is_file():
        raise FileNotFoundError(f"DET val list not found: {halves.val} (the val1/val2 lists, e.g. {halves.val2}, "
                                f"are numbered by its official indices)")


def map_split_to_val(split_list: pd.DataFrame, val_list: pd.DataFrame, split_path: str | os.PathLike = "split list") -> pd.DataFrame:
    """val1/val2 stems (renumbered 1..n inside their file) with their official ``val.txt`` index.

    Returns columns stem, index (official), split_index (the number inside the split file).
    """
    official = dict(zip(val_list["stem"], val_list["index"]))
    missing = [s for s in split_list["stem"] if s not in official]
    if missing:
        raise DataFormatError(f"{split_path}: {len(missing)} image(s) are not in val.txt, e.g. {missing[:3]}")
    return pd.DataFrame({
        "stem": split_list["stem"].to_numpy(dtype=object),
        "index": np.asarray([official[s] for s in split_list["stem"]], dtype=np.int64),
        "split_index": split_list["index"].to_numpy(dtype=np.int64),
    })


def blacklisted_images(path: str | os.PathLike) -> set[int]:
    """The val indices a ``<val index> <wnid>`` blacklist names (each image once)."""
    path = Path(path)
    indices = set()
    for lineno, fields in list_lines(path):
        if len(fields) != 2:
            raise DataFormatError(f"{path}:{lineno}: expected '<image index> <wnid>', got {len(fields)} fields")
        indices.add(int_field(fields[0], path, lineno, "image index"))
    return indices


def derive_val1(val: pd.DataFrame, val2: pd.DataFrame, blacklisted: set[int]) -> pd.DataFrame:
    """val images (in val order) that are neither in val2 nor blacklisted, numbered 1..n:
    columns stem, index (official), split_index."""
    keep = ~val["stem"].isin(set(val2["stem"])).to_numpy() & ~val["index"].isin(blacklisted).to_numpy()
    kept = val[keep]
    return pd.DataFrame({"stem": kept["stem"].to_numpy(dtype=object),
                         "index": kept["index"].to_numpy(dtype=np.int64),
                         "split_index": np.arange(1, len(kept) + 1, dtype=np.int64)})


def _check_disjoint(val1: pd.DataFrame, val2: pd.DataFrame, halves: DetValHalves) -> None:
    """A val1 list sharing images with val2 would train on the images that score the detector."""
    shared = val1["stem"][val1["stem"].isin(set(val2["stem"]))].tolist()
    if shared:
        raise DataFormatError(f"{halves.val1}: {len(shared)} image(s) are also in {halves.val2}, e.g. {shared[:3]} "
                              f"(expected two disjoint halves of val)")


def read_det_val_half(root: str | os.PathLike, split: str, halves: DetValHalves | None = None) -> pd.DataFrame:
    """Images of val1 or val2 in their list's order (a derived val1: val order): columns stem,
    index (official ``val.txt`` index), split_index (number inside the list)."""
    halves = halves or resolve_det_val_halves(root)
    if not halves.val.is_file():
        raise FileNotFoundError(f"DET val list not found: {halves.val} (needed to number the {split} images)")
    val = read_image_list(halves.val)
    val2 = map_split_to_val(read_image_list(halves.val2), val, halves.val2)
    if split == "val2":
        return val2
    if halves.val1 is None:
        return derive_val1(val, val2, blacklisted_images(halves.blacklist) if halves.blacklist else set())
    val1 = map_split_to_val(read_image_list(halves.val1), val, halves.val1)
    _check_disjoint(val1, val2, halves)
    return val1


def det_val_halves_note(root: str | os.PathLike) -> str:
    """One line saying which files val1 and val2 come from (and how val1 was derived), with counts."""
    halves = resolve_det_val_halves(root)
    val2, val1 = read_det_val_half(root, "val2", halves), read_det_val_half(root, "val1", halves)
    head = f"DET val halves: val2 from {halves.val2} ({len(val2)} images, in its order); "
    if halves.val1 is not None:
        return head + f"val1 from {halves.val1} ({len(val1)} images)"
    if halves.blacklist is None:
        left_out = "no DET val blacklist found, so no image left out"
    else:
        n_black = len(read_image_list(halves.val)) - len(val2) - len(val1)
        left_out = (f"minus {n_black} blacklisted image(s) outside val2 ({halves.blacklist.name}; R-CNN's halves "
                    f"leave blacklisted images out)")
    base = ilsvrc_dir(root)
    tried = ", ".join(str(p.relative_to(base)) if p.is_relative_to(base) else str(p)
                      for p in det_val_half_candidates(root, "val1"))
    return head + (f"no val1 list ({tried}), so val1 is derived: {halves.val.name} minus val2, {left_out}: "
                   f"{len(val1)} images in val order")
