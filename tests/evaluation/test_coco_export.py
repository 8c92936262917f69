"""``tools/evaluate.py det --coco-out``: pycocotools itself reads the exports and, on a case where
interpolation cannot matter (every object found, every false positive ranked below the last true
positive), its AP@0.5 equals the official rule's AP class by class."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

from ilsvrc_pipe.evaluation.coco_export import coco_box  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WNIDS = ["n01000001", "n01000002", "n01000003"]

# (stem, width, height, [(class id, inclusive box)])
IMAGES = [
    ("img_a", 120, 90, [(1, (10, 10, 49, 39)), (2, (60, 20, 100, 80))]),
    ("img_b", 64, 64, [(1, (0, 0, 63, 63))]),
    ("img_c", 200, 100, [(3, (5, 5, 12, 12)), (3, (150, 40, 190, 90)), (2, (30, 30, 70, 70))]),  # 8x8 small object
    ("img_d", 80, 80, [(1, (20, 20, 40, 40))]),          # image 4 class 1 is blacklisted
    ("img_e", 100, 100, []),                              # no objects
]


def load_tool():
    spec = importlib.util.spec_from_file_location("evaluate_tool", REPO / "tools" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def det_case(tmp_path, write_xml):
    xml_dir = tmp_path / "xml"
    for stem, w, h, objects in IMAGES:
        write_xml(xml_dir, stem, [(WNIDS[c - 1], box) for c, box in objects], width=w, height=h)
    (tmp_path / "synsets.txt").write_text("".join(f"{w} class {k}\n" for k, w in enumerate(WNIDS, 1)))
    (tmp_path / "list.txt").write_text("".join(f"{stem} {i}\n" for i, (stem, *_) in enumerate(IMAGES, 1)))
    (tmp_path / "blacklist.txt").write_text(f"4 {WNIDS[0]}\n")
    lines = []
    for i, (_, w, h, objects) in enumerate(IMAGES, 1):
        for k, (c, box) in enumerate(objects):
            lines.append((i, c, 0.9 - 0.01 * k - 0.05 * i, box))            # every object found exactly
        lines.append((i, 1, 0.01 * i, (0, 0, w - 1, h - 1)))                  # low false positives
    lines.append((4, 1, 0.99, (0, 0, 10, 10)))                                # on the blacklisted pair: ignored
    pred = tmp_path / "pred.txt"
    pred.write_text("".join(f"{i} {c} {s:.4f} {' '.join(str(v) for v in b)}\n" for i, c, s, b in lines))
    return tmp_path, pred


def _run(tmp_path, pred, out):
    tool = load_tool()
    return tool.main(["det", "--pred", str(pred), "--gt-xml-dir", str(tmp_path / "xml"), "--synsets",
                      str(tmp_path / "synsets.txt"), "--image-list", str(tmp_path / "list.txt"), "--blacklist",
                      str(tmp_path / "blacklist.txt"), "--json-out", str(tmp_path / "devkit.json"),
                      "--coco-out", str(out)])


def test_pycocotools_reads_the_exports_and_agrees_when_interpolation_cannot_matter(det_case):
    tmp_path, pred = det_case
    out = tmp_path / "coco"
    assert _run(tmp_path, pred, out) == 0
    devkit = json.loads((tmp_path / "devkit.json").read_text())
    gt = COCO(str(out / "ground_truth.json"))
    dets = gt.loadRes(str(out / "results.json"))
    ev = COCOeval(gt, dets, "bbox")
    ev.params.iouThrs = np.array([0.5])
    ev.evaluate()
    ev.accumulate()
    precision = ev.eval["precision"][0, :, :, 0, -1]  # (recall points, classes), area all, maxDets 100
    per_class = {cid: float(precision[:, k].mean()) for k, cid in enumerate(ev.params.catIds)}
    for cid, ap in devkit["ap"].items():
        assert per_class[int(cid)] == pytest.approx(ap, abs=1e-12)
    assert float(np.mean(list(per_class.values()))) == pytest.approx(devkit["mAP"], abs=1e-12) == 1.0


def test_ground_truth_layout(det_case):
    tmp_path, pred = det_case
    out = tmp_path / "coco"
    assert _run(tmp_path, pred, out) == 0
    truth = json.loads((out / "ground_truth.json").read_text())
    assert [(i["id"], i["file_name"], i["width"], i["height"]) for i in truth["images"]] == [
        (k, f"{stem}.JPEG", w, h) for k, (stem, w, h, _) in enumerate(IMAGES, 1)]
    assert [(c["id"], c["name"], c["synset_name"]) for c in truth["categories"]] == [
        (k, w, f"class {k}") for k, w in enumerate(WNIDS, 1)]
    plain = [a for a in truth["annotations"] if not a["iscrowd"]]
    crowd = [a for a in truth["annotations"] if a["iscrowd"]]
    assert len(plain) == 6 and [(a["image_id"], a["category_id"], a["bbox"]) for a in crowd] == [(4, 1, [0, 0, 80, 80])]
    small = next(a for a in plain if a["image_id"] == 3 and a["category_id"] == 3)
    assert small["bbox"] == [5, 5, 8, 8] and small["area"] == 64  # inclusive pixels: x2 - x1 + 1
    results = json.loads((out / "results.json").read_text())
    assert len(results) == len(pred.read_text().splitlines())
    assert {"image_id", "category_id", "bbox", "score"} <= set(results[0])


def test_coco_box_keeps_the_devkit_iou():
    from ilsvrc_pipe.ops.boxes import box_iou

    a, b = np.array([[10.0, 10, 49, 39]]), np.array([[20.0, 15, 60, 45]])
    (x, y, w, h), (u, v, p, q) = coco_box(a)[0], coco_box(b)[0]
    inter = max(0, min(x + w, u + p) - max(x, u)) * max(0, min(y + h, v + q) - max(y, v))
    assert inter / (w * h + p * q - inter) == pytest.approx(float(box_iou(a, b)[0, 0]))
    assert coco_box(np.array([[50.0, 5, 40, 9]])).tolist() == [[50, 5, 0, 5]]  # inverted: width 0
