"""Stage ``data``: index the data root once into record tables that every later stage reads.

Writes ``work_dir/data/loc_<split>_{images,boxes}.parquet`` (and ``det_<split>_*`` when the tree has
DET), and ``classes.json`` (the CLS-LOC and DET class lists, WNIDs in devkit order).
"""
from __future__ import annotations

import os
from pathlib import Path

from tqdm import tqdm

from ..data.images import load_rgb_or_none
from ..data.loc_dataset import SPLITS, LocRecords, fill_image_sizes, load_loc_records
from ..data.synsets import SynsetTable, find_clsloc_synsets, find_det_synsets, ilsvrc_dir
from ..io_utils import read_table, write_json_atomic, write_table_atomic
from ..pipeline import StageContext, register_stage


def loc_table_path(data_dir: Path, split: str, kind: str) -> Path:
    return Path(data_dir) / f"loc_{split}_{kind}.parquet"


def read_loc_records(data_dir: str | os.PathLike, split: str) -> LocRecords:
    """The CLS-LOC records of a split, as the ``data`` stage wrote them."""
    return LocRecords(read_table(loc_table_path(data_dir, split, "images")),
                      read_table(loc_table_path(data_dir, split, "boxes")))


def read_class_lists(data_dir: str | os.PathLike) -> dict[str, SynsetTable]:
    """The class tables the ``data`` stage found (``clsloc`` and, when present, ``det``)."""
    import json

    spec = json.loads((Path(data_dir) / "classes.json").read_text())
    return {k: SynsetTable(tuple(v["wnids"]), tuple(v["names"]), v["source"]) for k, v in spec.items()}


def _verify_decodable(ctx: StageContext, records: LocRecords, split: str) -> LocRecords:
    """Decode every image once; corrupt ones fail the stage, or are dropped when the config says so."""
    skip = bool(ctx.cfg.data.get("skip_corrupt_images", False))
    bad = []
    for row in tqdm(records.images.itertuples(), total=len(records.images), desc=f"decode {split}", unit="img"):
        if load_rgb_or_none(row.path, skip) is None:
            bad.append(row.image_id)
    if bad:
        ctx.logger.warning("%d corrupt %s images skipped (first: %s)", len(bad), split, bad[0])
        keep = ~records.images.image_id.isin(bad)
        records = LocRecords(records.images[keep].reset_index(drop=True),
                             records.boxes[~records.boxes.image_id.isin(bad)].reset_index(drop=True))
    return records


def _classes_spec(table: SynsetTable) -> dict:
    return {"wnids": list(table.wnids), "names": list(table.names), "source": table.source}


@register_stage("data")
def run_data_stage(ctx: StageContext) -> dict:
    """Index CLS-LOC (and DET) records of the data root into tables."""
    root = ctx.data_root
    out = ctx.out_dir
    synsets = find_clsloc_synsets(root)
    classes = {"clsloc": _classes_spec(synsets)}
    figures: dict = {"data_root": str(root), "clsloc_classes": len(synsets)}
    ctx.logger.info("CLS-LOC classes: %d from %s", len(synsets), synsets.source)
    for split in SPLITS:
        try:
            records = load_loc_records(root, split, synsets)
        except FileNotFoundError as exc:
            ctx.logger.warning("CLS-LOC %s skipped: %s", split, exc)
            continue
        if split != "train":
            records = LocRecords(fill_image_sizes(records.images), records.boxes)
            if ctx.cfg.data.get("verify_images", True):
                records = _verify_decodable(ctx, records, split)
        write_table_atomic(records.images, loc_table_path(out, split, "images"))
        write_table_atomic(records.boxes, loc_table_path(out, split, "boxes"))
        figures[f"loc_{split}_images"] = int(len(records.images))
        figures[f"loc_{split}_boxes"] = int(len(records.boxes))
        if split == "val":
            figures["loc_val_blacklisted"] = int(records.images.blacklisted.sum())
        ctx.logger.info("CLS-LOC %-5s: %d images, %d boxes", split, len(records.images), len(records.boxes))
    if ctx.cfg.data.get("det", True) and (ilsvrc_dir(root) / "ImageSets" / "DET").is_dir():
        figures.update(_index_det(ctx, classes))
    write_json_atomic(out / "classes.json", classes)
    return figures


def _index_det(ctx: StageContext, classes: dict) -> dict:
    """DET records of every split present, written as ``det_<split>_{images,boxes}.parquet``."""
    from ..data.det_dataset import load_det_records

    det_synsets = find_det_synsets(ctx.data_root)
    classes["det"] = _classes_spec(det_synsets)
    figures = {"det_classes": len(det_synsets)}
    for split in ("train", "val", "test"):
        try:
            images, boxes = load_det_records(ctx.data_root, split, det_synsets)
        except FileNotFoundError as exc:
            ctx.logger.warning("DET %s skipped: %s", split, exc)
            continue
        write_table_atomic(images, ctx.out_dir / f"det_{split}_images.parquet")
        write_table_atomic(boxes, ctx.out_dir / f"det_{split}_boxes.parquet")
        figures[f"det_{split}_images"] = int(len(images))
        figures[f"det_{split}_boxes"] = int(len(boxes))
        ctx.logger.info("DET %-5s: %d images, %d boxes", split, len(images), len(boxes))
    return figures
