"""The worked examples of the official scoring rules (official results) through XML and submission files."""
from __future__ import annotations

import pytest

from ilsvrc_pipe.data.synsets import read_synsets
from ilsvrc_pipe.evaluation import evaluate_det, evaluate_loc_file, load_det_ground_truth, load_loc_ground_truth
from ilsvrc_pipe.submission import read_det_file

WNID = "n01440764"


@pytest.fixture
def synsets_path(tmp_path):
    path = tmp_path / "synsets.txt"
    path.write_text(f"{WNID} tench\nn01443537 goldfish\n")
    return path


def det_ap(tmp_path, synsets_path, write_xml, gt_a, gt_b, detections, blacklist=None):
    """AP of class 1 on images a (index 1) and b (index 2); detections as (index, score, box)."""
    xml_dir = tmp_path / "xml"
    write_xml(xml_dir, "a", [(WNID, box) for box in gt_a])
    write_xml(xml_dir, "b", [(WNID, box) for box in gt_b])
    (tmp_path / "val.txt").write_text("a 1\nb 2\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("".join(f"{i} 1 {s} {' '.join(map(str, box))}\n" for i, s, box in detections))
    black = None
    if blacklist:
        black = tmp_path / "blacklist.txt"
        black.write_text(blacklist)
    gt = load_det_ground_truth(xml_dir, read_synsets(synsets_path), tmp_path / "val.txt", black)
    return evaluate_det(read_det_file(pred, 2, gt.image_index), gt)["ap"][1]


def loc_errors(tmp_path, synsets_path, write_xml, gt_boxes, pred_line):
    xml_dir = tmp_path / "loc_xml"
    write_xml(xml_dir, "ILSVRC2012_val_00000001", [(WNID, box) for box in gt_boxes])
    pred = tmp_path / "loc_pred.txt"
    pred.write_text(pred_line + "\n")
    synsets = read_synsets(synsets_path)
    return evaluate_loc_file(pred, load_loc_ground_truth(xml_dir, synsets), synsets)


def test_example1_small_object_threshold_makes_a_tp(tmp_path, synsets_path, write_xml):
    ap = det_ap(tmp_path, synsets_path, write_xml, [[100, 100, 119, 119]], [], [(1, 0.9, [100, 100, 119, 143])])
    assert ap == 1.0


def test_example2_large_object_needs_half(tmp_path, synsets_path, write_xml):
    ap = det_ap(tmp_path, synsets_path, write_xml, [[100, 100, 199, 199]], [], [(1, 0.9, [100, 100, 199, 319])])
    assert ap == 0.0


def test_example3_loc_iou_exactly_half_is_correct(tmp_path, synsets_path, write_xml):
    result = loc_errors(tmp_path, synsets_path, write_xml, [[0, 0, 99, 99]], "1 0 0 99 199")
    assert result["loc_error"] == [0.0] * 5


def test_example3_loc_iou_just_below_half_is_wrong(tmp_path, synsets_path, write_xml):
    result = loc_errors(tmp_path, synsets_path, write_xml, [[0, 0, 99, 99]], "1 0 0 99 200")
    assert result["loc_error"] == [1.0] * 5
    assert result["cls_error"] == [0.0] * 5


def test_example4_duplicate_takes_the_other_unmatched_object(tmp_path, synsets_path, write_xml):
    ap = det_ap(tmp_path, synsets_path, write_xml, [[0, 0, 99, 99], [20, 0, 119, 99]], [],
                [(1, 0.9, [0, 0, 99, 99]), (1, 0.8, [5, 0, 104, 99])])
    assert ap == 1.0


def test_example5_ties_lower_image_first_then_file_order(tmp_path, synsets_path, write_xml):
    ap = det_ap(tmp_path, synsets_path, write_xml, [[0, 0, 99, 99]], [[0, 0, 99, 99]],
                [(2, 0.9, [300, 300, 399, 399]), (1, 0.9, [0, 0, 99, 99]), (2, 0.5, [0, 0, 99, 99])])
    assert ap == pytest.approx(0.5 * 1 + 0.5 * (2 / 3), abs=1e-12)


@pytest.mark.parametrize("blacklist, expected_ap", [(f"2 {WNID}\n", 1.0), (None, 2 / 3)])
def test_example6_blacklist_ignores_detections_and_ground_truth(tmp_path, synsets_path, write_xml, blacklist,
                                                                 expected_ap):
    ap = det_ap(tmp_path, synsets_path, write_xml, [[0, 0, 99, 99]], [[0, 0, 99, 99]],
                [(1, 0.9, [0, 0, 99, 99]), (2, 0.95, [300, 300, 399, 399]), (2, 0.1, [0, 0, 99, 99])], blacklist)
    assert ap == pytest.approx(expected_ap, abs=1e-12)


def test_example7_loc_needs_class_and_box_in_one_guess(tmp_path, synsets_path, write_xml):
    line = "1 300 300 399 399 2 0 0 99 99 1 0 0 99 99"
    result = loc_errors(tmp_path, synsets_path, write_xml, [[0, 0, 99, 99]], line)
    assert result["loc_error"][0] == 1.0 and result["loc_error"][4] == 0.0
    assert result["cls_error"][0] == 0.0 and result["cls_error"][4] == 0.0
