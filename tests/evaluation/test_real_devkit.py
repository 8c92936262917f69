"""Scoring with the real devkit's ``meta_det.mat`` / ``meta_clsloc.mat`` (``tests/fixtures/real_devkit/``).

A class list read from the devkit's ``.mat`` must score exactly like the map file that lists the same
classes (``map_det.txt`` / ``map_clsloc.txt``): same AP per class, same LOC errors, through the library
and through ``tools/evaluate.py``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from ilsvrc_pipe.data.synsets import read_synsets
from ilsvrc_pipe.evaluation.det import evaluate_det
from ilsvrc_pipe.evaluation.ground_truth import load_det_ground_truth, load_loc_ground_truth
from ilsvrc_pipe.evaluation.loc import evaluate_loc_file
from ilsvrc_pipe.submission.det_file import read_det_file

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "fixtures" / "real_devkit"


def _rows(mat_path: Path, count: int) -> list[tuple[str, int, str]]:
    """(wnid, id, name) of the first ``count`` synsets, read with scipy alone."""
    synsets = scipy.io.loadmat(str(mat_path), squeeze_me=True)["synsets"]
    id_field, name_field = synsets.dtype.names[0], ("name" if "name" in synsets.dtype.names else "words")
    return [(str(s["WNID"]), int(s[id_field]), str(s[name_field])) for s in synsets[:count]]


def _write_map(path: Path, rows) -> Path:
    path.write_text("".join(f"{wnid} {cid} {name}\n" for wnid, cid, name in rows))
    return path


@pytest.fixture
def det_case(tmp_path, write_xml):
    """Four val images with objects of DET ids 1, 2 (airplane: has children in the file), 26, 59, 200;
    a detections file with hits, misses and a duplicate; ``map_det.txt`` from the mat's first 200 rows."""
    rows = _rows(REAL / "meta_det.mat", 200)
    wnid = {cid: w for w, cid, _ in rows}
    xml_dir, stems = tmp_path / "Annotations", [f"ILSVRC2013_val_{i:08d}" for i in range(1, 5)]
    objects = [[(wnid[1], (10, 10, 109, 109)), (wnid[2], (200, 200, 399, 299))],
               [(wnid[2], (0, 0, 249, 249))],
               [(wnid[26], (50, 60, 149, 159)), (wnid[59], (300, 300, 449, 479))],
               [(wnid[200], (20, 30, 219, 229)), (wnid[1], (300, 10, 399, 99))]]
    for stem, objs in zip(stems, objects):
        write_xml(xml_dir, stem, objs)
    image_list = tmp_path / "val.txt"
    image_list.write_text("".join(f"{s} {i}\n" for i, s in enumerate(stems, 1)))
    pred = tmp_path / "pred.txt"
    pred.write_text("1 1 0.9 10 10 109 109\n1 1 0.8 12 10 109 109\n1 2 0.7 200 200 399 299\n"
                    "2 2 0.95 100 100 249 249\n3 26 0.6 50 60 149 159\n3 59 0.4 0 0 40 40\n"
                    "4 200 0.85 20 30 219 229\n4 1 0.3 300 10 399 99\n4 1 0.99 0 300 50 350\n")
    return {"xml_dir": xml_dir, "image_list": image_list, "pred": pred,
            "map": _write_map(tmp_path / "map_det.txt", rows)}


def _score_det(case, synsets_path):
    synsets = read_synsets(synsets_path)
    gt = load_det_ground_truth(case["xml_dir"], synsets, case["image_list"])
    detections = read_det_file(case["pred"], num_classes=len(synsets), image_indices=gt.image_index)
    return evaluate_det(detections, gt)


def test_real_meta_det_scores_exactly_like_its_map_det(det_case):
    from_mat = _score_det(det_case, REAL / "meta_det.mat")
    from_map = _score_det(det_case, det_case["map"])
    assert from_mat["ap"] == from_map["ap"] and from_mat["mAP"] == from_map["mAP"]
    assert set(from_mat["ap"]) == set(range(1, 201))  # classes 1..largest id in the ground truth, as the devkit
    assert {c for c, n in from_mat["npos"].items() if n} == {1, 2, 26, 59, 200}
    assert from_mat["ap"][26] == 1.0 and from_mat["ap"][59] == 0.0 and 0.0 < from_mat["ap"][1] < 1.0


def test_evaluate_cli_scores_det_with_the_real_meta_det(det_case, capsys, tool_module):
    code = tool_module("evaluate").main(["det", "--pred", str(det_case["pred"]), "--gt-xml-dir", str(det_case["xml_dir"]),
                              "--synsets", str(REAL / "meta_det.mat"), "--image-list", str(det_case["image_list"])])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "accordion" in captured.out and "mAP" in captured.out


@pytest.fixture
def loc_case(tmp_path, write_xml):
    """Five val images of CLS-LOC ids 1, 2, 500, 1000, 2; guesses right, wrong and mislocated;
    ``map_clsloc.txt`` from the mat's first 1000 rows."""
    rows = _rows(REAL / "meta_clsloc.mat", 1000)
    wnid = {cid: w for w, cid, _ in rows}
    xml_dir, box = tmp_path / "Annotations", (20, 20, 219, 219)
    classes = [1, 2, 500, 1000, 2]
    for i, cid in enumerate(classes, 1):
        write_xml(xml_dir, f"ILSVRC2012_val_{i:08d}", [(wnid[cid], box)])
    pred = tmp_path / "pred.txt"
    pred.write_text("1 20 20 219 219 3 0 0 9 9\n"          # right class, right box
                    "7 20 20 219 219 2 300 300 400 400\n"  # right class, second guess, wrong box
                    "500 25 25 210 215\n"                  # right, box close enough
                    "999 20 20 219 219 998 20 20 219 219\n"  # wrong classes
                    "2 20 20 219 219\n")
    return {"xml_dir": xml_dir, "pred": pred, "map": _write_map(tmp_path / "map_clsloc.txt", rows)}


def _score_loc(case, synsets_path):
    synsets = read_synsets(synsets_path)
    gt = load_loc_ground_truth(case["xml_dir"], synsets)
    return evaluate_loc_file(case["pred"], gt, synsets)


def test_real_meta_clsloc_scores_exactly_like_its_map_clsloc(loc_case):
    from_mat = _score_loc(loc_case, REAL / "meta_clsloc.mat")
    from_map = _score_loc(loc_case, loc_case["map"])
    assert from_mat.keys() == from_map.keys()
    for key in ("cls_error", "loc_error"):
        np.testing.assert_array_equal(from_mat[key], from_map[key])
    assert from_mat["cls_error"][-1] == pytest.approx(1 / 5) and from_mat["loc_error"][-1] == pytest.approx(2 / 5)


def test_evaluate_cli_scores_loc_with_the_real_meta_clsloc(loc_case, capsys, tool_module):
    code = tool_module("evaluate").main(["loc", "--pred", str(loc_case["pred"]), "--gt-xml-dir", str(loc_case["xml_dir"]),
                              "--synsets", str(REAL / "meta_clsloc.mat")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "loc error" in captured.out
