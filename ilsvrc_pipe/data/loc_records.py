"""CLS-LOC records (train / val / test) from an ``ILSVRC/`` tree and/or the Kaggle CSVs.

Two tables describe a split:

* images: ``image_id`` (path stem, e.g. ``n01440764/n01440764_10026`` or ``ILSVRC2012_val_00000001``),
  ``index`` (1-based line number of the image set: the devkit's image number), ``path``, ``wnid`` and
  ``label`` (sorted index; ``""``/-1 for test), ``width``/``height`` (-1 where unknown without
  decoding), ``n_boxes``, ``blacklisted`` (val only).
* boxes: ``image_id, wnid, x1, y1, x2, y2`` -- inclusive pixel boxes in the XML frame.

Train images without XML keep their folder label. Val labels come from the devkit ground-truth file
(devkit ids, via :mod:`synsets`), else from the XMLs, else from the Kaggle solution CSV.
"""
from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..utils.errors import DataFormatError, open_text
from .devkit_lists import (clsloc_val_blacklist_path, clsloc_val_ground_truth_path,  # noqa: F401
                           index_lines, read_index_list, read_loc_blacklist)
from .fast_paths import join_path, path_is_file
from .image_sets import read_image_list
from .listed_xmls import parse_listed_xmls
from .synsets import SynsetTable, find_clsloc_synsets, ilsvrc_dir

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
IMAGE_COLUMNS = ["image_id", "index", "split", "path", "wnid", "label", "width", "height", "n_boxes",
                 "blacklisted"]
BOX_COLUMNS = ["image_id", "wnid", "x1", "y1", "x2", "y2"]
IMAGE_EXTENSIONS = (".JPEG", ".jpeg", ".jpg", ".JPG", ".png", ".PNG")


@dataclass
class LocRecords:
    """Images and boxes of one CLS-LOC split."""

    images: pd.DataFrame
    boxes: pd.DataFrame

    def boxes_of(self, image_id: str) -> np.ndarray:
        sel = self.boxes[self.boxes.image_id == image_id]
        return sel[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)


# -- small readers -------------------------------------------------------------------------------
def read_image_set(path: str | os.PathLike) -> list[tuple[str, int]]:
    """``(stem, n)`` of each line of an ImageSets file (train_cls.txt, val.txt, ...)."""
    table = read_image_list(path)
    return list(zip(table.stem, table["index"].tolist()))


def read_kaggle_solution(path: str | os.PathLike, synsets: SynsetTable | None = None) -> pd.DataFrame:
    """``LOC_*_solution.csv`` -> boxes table (rows come unsorted in the real files); with
    ``synsets``, a WNID that is no class is an error naming the line."""
    rows = []
    with open_text(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header != ["ImageId", "PredictionString"]:
            raise DataFormatError(f"{path}:1: expected header 'ImageId,PredictionString', got {header}")
        for lineno, row in enumerate(reader, 2):
            if len(row) != 2:
                raise DataFormatError(f"{path}:{lineno}: expected 2 fields, got {len(row)}")
            parts = row[1].split()
            if len(parts) % 5:
                raise DataFormatError(f"{path}:{lineno}: expected groups of 'wnid xmin ymin xmax ymax', "
                                      f"got {len(parts)} tokens")
            for g in range(0, len(parts), 5):
                try:
                    box = [float(v) for v in parts[g + 1:g + 5]]
                except ValueError:
                    raise DataFormatError(f"{path}:{lineno}: non-numeric box in {parts[g:g + 5]}") from None
                if not np.isfinite(box).all():
                    raise DataFormatError(f"{path}:{lineno}: expected finite box coordinates, got {parts[g:g + 5]}")
                if synsets is not None and parts[g] not in synsets:
                    raise DataFormatError(f"{path}:{lineno}: {parts[g]!r} is not a CLS-LOC class of {synsets.source}")
                rows.append((row[0], parts[g], *box))
    return pd.DataFrame(rows, columns=BOX_COLUMNS)


def _kaggle_file(root, name: str) -> Path | None:
    for cand in (Path(root) / name, ilsvrc_dir(root).parent / name):
        if cand.is_file():
            return cand
    return None


def _find_image(folder: str, stem: str) -> str:
    """The image file of ``stem`` (the first extension that exists; ``.JPEG`` when none does)."""
    for ext in IMAGE_EXTENSIONS:
        p = join_path(folder, f"{stem}{ext}")
        if path_is_file(p):
            return p
    return join_path(folder, f"{stem}.JPEG")


def _list_stems(folder: Path, nested: bool) -> list[str]:
    if not folder.is_dir():
        return []
    files = folder.glob("*/*") if nested else folder.glob("*")
    stems = [str(p.relative_to(folder).with_suffix("")) for p in files if p.suffix in IMAGE_EXTENSIONS]
    return sorted(stems)


# -- the split readers ---------------------------------------------------------------------------
def _check_classes(ann, synsets: SynsetTable) -> None:
    """An object of no class would enter the record tables as a box nothing can learn or score."""
    for name, line in zip(ann.names, ann.lines):
        if name not in synsets:
            raise DataFormatError(f"{ann.path}:{line}: object class {name!r} is not a CLS-LOC class of {synsets.source}")


def _parse_xmls(xml_dir: Path, stems: list[str], desc: str, synsets: SynsetTable):
    """Parse the XML of each stem that has one (on all CPUs, ``listed_xmls.py``); returns the
    (width, height, objects kept) of each stem (-1, -1, 0 without XML) and a boxes table."""
    folder = str(xml_dir)
    parsed = parse_listed_xmls([join_path(folder, f"{stem}.xml") for stem in stems], synsets,
                               lambda ann: _check_classes(ann, synsets), desc)
    per_stem = np.stack([parsed.width, parsed.height, parsed.counts], axis=1)
    return per_stem, _box_table(np.asarray(stems, dtype=object)[parsed.object_files()], parsed.names, parsed.boxes)


def _per_image(ids: list[str], boxed: list[str], boxed_rows: np.ndarray, missing: tuple) -> np.ndarray:
    """The rows of ``boxed_rows`` (one per unique ``boxed`` stem) for each of ``ids``; ``missing``
    for an id that is not boxed. Arrays, not a pandas map: a map over a million string ids
    materialises them as Python objects, the largest allocation of the whole data stage."""
    if boxed is ids:
        return boxed_rows
    where = {stem: k for k, stem in enumerate(boxed)}
    position = np.fromiter((where.get(stem, -1) for stem in ids), dtype=np.int64, count=len(ids))
    return np.where((position >= 0)[:, None], boxed_rows[position], np.asarray(missing)).astype(np.int64)


def _listed(image_ids: pd.Series, ids: list[str]) -> np.ndarray:
    """Whether each image id is one of ``ids`` (``Series.isin`` on arrow strings holds half a GB
    for a million ids; a set of the strings costs a tenth of it)."""
    listed = set(ids)
    return np.fromiter((image_id in listed for image_id in image_ids.tolist()), dtype=bool, count=len(image_ids))


def _box_table(image_ids, names: list[str], boxes: np.ndarray) -> pd.DataFrame:
    """The boxes table of objects (image id, WNID, inclusive box each), typed as a table built from
    one ``(image_id, wnid, x1, y1, x2, y2)`` row per object is (all columns untyped when empty)."""
    if not len(names):
        return pd.DataFrame([], columns=BOX_COLUMNS)
    table = {"image_id": list(image_ids), "wnid": list(names)}
    table.update({c: boxes[:, k] for k, c in enumerate(BOX_COLUMNS[2:])})
    return pd.DataFrame(table, columns=BOX_COLUMNS)


def _stems_of_split(root, split: str) -> tuple[list[str], np.ndarray]:
    """Stems and image numbers of a split: its ImageSets list, else its image files in sorted order."""
    base = ilsvrc_dir(root)
    list_file = base / "ImageSets" / "CLS-LOC" / ("train_cls.txt" if split == "train" else f"{split}.txt")
    if list_file.is_file():
        table = read_image_list(list_file)
        return table.stem.tolist(), table["index"].to_numpy(dtype=np.int64)
    stems = _list_stems(base / "Data" / "CLS-LOC" / split, nested=(split == "train"))
    return stems, np.arange(1, len(stems) + 1, dtype=np.int64)


def load_loc_records(root: str | os.PathLike, split: str, synsets: SynsetTable | None = None) -> LocRecords:
    """Index one CLS-LOC split of a data root."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    synsets = synsets or find_clsloc_synsets(root)
    base = ilsvrc_dir(root)
    ids, numbers = _stems_of_split(root, split)
    if not ids:
        raise FileNotFoundError(f"{root}: no CLS-LOC {split} images (no ImageSets list, no {base}/Data/CLS-LOC/{split})")
    xml_dir = base / "Annotations" / "CLS-LOC" / split
    per_image = None   # (width, height, objects) of each image, from its XML
    if xml_dir.is_dir():
        boxed = ids
        loc_list = base / "ImageSets" / "CLS-LOC" / "train_loc.txt"
        if split == "train" and loc_list.is_file():
            boxed = read_image_list(loc_list).stem.tolist()
        boxed_rows, boxes = _parse_xmls(xml_dir, boxed, f"CLS-LOC {split} XML", synsets)
        per_image = _per_image(ids, boxed, boxed_rows, (-1, -1, 0))
    else:
        boxes = pd.DataFrame(columns=BOX_COLUMNS)
        kaggle = _kaggle_file(root, f"LOC_{split}_solution.csv")
        if kaggle is not None:
            boxes = read_kaggle_solution(kaggle, synsets)
    images = pd.DataFrame({"image_id": ids, "index": numbers, "split": split})
    data_dir = str(base / "Data" / "CLS-LOC" / split)
    images["path"] = [_find_image(data_dir, s) for s in ids]
    images["wnid"] = _labels(root, split, ids, boxes, synsets)
    unknown = sorted(set(images.wnid) - set(synsets.wnids) - {""})
    if unknown:
        raise DataFormatError(f"{root}: CLS-LOC {split} labels {unknown[:5]} are not in {synsets.source}")
    codes, wnids = pd.factorize(images.wnid)   # one class lookup per distinct WNID
    images["label"] = np.asarray([synsets.index_of(w) if w else -1 for w in wnids], dtype=np.int64)[codes]
    if per_image is None:   # sizes unknown; objects from the Kaggle table (val and test only: small)
        counts = boxes.groupby("image_id").size() if len(boxes) else pd.Series(dtype=np.int64)
        per_image = np.full((len(ids), 3), -1, dtype=np.int64)
        per_image[:, 2] = images.image_id.map(counts).fillna(0).astype(np.int64).to_numpy()
    images["width"], images["height"], images["n_boxes"] = per_image[:, 0], per_image[:, 1], per_image[:, 2]
    images["blacklisted"] = False
    if split == "val":
        bl = clsloc_val_blacklist_path(root)
        if bl is not None:
            images["blacklisted"] = images["index"].isin(set(read_loc_blacklist(bl, len(images))))
    boxes = boxes[_listed(boxes.image_id, ids)].reset_index(drop=True)
    return LocRecords(images[IMAGE_COLUMNS], boxes[BOX_COLUMNS])


def _labels(root, split: str, ids: list[str], boxes: pd.DataFrame, synsets: SynsetTable) -> list[str]:
    if split == "test":
        return [""] * len(ids)
    if split == "train":
        folders: dict[str, str] = {}   # one string per class, not one per image
        return [folders.setdefault(w, w) for w in (s.split("/")[0] for s in ids)]
    gt = clsloc_val_ground_truth_path(root)
    first_box = boxes.drop_duplicates("image_id").set_index("image_id").wnid if len(boxes) else {}
    if gt is not None:
        wnids, lines = _read_devkit_labels(gt, synsets, len(ids))
        _check_labels_agree(gt, lines, ids, wnids, first_box, synsets)
        return wnids
    missing = [s for s in ids if s not in first_box]
    if missing:
        raise DataFormatError(f"{root}: val image {missing[0]} has no label (no devkit ground truth, no XML, "
                              "no Kaggle LOC_val_solution.csv row)")
    return [first_box[s] for s in ids]


def _read_devkit_labels(gt: Path, synsets: SynsetTable, n_images: int) -> tuple[list[str], list[int]]:
    """WNIDs (and line numbers) of the devkit val ground-truth file, one devkit id per line."""
    rows = list(index_lines(gt))
    if len(rows) != n_images:
        raise DataFormatError(f"{gt}: {len(rows)} labels for {n_images} val images (expected one per line)")
    for lineno, devkit_id in rows:
        if not 1 <= devkit_id <= len(synsets):
            raise DataFormatError(f"{gt}:{lineno}: class id {devkit_id} is outside 1..{len(synsets)} "
                                  f"(the devkit ids of {synsets.source})")
    return [synsets.wnid_of_id(i) for _, i in rows], [line for line, _ in rows]


def _check_labels_agree(gt: Path, lines: list[int], ids: list[str], wnids: list[str], first_box, synsets) -> None:
    """The devkit ids decoded through the class list must name each image's annotated class.

    Two sources of truth that disagree cannot both be right, and which one is wrong cannot be
    proven here (a sorted-order Kaggle mapping, or files of different devkits), so it is an error."""
    disagree = [k for k, (s, w) in enumerate(zip(ids, wnids)) if s in first_box and first_box[s] != w]
    if not disagree:
        return
    k = disagree[0]
    if Path(synsets.source).name == "LOC_synset_mapping.txt":
        hint = (f"{synsets.source} only gives the sorted-WNID order, not the devkit ids: put the devkit's "
                "map_clsloc.txt or meta_clsloc.mat in the devkit data folder")
    else:
        hint = f"are {gt.name} and {Path(synsets.source).name} from the same devkit?"
    raise DataFormatError(f"{gt}:{lines[k]}: class ids read with {synsets.source} disagree with the annotated "
                          f"class of {len(disagree)} of {len(ids)} val images (e.g. {ids[k]}: id -> {wnids[k]}, "
                          f"boxes {first_box[ids[k]]}); {hint}")


def mean_relative_box_size(records: LocRecords) -> tuple[float, float]:
    """Mean (box width / image width, box height / image height) over boxes with a known image size."""
    b = records.boxes.merge(records.images[["image_id", "width", "height"]], on="image_id")
    b = b[(b.width > 0) & (b.height > 0)]
    if b.empty:
        raise ValueError("no boxes with a known image size to take a mean relative size from")
    rw = ((b.x2 - b.x1 + 1) / b.width).clip(0, 1)
    rh = ((b.y2 - b.y1 + 1) / b.height).clip(0, 1)
    return float(rw.mean()), float(rh.mean())


def fill_image_sizes(images: pd.DataFrame) -> pd.DataFrame:
    """Read the header of every image whose size is unknown (-1); returns a new table."""
    from .images import image_size

    out = images.copy()
    todo = out.index[(out.width < 0) | (out.height < 0)]
    for i in tqdm(todo, desc="image sizes", unit="img", leave=False, disable=len(todo) < 1000):
        out.loc[i, ["width", "height"]] = image_size(out.at[i, "path"])
    return out
