"""The eval stage's HTML report on a tiny hand-built work dir: every table is there, every image it
shows is a valid embedded PNG, every link points at a file, and the page names real numbers."""
from __future__ import annotations

import base64
import json
import logging
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
from mmengine.config import Config
from PIL import Image

from ilsvrc_pipe.artifacts.paths import Artifacts
from ilsvrc_pipe.data.synsets import SynsetTable
from ilsvrc_pipe.engine.rows import loc_row_files
from ilsvrc_pipe.engine.stage import DeclaredConfig, StageContext
from ilsvrc_pipe.evaluation.det import evaluate_det
from ilsvrc_pipe.evaluation.ground_truth import DetGroundTruth, LocGroundTruth
from ilsvrc_pipe.stages.evaluate import EvaluateStage, score_row_files
from ilsvrc_pipe.submission.det_file import read_det_file, write_det_file
from ilsvrc_pipe.submission.loc_file import write_gt_class_loc_file, write_loc_file

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = {"cls-table", "paper-table4", "table13", "table9", "class-ap", "fp-diagnosis", "loc-worst", "det-fps",
          "submissions", "run-facts", "stages", "versions", "config-diff"}
CLSLOC = SynsetTable(("n01", "n02"), ("alpha", "beta"))
DET = SynsetTable(("n11", "n12"), ("gamma", "delta"))
BOX = [10.0, 10.0, 49.0, 49.0]


def _images(art, task: str, split: str, stems: list[str], extra: dict) -> None:
    paths = []
    for s in stems:
        paths.append(art.work_dir / "images" / f"{s}.png")
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (120, 140, 160)).save(paths[-1])
    images = pd.DataFrame({"image_id": stems, "index": np.arange(1, len(stems) + 1), "path": [str(p) for p in paths],
                           "width": 64, "height": 64, **extra})
    art.write_records(task, split, images, pd.DataFrame(columns=["image_id", "wnid", "x1", "y1", "x2", "y2"]))


def _loc(art) -> None:
    """Four val images (classes 1, 2, 1, 2; one object each at BOX); the last one blacklisted."""
    stems = [f"val_{i}" for i in range(1, 5)]
    gt = LocGroundTruth(stems, np.array([1, 2, 1, 2]), np.arange(4), np.array([1, 2, 1, 2]),
                        np.array([BOX] * 4), np.array([4]))
    art.write_ground_truth("loc", "val", gt)
    _images(art, "loc", "val", stems, {"wnid": ["n01", "n02", "n01", "n02"]})
    far = [40.0, 40.0, 63.0, 63.0]
    guesses = {"rpn_dense": ([[1, 2], [1, 2], [2, 1], [1, 2]], [[BOX, far], [BOX, BOX], [far, far], [BOX, BOX]]),
               "baseline_full_image": ([[1, 2]] * 4, [[[0, 0, 63, 63]] * 2] * 4)}
    rows = {}
    for name, (labels, boxes) in guesses.items():
        files = loc_row_files(art, name)
        write_loc_file(files["top5"], np.array(labels), np.array(boxes))
        write_gt_class_loc_file(files["gt_class"], gt.class_ids, {(i, int(c)): np.array(boxes)[i, 0]
                                                                  for i, c in enumerate(gt.class_ids)})
        rows[name] = score_row_files(files, gt, CLSLOC)
    subs = {"val": art.submission("loc_val.txt"), "val_gt_class": art.submission("loc_val_gt_class.txt")}
    subs["val"].parent.mkdir(parents=True, exist_ok=True)
    subs["val"].write_bytes(Path(rows["rpn_dense"]["files"]["top5"]).read_bytes())
    subs["val_gt_class"].write_bytes(Path(rows["rpn_dense"]["files"]["gt_class"]).read_bytes())
    art.write_metrics("loc", {"best_row": "rpn_dense", "rows": rows, "submissions": {k: str(v) for k, v in subs.items()}})


def _det(art) -> None:
    """Two val2 images; a baseline and an ensemble row with a true positive, a duplicate, a background
    false positive and a confusion."""
    gt = DetGroundTruth(["d_1", "d_2"], np.array([5, 9]), np.array([0, 1]), np.array([1, 2]),
                        np.array([BOX, BOX]), np.zeros((0, 2), np.int64))
    art.write_ground_truth("det", "val2", gt)
    _images(art, "det", "val2", gt.stems, {})
    rows = {}
    for name in ("baseline", "ensemble"):
        path = art.det_row_file(name, "val2")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_det_file(path, [5, 5, 9, 9], [1, 1, 1, 2], [0.9, 0.8, 0.7, 0.6], [BOX, BOX, BOX, [0, 0, 5, 5]])
        res = evaluate_det(read_det_file(path), gt)
        rows[name] = {"mAP": res["mAP"], "ap": res["ap"], "models": ["det_a"], "file": str(path)}
    sub = art.submission("det_val2.txt")
    sub.write_bytes(art.det_row_file("ensemble", "val2").read_bytes())
    art.write_metrics("det", {"mAP": rows["ensemble"]["mAP"], "best_row": "ensemble", "split": "val2", "rows": rows,
                              "files": {"val2": str(sub)}})


def build_work_dir(tmp_path: Path) -> Artifacts:
    art = Artifacts(tmp_path / "work", tmp_path / "subs")
    art.stage_dir("data").mkdir(parents=True)
    art.write_classes({"clsloc": CLSLOC, "det": DET})
    errors = {"top1_error": 0.25, "top5_error": 0.0}
    art.write_metrics("cls", {"models": {"resnet18_w025": {m: errors for m in ("center", "ten_crop", "dense")}},
                              "ensemble": errors, "ensemble_mode": "dense", "members": ["resnet18_w025"]})
    _loc(art)
    _det(art)
    art.manifest("cls").write_text(json.dumps({"stage": "cls", "finished": "2020-01-01T00:00:00", "seconds": 12.5}))
    return art


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images, self.links = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.add(attrs.get("id"))
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a" and not attrs["href"].startswith("#"):
            self.links.append(attrs["href"])


def test_the_report_holds_every_table_and_only_images_that_exist(tmp_path):
    art = build_work_dir(tmp_path)
    stage = EvaluateStage()
    ctx = StageContext(DeclaredConfig(Config.fromfile(str(REPO_ROOT / "configs/mini/smoke.py")), stage.reads, "eval"),
                       tmp_path, art, "eval", logging.getLogger("test"))
    figures = stage.run(ctx)
    assert figures["report"] == str(art.report_html())
    text = art.report_html().read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    assert TABLES <= page.tables, TABLES - page.tables
    # failure bins, error bars, per-class AP, PR curves, FP causes, two contact sheets (the loc stage's IoU
    # histogram is not in this hand-built work dir: a note says so)
    assert len(page.images) == 7 and "IoU histogram: not available" in text
    for src in page.images:
        if src.startswith("data:"):
            head, payload = src.split(",", 1)
            assert head == "data:image/png;base64"
            assert base64.b64decode(payload, validate=True)[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert (art.report_html().parent / src).is_file(), src
    assert {Path(h).name for h in page.links} == {"loc_val.txt", "loc_val_gt_class.txt", "det_val2.txt"}
    for href in page.links:
        assert (art.report_html().parent / href).is_file(), href
    # the run's numbers and the paper's stand side by side; the diagnosis names its causes
    assert "ResNet-152" in text and "11.7" in text and "14.4" in text and "48.4" in text
    assert "duplicate" in text and "background" in text and "val_3" in text and "d_1" in text
    assert "reused from cache" in text and "12.5" in text
