"""DET ground truth and detections as COCO JSON, so pycocotools, FiftyOne or mmdetection's tools read them.

The two rule sets differ (README, "COCO export"); the export is written so that the differences
that *can* be expressed in COCO's format are, and the rest are documented, not hidden:

* ids: ``image_id`` is the image's official list index (``val.txt`` column 2, the number a devkit
  DET file uses), ``category_id`` the devkit DET id (1..200); categories are named by WNID
  (``name``), with the human-readable name beside it (``synset_name``);
* boxes: the devkit's boxes are inclusive pixel boxes (pixel ``x2`` belongs to the box, width
  ``x2 - x1 + 1``); COCO's ``[x, y, w, h]`` are continuous. The export writes
  ``[x1, y1, x2 - x1 + 1, y2 - y1 + 1]`` for both ground truth and detections, so COCO's IoU of two
  exported boxes equals the devkit's IoU of the originals exactly, and ``area`` is the devkit's
  ``w * h``. An inverted ground-truth box (``x2 < x1``) gets width 0: it can match nothing, in
  either scorer, and still counts as a positive;
* blacklist: the devkit ignores blacklisted (image, class) pairs entirely (their objects and
  detections). COCO ignores detections matched to a crowd region, so each blacklisted pair becomes
  one whole-image ``iscrowd=1`` annotation of that class (and its objects are left out). All other
  annotations have ``iscrowd=0``.

Not expressible, hence documented: COCO's fixed IoU threshold (the devkit lowers it to
``min(0.5, wh / ((w+10)(h+10)))`` for small objects), 101-point interpolated AP (the devkit's is
VOC's all-points AP) and ``maxDets`` (at most 100 detections per image; the devkit has no cap).
"""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data.synsets import SynsetTable
from ..submission.det_file import DetSubmission
from ..utils.errors import DataFormatError
from ..utils.io_utils import write_text_atomic
from .ground_truth import DetGroundTruth

IMAGE_SUFFIX = ".JPEG"  # ILSVRC image files are <stem>.JPEG under Data/DET/<split>/


def coco_box(boxes: np.ndarray) -> np.ndarray:
    """Inclusive ``[x1, y1, x2, y2]`` -> COCO ``[x, y, w, h]`` with ``w = x2 - x1 + 1`` (never negative)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    wh = np.maximum(boxes[:, 2:] - boxes[:, :2] + 1.0, 0.0)
    return np.concatenate([boxes[:, :2], wh], axis=1)


def _size_from_xml(path: str) -> tuple[int, int] | None:
    try:
        size = ET.parse(path).getroot().find("size")
    except (OSError, ET.ParseError):
        return None
    try:
        return int(float(size.find("width").text)), int(float(size.find("height").text))
    except (AttributeError, TypeError, ValueError):
        return None


def image_sizes(xml_dir: str | os.PathLike, stems: list[str],
                image_dir: str | os.PathLike | None = None) -> list[tuple[int, int]]:
    """(width, height) of each listed image: its XML's ``<size>``, else the image file's header in
    ``image_dir`` (when given); an image with neither is an error naming its XML."""
    from ..data.images import image_size

    sizes = []
    for stem in tqdm(stems, desc="image sizes", unit="xml", leave=False, disable=len(stems) < 1000):
        xml = os.path.join(os.fspath(xml_dir), f"{stem}.xml")
        size = _size_from_xml(xml)
        if size is None and image_dir is not None and (Path(image_dir) / f"{stem}{IMAGE_SUFFIX}").is_file():
            size = image_size(Path(image_dir) / f"{stem}{IMAGE_SUFFIX}")
        if size is None:
            raise DataFormatError(f"{xml}: no readable <size><width>/<height>; COCO ground truth needs each "
                                  "image's size")
        sizes.append(size)
    return sizes


def coco_categories(synsets: SynsetTable) -> list[dict]:
    return [{"id": synsets.id_of(w), "name": w, "synset_name": synsets.name_of(w), "supercategory": "ilsvrc_det"}
            for w in synsets.wnids]


def coco_ground_truth(gt: DetGroundTruth, synsets: SynsetTable, sizes: list[tuple[int, int]]) -> dict:
    """COCO ground truth of the scored images (see the module docstring for ids, boxes, blacklist)."""
    images = [{"id": int(index), "file_name": f"{stem}{IMAGE_SUFFIX}", "width": int(w), "height": int(h)}
              for stem, index, (w, h) in zip(gt.stems, gt.image_index.tolist(), sizes)]
    black = {(int(i), int(c)) for i, c in np.asarray(gt.blacklist, dtype=np.int64).reshape(-1, 2).tolist()}
    listed = {int(i) for i in gt.image_index.tolist()}
    annotations = []
    boxes = coco_box(gt.object_boxes)
    for pos, cid, box in zip(gt.object_image.tolist(), gt.object_class.tolist(), boxes.tolist()):
        index = int(gt.image_index[pos])
        if (index, cid) in black:
            continue
        annotations.append({"image_id": index, "category_id": int(cid), "bbox": box,
                            "area": box[2] * box[3], "iscrowd": 0})
    size_of = {img["id"]: (img["width"], img["height"]) for img in images}
    for index, cid in sorted(black):
        if index in listed:
            w, h = size_of[index]
            annotations.append({"image_id": index, "category_id": cid, "bbox": [0.0, 0.0, float(w), float(h)],
                                "area": float(w * h), "iscrowd": 1, "ilsvrc_blacklisted": True})
    for k, ann in enumerate(annotations, 1):
        ann["id"] = k
    return {"info": {"description": "ILSVRC DET ground truth exported by ilsvrc_pipe",
                     "box_convention": "bbox [x1, y1, x2 - x1 + 1, y2 - y1 + 1] of the devkit's inclusive boxes"},
            "images": images, "annotations": annotations, "categories": coco_categories(synsets)}


def coco_results(detections: DetSubmission, num_classes: int) -> list[dict]:
    """COCO results of a DET file (classes outside ``1..num_classes`` left out, as COCO knows none)."""
    keep = (detections.class_id >= 1) & (detections.class_id <= num_classes)
    boxes = coco_box(detections.boxes[keep])
    return [{"image_id": int(i), "category_id": int(c), "bbox": b, "score": float(s)}
            for i, c, s, b in zip(detections.image_index[keep].tolist(), detections.class_id[keep].tolist(),
                                  detections.score[keep].tolist(), boxes.tolist())]


def write_coco_exports(out_dir: str | os.PathLike, detections: DetSubmission, gt: DetGroundTruth,
                       synsets: SynsetTable, xml_dir: str | os.PathLike,
                       image_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """``out_dir/ground_truth.json`` and ``out_dir/results.json``; returns their paths.

    Detections of images outside the ground truth's list are left out (COCO refuses them)."""
    out = Path(out_dir)
    listed = np.isin(detections.image_index, gt.image_index)
    dets = DetSubmission(detections.image_index[listed], detections.class_id[listed], detections.score[listed],
                         detections.boxes[listed])
    paths = {"ground_truth": out / "ground_truth.json", "results": out / "results.json"}
    truth = coco_ground_truth(gt, synsets, image_sizes(xml_dir, gt.stems, image_dir))
    write_text_atomic(paths["ground_truth"], _compact(truth))
    write_text_atomic(paths["results"], _compact(coco_results(dets, len(synsets))))
    return paths


def _compact(obj) -> str:
    """One-line JSON: a million detections indented would be ten million lines."""
    return json.dumps(obj, separators=(",", ":")) + "\n"
