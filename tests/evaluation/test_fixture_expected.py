"""Every number of tests/fixtures/scoring/expected.json (official devkit output) to 1e-9."""
from __future__ import annotations

import math

import pytest

from ilsvrc_pipe.data.synsets import read_synsets
from ilsvrc_pipe.evaluation import evaluate_det, evaluate_loc_file, load_det_ground_truth, load_loc_ground_truth
from ilsvrc_pipe.submission import read_det_file

TOL = 1e-9

# every file read by the fixture tests (this file, test_evaluate_cli.py, tests/data/test_synsets.py)
FIXTURE_FILES = ["README.md", "expected.json", "synsets.txt",
                 "loc/ground_truth.txt", "loc/blacklist.txt", "loc/pred.txt",
                 "det/val.txt", "det/blacklist.txt", "det/pred.txt"]


def test_the_scoring_fixture_is_complete(scoring_fixture, expected):
    """The committed copy holds every file the tests read, and one XML per listed image (no partial copy)."""
    missing = [name for name in FIXTURE_FILES if not (scoring_fixture / name).is_file()]
    assert not missing, f"missing from {scoring_fixture}: {missing}"
    for task in ("loc", "det"):
        for key, name in expected[task]["args"].items():
            assert (scoring_fixture / name).exists(), f"expected.json {task}.args.{key}: {name} is missing"
    loc_xml = sorted(p.stem for p in (scoring_fixture / "loc/Annotations").glob("*.xml"))
    assert len(loc_xml) == len((scoring_fixture / "loc/ground_truth.txt").read_text().split()) == 200
    det_xml = {p.stem for p in (scoring_fixture / "det/Annotations").glob("*.xml")}
    det_list = [line.split()[0] for line in (scoring_fixture / "det/val.txt").read_text().splitlines() if line.strip()]
    assert len(det_list) == 200 and det_xml == set(det_list)


@pytest.fixture(scope="module")
def loc_result(scoring_fixture, expected):
    args = expected["loc"]["args"]
    synsets = read_synsets(scoring_fixture / args["synsets"])
    gt = load_loc_ground_truth(scoring_fixture / args["gt_xml_dir"], synsets, scoring_fixture / args["blacklist"])
    return evaluate_loc_file(scoring_fixture / args["pred"], gt, synsets)


@pytest.fixture(scope="module")
def det_result(scoring_fixture, expected):
    args = expected["det"]["args"]
    synsets = read_synsets(scoring_fixture / args["synsets"])
    gt = load_det_ground_truth(scoring_fixture / args["gt_xml_dir"], synsets, scoring_fixture / args["image_list"],
                               scoring_fixture / args["blacklist"])
    detections = read_det_file(scoring_fixture / args["pred"], num_classes=len(synsets), image_indices=gt.image_index)
    return evaluate_det(detections, gt)


@pytest.mark.parametrize("k", range(1, 6))
def test_loc_cls_error(loc_result, expected, k):
    assert loc_result["cls_error"][k - 1] == pytest.approx(expected["loc"]["cls_error"][k - 1], abs=TOL)


@pytest.mark.parametrize("k", range(1, 6))
def test_loc_loc_error(loc_result, expected, k):
    assert loc_result["loc_error"][k - 1] == pytest.approx(expected["loc"]["loc_error"][k - 1], abs=TOL)


def test_loc_counts(loc_result, scoring_fixture):
    blacklist_lines = (scoring_fixture / "loc" / "blacklist.txt").read_text().split()
    assert loc_result["n_images"] == 200
    assert loc_result["n_blacklisted"] == len(blacklist_lines)


def test_loc_classes_match_the_devkit_label_file(scoring_fixture):
    synsets = read_synsets(scoring_fixture / "synsets.txt")
    gt = load_loc_ground_truth(scoring_fixture / "loc" / "Annotations", synsets)
    labels = [int(v) for v in (scoring_fixture / "loc" / "ground_truth.txt").read_text().split()]
    assert gt.class_ids.tolist() == labels


def test_det_map(det_result, expected):
    assert det_result["mAP"] == pytest.approx(expected["det"]["mAP"], abs=TOL)


def test_det_every_class_ap(det_result, expected):
    assert sorted(det_result["ap"]) == sorted(int(c) for c in expected["det"]["ap"])
    for cid, ap in expected["det"]["ap"].items():
        assert math.isclose(det_result["ap"][int(cid)], ap, rel_tol=0, abs_tol=TOL), cid


def test_det_tie_order_matters_on_the_fixture(scoring_fixture, expected):
    """Breaking ties in the opposite direction must change the result (the fixture is built so)."""
    synsets = read_synsets(scoring_fixture / "synsets.txt")
    gt = load_det_ground_truth(scoring_fixture / "det" / "Annotations", synsets, scoring_fixture / "det" / "val.txt",
                               scoring_fixture / "det" / "blacklist.txt")
    det = read_det_file(scoring_fixture / "det" / "pred.txt")
    reversed_file = type(det)(det.image_index[::-1], det.class_id[::-1], det.score[::-1], det.boxes[::-1])
    assert abs(evaluate_det(reversed_file, gt)["mAP"] - expected["det"]["mAP"]) > 1e-6
