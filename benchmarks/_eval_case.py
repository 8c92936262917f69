"""Write the benchmark's seeded LOC and DET cases to disk, as a user of ``tools/evaluate.py`` has them.

The arrays come from ``bench_eval.make_loc_case`` / ``make_det_case``; here they become one
ground-truth XML per image, class lists in devkit order (not sorted), blacklists and prediction
files.  All coordinates and scores are written so they read back exactly, so the CLI must give
the very numbers the in-memory scorers give on the arrays.  Writing 70,000 files takes a while, so
a finished case is marked with a stamp and reused.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ilsvrc_pipe.submission.det_file import write_det_file
from ilsvrc_pipe.submission.loc_file import write_loc_file

STAMP = "case.json"


def _wnids(n: int, offset: int) -> list[str]:
    """Devkit order that is not sorted order: reversed runs of WNIDs."""
    return [f"n{offset + (i // 10) * 10 + (9 - i % 10):08d}" for i in range(n)]


def _write_xmls(folder: Path, stems, width, height, object_image, object_class, object_boxes, wnids) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    starts = np.searchsorted(object_image, np.arange(len(stems) + 1))
    boxes = object_boxes.astype(np.int64).tolist()
    for i, stem in enumerate(stems):
        parts = [f"<annotation>\n\t<folder>val</folder>\n\t<filename>{stem}</filename>\n"
                 f"\t<size>\n\t\t<width>{width[i]}</width>\n\t\t<height>{height[i]}</height>\n\t\t<depth>3</depth>\n\t</size>\n"]
        for j in range(starts[i], starts[i + 1]):
            x1, y1, x2, y2 = boxes[j]
            parts.append(f"\t<object>\n\t\t<name>{wnids[object_class[j] - 1]}</name>\n\t\t<pose>Unspecified</pose>\n"
                         f"\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
                         f"\t\t\t<xmin>{x1}</xmin>\n\t\t\t<ymin>{y1}</ymin>\n\t\t\t<xmax>{x2}</xmax>\n"
                         f"\t\t\t<ymax>{y2}</ymax>\n\t\t</bndbox>\n\t</object>\n")
        (folder / f"{stem}.xml").write_text("".join(parts) + "</annotation>\n")


def _sizes(n_images, rng_seed):
    rng = np.random.default_rng(rng_seed)
    return rng.integers(500, 700, n_images), rng.integers(500, 700, n_images)  # >= every box


def write_loc_case(folder: Path, case: dict) -> dict:
    """``loc/``: Annotations/*.xml, synsets.txt, blacklist.txt, pred.txt; returns the CLI arguments."""
    n = len(case["gt_class"])
    wnids = _wnids(1000, 1_000_000)
    stems = [f"ILSVRC2012_val_{i:08d}" for i in range(1, n + 1)]
    width, height = _sizes(n, 1)
    _write_xmls(folder / "Annotations", stems, width, height, case["object_image"], case["object_class"],
                case["object_boxes"], wnids)
    (folder / "synsets.txt").write_text("".join(f"{w} {i} class_{i}\n" for i, w in enumerate(wnids, 1)))
    (folder / "blacklist.txt").write_text("".join(f"{b}\n" for b in case["blacklist"].tolist()))
    write_loc_file(folder / "pred.txt", case["pred_labels"], case["pred_boxes"])
    return {"--gt-xml-dir": folder / "Annotations", "--synsets": folder / "synsets.txt",
            "--blacklist": folder / "blacklist.txt", "--pred": folder / "pred.txt"}


def write_det_case(folder: Path, case: dict) -> dict:
    """``det/``: Annotations/*.xml, map_det.txt, val.txt, blacklist.txt, pred.txt; returns the CLI arguments."""
    index = case["image_index"]
    wnids = _wnids(200, 2_000_000)
    stems = [f"ILSVRC{2012 + (i % 2)}_val_{i:08d}" for i in index.tolist()]  # both prefixes occur
    width, height = _sizes(len(index), 2)
    _write_xmls(folder / "Annotations", stems, width, height, case["object_image"], case["object_class"],
                case["object_boxes"], wnids)
    (folder / "map_det.txt").write_text("".join(f"{w} {i} class_{i}\n" for i, w in enumerate(wnids, 1)))
    (folder / "val.txt").write_text("".join(f"{s} {i}\n" for s, i in zip(stems, index.tolist())))
    (folder / "blacklist.txt").write_text("".join(f"{i} {wnids[c - 1]}\n" for i, c in case["blacklist"].tolist()))
    write_det_file(folder / "pred.txt", case["det_image_index"], case["det_class"], case["det_score"], case["det_boxes"])
    return {"--gt-xml-dir": folder / "Annotations", "--synsets": folder / "map_det.txt",
            "--image-list": folder / "val.txt", "--blacklist": folder / "blacklist.txt", "--pred": folder / "pred.txt"}


def ensure_case(folder: Path, loc_case: dict, det_case: dict, key: dict) -> dict:
    """Write both cases under ``folder`` unless a stamp with the same ``key`` says they are there."""
    stamp = folder / STAMP
    if stamp.is_file():
        saved = json.loads(stamp.read_text())
        if saved.get("key") == key:
            return {task: {k: Path(v) for k, v in args.items()} for task, args in saved["args"].items()}
    args = {"loc": write_loc_case(folder / "loc", loc_case), "det": write_det_case(folder / "det", det_case)}
    stamp.write_text(json.dumps({"key": key, "args": {t: {k: str(v) for k, v in a.items()} for t, a in args.items()}}))
    return args
