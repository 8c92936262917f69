"""Stage ``data``: index the data root once into the tables and ground truth every later stage reads.

Writes (names in ``artifacts/paths.py``): the CLS-LOC record tables of train/val/test, the DET ones of
every split present (train, val, val1, val2, test) with the per-class train list labels (1 positive,
0 partially boxed, -1 verified negative), the class lists, and the val ground truth of LOC (and of DET val, val1, val2)
as arrays, so that no later stage parses an XML again.

``data.max_images`` caps the images of each split (``data/subset.py`` says which stay): the cut is
made right after indexing, before any image is decoded or any table written, and the tables, the
DET train list labels and the ground truths all hold the kept images only; one log line per capped
split says how many were kept.

The stage runs once per run, whatever the number of processes: under torchrun rank 0 indexes
while the other ranks wait, and the XMLs and image headers are read by a pool of processes
(``data/file_pool.py``) with the answers, warnings and errors of a loop over the lists.

Every val/test image is decoded once. A corrupt one fails the stage, or, with
``data.skip_corrupt_images``, stays in the records flagged ``corrupt`` (the devkit needs one line per
image): it gets whole-image guesses (LOC) and no detections (DET), with a warning naming the file.
"""
from __future__ import annotations

import numpy as np

from ..config.options import config_flag
from ..data.class_lists import check_class_lists_agree
from ..data.det_records import check_det_blacklist, load_det_records, read_det_train_lists
from ..data.det_val_halves import det_val_halves_note
from ..data.image_headers import READ, read_image_sizes
from ..data.images import image_size, load_rgb
from ..data.loc_records import SPLITS, LocRecords, load_loc_records
from ..data.subset import SplitCut, cut_det_records, cut_loc_records, image_caps, keep_listed
from ..data.synsets import find_clsloc_synsets, find_det_synsets, ilsvrc_dir
from ..engine.stage import Stage, StageContext, register_stage
from ..evaluation.ground_truth import (
    load_det_ground_truth,
    load_loc_ground_truth,
    subset_det_ground_truth,
    subset_loc_ground_truth,
)
from ..utils.distributed import run_on_main_only
from ..utils.errors import DataFormatError, ImageDecodeError
from ..utils.io_utils import write_table_atomic


def flag_corrupt_images(ctx: StageContext, images, split: str, task: str):
    """Decode every image once (filling unknown sizes); add a ``corrupt`` column, which is only ever
    set when the config allows skipping corrupt images (otherwise the first one fails the stage).

    With ``verify_images`` off only the headers of images of unknown size are read; a corrupt
    header is then skipped (or fails the stage) by the same rule. The images are read on all CPUs
    (``data/image_headers.py``); those the workers cannot read are read again here, in list order,
    so the first corrupt one fails the stage, or each one is skipped with its warning, as in a loop."""
    skip = config_flag(ctx.cfg.data, "skip_corrupt_images", False, "data.")
    verify = config_flag(ctx.cfg.data, "verify_images", True, "data.")
    images = images.copy()
    corrupt = np.zeros(len(images), dtype=bool)
    width, height = images.width.to_numpy().copy(), images.height.to_numpy().copy()
    todo = np.arange(len(images)) if verify else np.flatnonzero((width < 0) | (height < 0))
    paths = images.path.to_numpy()
    read = read_image_sizes([paths[i] for i in todo], decode=verify,
                            desc=f"{'decode' if verify else 'size'} {task} {split}")
    sizes = {int(i): tuple(size) for i, size, status in zip(todo, read.sizes.tolist(), read.status) if status == READ}
    for k in read.again:
        i = todo[k]
        try:
            sizes[int(i)] = load_rgb(paths[i]).size if verify else image_size(paths[i])
        except ImageDecodeError as exc:
            if not skip:
                raise
            corrupt[i] = True
            ctx.logger.warning("corrupt %s %s image kept with %s: %s", task, split,
                               "whole-image guesses" if task == "loc" else "no detections", exc)
    for i, size in sizes.items():
        if width[i] < 0 or height[i] < 0:
            width[i], height[i] = size
    images["width"], images["height"] = width, height
    images["corrupt"] = corrupt
    return images


def note_cut(ctx: StageContext, cut: SplitCut, figures: dict, task: str) -> None:
    """The log line of a capped split, and its listed count beside its kept one in the figures."""
    ctx.logger.info("%s", cut.note())
    figures[f"{task}_{cut.split}_images_listed"] = cut.total


@register_stage
class DataStage(Stage):
    """Index CLS-LOC (and DET) records and val ground truth of the data root."""

    name = "data"
    reads = ("data",)

    def run(self, ctx: StageContext) -> dict:
        """Index once per run: under torchrun rank 0 indexes and writes alone while the other ranks
        wait (they read the written artifacts in the stages after this one); all return its figures."""
        return run_on_main_only(lambda: self._index(ctx))

    def _index(self, ctx: StageContext) -> dict:
        root, art = ctx.data_root, ctx.artifacts
        caps = image_caps(ctx.cfg.data)
        check_class_lists_agree(root, "clsloc")
        synsets = find_clsloc_synsets(root)
        tables = {"clsloc": synsets}
        figures: dict = {"data_root": str(root), "clsloc_classes": len(synsets)}
        ctx.logger.info("CLS-LOC classes: %d from %s", len(synsets), synsets.source)
        for split in SPLITS:
            try:
                records = load_loc_records(root, split, synsets)
            except FileNotFoundError as exc:
                ctx.logger.warning("CLS-LOC %s skipped: %s", split, exc)
                continue
            gt = self._loc_ground_truth(ctx, records) if split == "val" else None
            records, cut = cut_loc_records(records, split, caps)
            if cut is not None:
                note_cut(ctx, cut, figures, "loc")
                if gt is not None and cut.dropped:
                    gt = subset_loc_ground_truth(gt, records.images.image_id)
            images = records.images
            if split != "train":
                images = flag_corrupt_images(ctx, images, split, "loc")
                figures[f"loc_{split}_corrupt"] = int(images.corrupt.sum())
            else:
                images = images.assign(corrupt=False)
            art.write_records("loc", split, images, records.boxes)
            figures[f"loc_{split}_images"] = int(len(images))
            figures[f"loc_{split}_boxes"] = int(len(records.boxes))
            if split == "val":
                figures["loc_val_blacklisted"] = int(images.blacklisted.sum())
                if gt is not None:
                    art.write_ground_truth("loc", "val", gt)
            ctx.logger.info("CLS-LOC %-5s: %d images, %d boxes", split, len(images), len(records.boxes))
        if config_flag(ctx.cfg.data, "det", True, "data.") and (ilsvrc_dir(root) / "ImageSets" / "DET").is_dir():
            figures.update(self._index_det(ctx, tables, caps))
        art.write_classes(tables)
        return figures

    @staticmethod
    def _loc_ground_truth(ctx: StageContext, val: LocRecords):
        """The LOC val ground truth of all val images (None, with a warning, without val XMLs),
        checked against the val records before any cut."""
        xml_dir = ilsvrc_dir(ctx.data_root) / "Annotations" / "CLS-LOC" / "val"
        if not xml_dir.is_dir():
            ctx.logger.warning("no %s: LOC val ground truth not written (LOC scoring needs the val XMLs)", xml_dir)
            return None
        gt = load_loc_ground_truth(data_root=ctx.data_root, split="val")
        if list(val.images.image_id) != list(gt.stems):
            raise DataFormatError(f"{xml_dir}: the val XMLs are not the val images of the image list "
                             f"({len(gt.stems)} XMLs, {len(val.images)} images)")
        return gt

    @staticmethod
    def _index_det(ctx: StageContext, tables: dict, caps: dict | None = None) -> dict:
        """DET records of every split present, and the ground truth of val, val1 and val2 (whose list
        files, and a derived val1, ``det_val_halves`` resolves; one log line says which), all cut
        to ``caps`` (default: those of the config)."""
        caps = image_caps(ctx.cfg.data) if caps is None else caps
        check_class_lists_agree(ctx.data_root, "det")
        det_synsets = find_det_synsets(ctx.data_root)
        check_det_blacklist(ctx.data_root)
        try:
            ctx.logger.info("%s", det_val_halves_note(ctx.data_root))
        except FileNotFoundError as exc:
            ctx.logger.warning("DET val1/val2 skipped: %s", exc)
        tables["det"] = det_synsets
        figures = {"det_classes": len(det_synsets)}
        records = {}
        for split in ("train", "val", "val1", "val2", "test"):
            # test images have no XML to give their sizes: under a cap, flag_corrupt_images reads
            # them for the kept images alone, not for all of a real test set's 51k headers
            header_sizes = not (split == "test" and "det_test" in caps)
            try:
                records[split] = load_det_records(ctx.data_root, split, det_synsets, sizes_from_images=header_sizes)
            except FileNotFoundError as exc:
                ctx.logger.warning("DET %s skipped: %s", split, exc)
        records, cuts = cut_det_records(records, caps)
        for split, (images, boxes) in records.items():
            if split in cuts:
                note_cut(ctx, cuts[split], figures, "det")
            images = flag_corrupt_images(ctx, images, split, "det") if split != "train" else images.assign(corrupt=False)
            ctx.artifacts.write_records("det", split, images, boxes)
            figures[f"det_{split}_images"] = int(len(images))
            figures[f"det_{split}_boxes"] = int(len(boxes))
            ctx.logger.info("DET %-5s: %d images, %d boxes", split, len(images), len(boxes))
        if ctx.artifacts.has_records("det", "train"):
            lists = read_det_train_lists(ctx.data_root, det_synsets)
            if "train" in cuts and cuts["train"].dropped:
                lists = keep_listed(lists, records["train"].images.image_id)
            write_table_atomic(lists, ctx.artifacts.det_train_lists())
        for split in ("val", "val1", "val2"):
            try:
                gt = load_det_ground_truth(data_root=ctx.data_root, split=split)
            except FileNotFoundError as exc:
                ctx.logger.warning("DET %s ground truth skipped: %s", split, exc)
                continue
            if split in cuts and cuts[split].dropped:
                gt = subset_det_ground_truth(gt, records[split].images["index"])
            ctx.artifacts.write_ground_truth("det", split, gt)
        return figures
