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

from .annotations import parse_annotation
from .errors import DataFormatError
from .image_sets import read_image_list
from .synsets import SynsetTable, find_clsloc_synsets, find_devkit_file, ilsvrc_dir

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


def read_index_list(path: str | os.PathLike) -> list[int]:
    """One integer per line (devkit ground-truth labels, CLS-LOC blacklist)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            text = raw.strip()
            if not text:
                continue
            try:
                out.append(int(text.split()[0]))
            except ValueError:
                raise DataFormatError(f"{path}:{lineno}: expected one integer, got {text!r}") from None
    return out


def read_kaggle_solution(path: str | os.PathLike) -> pd.DataFrame:
    """``LOC_*_solution.csv`` -> boxes table (rows come unsorted in the real files)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
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
                rows.append((row[0], parts[g], *box))
    return pd.DataFrame(rows, columns=BOX_COLUMNS)


def clsloc_val_ground_truth_path(root) -> Path | None:
    return find_devkit_file(root, "ILSVRC2015_clsloc_validation_ground_truth.txt",
                            "*clsloc_validation_ground_truth.txt", "ILSVRC20[0-9][0-9]_validation_ground_truth.txt")


def clsloc_val_blacklist_path(root) -> Path | None:
    return find_devkit_file(root, "ILSVRC2015_clsloc_validation_blacklist.txt",
                            "*clsloc_validation_blacklist.txt", "ILSVRC20[0-9][0-9]_validation_blacklist.txt")


def _kaggle_file(root, name: str) -> Path | None:
    for cand in (Path(root) / name, ilsvrc_dir(root).parent / name):
        if cand.is_file():
            return cand
    return None


def _find_image(folder: Path, stem: str) -> Path:
    for ext in IMAGE_EXTENSIONS:
        p = folder / f"{stem}{ext}"
        if p.is_file():
            return p
    return folder / f"{stem}.JPEG"


def _list_stems(folder: Path, nested: bool) -> list[str]:
    if not folder.is_dir():
        return []
    files = folder.glob("*/*") if nested else folder.glob("*")
    stems = [str(p.relative_to(folder).with_suffix("")) for p in files if p.suffix in IMAGE_EXTENSIONS]
    return sorted(stems)


# -- the split readers ---------------------------------------------------------------------------
def _parse_xmls(xml_dir: Path, stems: list[str], desc: str):
    """Parse the XML of each stem that has one; returns per-image sizes and a boxes table."""
    sizes, rows = {}, []
    for stem in tqdm(stems, desc=desc, unit="xml", leave=False, disable=len(stems) < 1000):
        xml = xml_dir / f"{stem}.xml"
        if not xml.is_file():
            continue
        ann = parse_annotation(xml)
        sizes[stem] = (ann.width or -1, ann.height or -1)
        rows.extend((stem, n, *b) for n, b in zip(ann.names, ann.boxes.tolist()))
    return sizes, pd.DataFrame(rows, columns=BOX_COLUMNS)


def _stems_of_split(root, split: str) -> list[tuple[str, int]]:
    base = ilsvrc_dir(root)
    list_file = base / "ImageSets" / "CLS-LOC" / ("train_cls.txt" if split == "train" else f"{split}.txt")
    if list_file.is_file():
        return read_image_set(list_file)
    stems = _list_stems(base / "Data" / "CLS-LOC" / split, nested=(split == "train"))
    return [(s, i) for i, s in enumerate(stems, 1)]


def load_loc_records(root: str | os.PathLike, split: str, synsets: SynsetTable | None = None) -> LocRecords:
    """Index one CLS-LOC split of a data root."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    synsets = synsets or find_clsloc_synsets(root)
    base = ilsvrc_dir(root)
    stems = _stems_of_split(root, split)
    if not stems:
        raise FileNotFoundError(f"{root}: no CLS-LOC {split} images (no ImageSets list, no {base}/Data/CLS-LOC/{split})")
    ids = [s for s, _ in stems]
    xml_dir = base / "Annotations" / "CLS-LOC" / split
    if xml_dir.is_dir():
        boxed = ids
        loc_list = base / "ImageSets" / "CLS-LOC" / "train_loc.txt"
        if split == "train" and loc_list.is_file():
            boxed = [s for s, _ in read_image_set(loc_list)]
        sizes, boxes = _parse_xmls(xml_dir, boxed, f"CLS-LOC {split} XML")
    else:
        sizes, boxes = {}, pd.DataFrame(columns=BOX_COLUMNS)
        kaggle = _kaggle_file(root, f"LOC_{split}_solution.csv")
        if kaggle is not None:
            boxes = read_kaggle_solution(kaggle)
    images = pd.DataFrame({"image_id": ids, "index": [i for _, i in stems], "split": split})
    data_dir = base / "Data" / "CLS-LOC" / split
    images["path"] = [str(_find_image(data_dir, s)) for s in ids]
    images["wnid"] = _labels(root, split, ids, boxes, synsets)
    unknown = sorted(set(images.wnid) - set(synsets.wnids) - {""})
    if unknown:
        raise DataFormatError(f"{root}: CLS-LOC {split} labels {unknown[:5]} are not in {synsets.source}")
    images["label"] = [synsets.index_of(w) if w else -1 for w in images.wnid]
    wh = np.array([sizes.get(s, (-1, -1)) for s in ids], dtype=np.int64).reshape(-1, 2)
    images["width"], images["height"] = wh[:, 0], wh[:, 1]
    counts = boxes.groupby("image_id").size() if len(boxes) else pd.Series(dtype=np.int64)
    images["n_boxes"] = images.image_id.map(counts).fillna(0).astype(np.int64)
    images["blacklisted"] = False
    if split == "val":
        bl = clsloc_val_blacklist_path(root)
        if bl is not None:
            images["blacklisted"] = images["index"].isin(set(read_index_list(bl)))
    boxes = boxes[boxes.image_id.isin(set(ids))].reset_index(drop=True)
    return LocRecords(images[IMAGE_COLUMNS], boxes[BOX_COLUMNS])


def _labels(root, split: str, ids: list[str], boxes: pd.DataFrame, synsets: SynsetTable) -> list[str]:
    if split == "test":
        return [""] * len(ids)
    if split == "train":
        return [s.split("/")[0] for s in ids]
    gt = clsloc_val_ground_truth_path(root)
    first_box = boxes.drop_duplicates("image_id").set_index("image_id").wnid if len(boxes) else {}
    if gt is not None:
        devkit_ids = read_index_list(gt)
        if len(devkit_ids) != len(ids):
            raise DataFormatError(f"{gt}: {len(devkit_ids)} labels for {len(ids)} val images (expected one per line)")
        wnids = [synsets.wnid_of_id(i) for i in devkit_ids]
        disagree = [s for s, w in zip(ids, wnids) if s in first_box and first_box[s] != w]
        if disagree:
            logger.warning("%s disagrees with the XML class of %d val images (e.g. %s)", gt, len(disagree), disagree[0])
        return wnids
    missing = [s for s in ids if s not in first_box]
    if missing:
        raise DataFormatError(f"{root}: val image {missing[0]} has no label (no devkit ground truth, no XML, "
                              "no Kaggle LOC_val_solution.csv row)")
    return [first_box[s] for s in ids]


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
