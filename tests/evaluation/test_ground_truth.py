"""Ground truth as the devkit reads it: sorted XML order, single-label images, data-root discovery."""
from __future__ import annotations

import numpy as np
import pytest

from ilsvrc_pipe.data.synsets import read_synsets
from ilsvrc_pipe.evaluation import evaluate_det_arrays, load_det_ground_truth, load_loc_ground_truth
from ilsvrc_pipe.evaluation.ground_truth import (
    DetGroundTruth,
    LocGroundTruth,
    subset_det_ground_truth,
    subset_loc_ground_truth,
)
from ilsvrc_pipe.evaluation.loc import evaluate_loc
from ilsvrc_pipe.utils.errors import DataFormatError

A, B = "n01440764", "n01443537"
BOX = [0, 0, 99, 99]


@pytest.fixture
def synsets(tmp_path):
    path = tmp_path / "map.txt"
    path.write_text(f"{B} 1 goldfish\n{A} 2 tench\n")  # devkit order is not sorted order
    return read_synsets(path)


def test_images_in_sorted_file_name_order_with_devkit_ids(tmp_path, synsets, write_xml):
    xml = tmp_path / "xml"
    write_xml(xml, "img_b", [(A, BOX), (A, [5, 5, 50, 50])])
    write_xml(xml, "img_a", [(B, BOX)])
    write_xml(xml, "img_C", [(B, BOX)])  # ASCII order: upper case first
    gt = load_loc_ground_truth(xml, synsets)
    assert gt.stems == ["img_C", "img_a", "img_b"]
    assert gt.class_ids.tolist() == [1, 1, 2]
    assert gt.object_image.tolist() == [0, 1, 2, 2]
    assert gt.object_boxes.shape == (4, 4) and gt.blacklist.size == 0


def test_broken_boxes_are_kept_for_scoring(tmp_path, synsets, write_xml):
    write_xml(tmp_path / "xml", "img", [(A, [50, 0, 10, 99])])
    assert load_loc_ground_truth(tmp_path / "xml", synsets).object_boxes.tolist() == [[50, 0, 10, 99]]


@pytest.mark.parametrize("objects, message", [([], "no <object>"), ([(A, BOX), (B, BOX)], "several classes"),
                                              ([("n09999999", BOX)], "n09999999")])
def test_rejects_what_the_devkit_cannot_score(tmp_path, synsets, write_xml, objects, message):
    write_xml(tmp_path / "xml", "img", objects)
    with pytest.raises(DataFormatError, match=message):
        load_loc_ground_truth(tmp_path / "xml", synsets)


def test_blacklist_entries_are_kept_as_listed_and_bad_lines_named(tmp_path, synsets, write_xml):
    write_xml(tmp_path / "xml", "img", [(A, BOX)])
    path = tmp_path / "black.txt"
    path.write_text("1\n\n1\n")
    assert load_loc_ground_truth(tmp_path / "xml", synsets, path).blacklist.tolist() == [1, 1]
    path.write_text("1\nfour\n")
    with pytest.raises(DataFormatError, match=r"black\.txt:2: expected one integer"):
        load_loc_ground_truth(tmp_path / "xml", synsets, path)


def test_loc_from_root_finds_other_years_blacklist(data_root):
    gt = load_loc_ground_truth(data_root=data_root)
    assert gt.class_ids.tolist() == [2, 1, 2] and gt.blacklist.tolist() == [2]


def test_loc_from_root_without_blacklist(data_root):
    root = data_root
    (root / "ILSVRC" / "devkit" / "data" / "ILSVRC2014_clsloc_validation_blacklist.txt").unlink()
    assert load_loc_ground_truth(data_root=root).blacklist.size == 0


def test_det_from_root_val(data_root):
    gt = load_det_ground_truth(data_root=data_root, split="val")
    assert gt.image_index.tolist() == [1, 2, 3, 4]
    assert gt.object_class.tolist() == [1, 1, 2, 2] and gt.object_image.tolist() == [0, 1, 1, 2]
    assert gt.blacklist.tolist() == [[3, 2]]


def test_det_val2_uses_official_indices_and_scores_only_its_images(data_root):
    gt = load_det_ground_truth(data_root=data_root, split="val2")
    assert gt.stems == ["ILSVRC2013_val_00000002", "ILSVRC2013_val_00000004"]
    assert gt.image_index.tolist() == [2, 4]
    # a perfect detection on val1's image 1 and a false one on image 4 (val2): only the latter counts
    result = evaluate_det_arrays([1, 2, 4], [1, 1, 1], [0.9, 0.5, 0.95], [BOX, BOX, BOX], gt.image_index,
                                 gt.object_image, gt.object_class, gt.object_boxes, gt.blacklist, unlisted="drop")
    assert result["ap"][1] == pytest.approx(0.5) and result["n_detections"] == 2 and result["n_images"] == 2


def test_det_split_with_unknown_stem_is_rejected(data_root):
    root = data_root
    (root / "ILSVRC" / "devkit" / "data" / "det_lists" / "val1.txt").write_text("ILSVRC2012_val_09999999 1\n")
    with pytest.raises(DataFormatError, match="not in val.txt"):
        load_det_ground_truth(data_root=root, split="val1")


def test_det_listed_image_without_xml_is_an_error(data_root):
    root = data_root
    (root / "ILSVRC" / "Annotations" / "DET" / "val" / "ILSVRC2013_val_00000004.xml").unlink()
    with pytest.raises(FileNotFoundError, match="ILSVRC2013_val_00000004"):
        load_det_ground_truth(data_root=root, split="val")


def test_arrays_are_numpy(data_root):
    gt = load_det_ground_truth(data_root=data_root, split="val")
    assert all(isinstance(a, np.ndarray) for a in (gt.image_index, gt.object_image, gt.object_class, gt.object_boxes))


def test_sources_are_either_a_root_or_explicit_files(data_root, tmp_path):
    with pytest.raises(ValueError, match="not both"):
        load_loc_ground_truth(tmp_path, data_root=data_root)
    with pytest.raises(ValueError, match="needs xml_dir and synsets"):
        load_loc_ground_truth(tmp_path)
    with pytest.raises(ValueError, match="val, val1 and val2"):
        load_det_ground_truth(data_root=data_root, split="test")


def test_explicit_blacklist_path_must_exist(tmp_path, synsets, write_xml):
    write_xml(tmp_path / "xml", "img", [(A, BOX)])
    with pytest.raises(FileNotFoundError):
        load_loc_ground_truth(tmp_path / "xml", synsets, tmp_path / "missing.txt")


def test_det_halves_from_the_devkit_lists_keep_official_indices(devkit_val_root):
    """ilsvrc13_val2.txt in its own order; no val1 list: val1 is val minus val2 minus blacklisted images."""
    gt = load_det_ground_truth(data_root=devkit_val_root.root, split="val2")
    assert gt.stems == devkit_val_root.val2 and gt.image_index.tolist() == [6, 2, 5]
    assert gt.object_image.tolist() == [0, 1, 2]
    gt = load_det_ground_truth(data_root=devkit_val_root.root, split="val1")
    assert gt.stems == devkit_val_root.val1 and gt.image_index.tolist() == [1, 4, 7]


# -- subsets (the data stage's per-split caps) ---------------------------------------------------
def _loc_gt() -> LocGroundTruth:
    """Five images s0..s4 (classes 1, 2, 1, 2, 1), s2 with two objects; blacklist 2, 4, 4 (as listed)."""
    return LocGroundTruth([f"s{i}" for i in range(5)], np.array([1, 2, 1, 2, 1]),
                          np.array([0, 1, 2, 2, 3, 4]), np.array([1, 2, 1, 1, 2, 1]),
                          np.arange(24, dtype=np.float64).reshape(6, 4), np.array([2, 4, 4]))


def test_loc_subset_renumbers_the_blacklist_to_positions_in_the_kept_list():
    full = _loc_gt()
    gt = subset_loc_ground_truth(full, ["s3", "s0", "s2"])       # kept in the ground truth's order
    assert gt.stems == ["s0", "s2", "s3"] and gt.class_ids.tolist() == [1, 1, 2]
    assert gt.object_image.tolist() == [0, 1, 1, 2] and gt.object_class.tolist() == [1, 1, 1, 2]
    assert gt.object_boxes.tolist() == full.object_boxes[[0, 2, 3, 4]].tolist()
    # image 4 (s3) is the 3rd kept image; image 2 (s1) is gone; the duplicate stays, as listed
    assert gt.blacklist.tolist() == [3, 3]
    assert [gt.stems[b - 1] for b in gt.blacklist] == [full.stems[b - 1] for b in full.blacklist if b != 2]


def test_loc_subset_scores_like_the_full_ground_truth_on_the_kept_images():
    full, keep = _loc_gt(), [0, 2, 3]
    boxes = full.object_boxes[[0, 1, 2, 4, 5]][:, None, :]      # the first object of each image
    labels = np.array([[1], [2], [1], [1], [1]])                  # right but for s3 (class 2), blacklisted
    gt = subset_loc_ground_truth(full, [full.stems[i] for i in keep])
    cut = evaluate_loc(labels[keep], boxes[keep], gt)
    assert cut["n_images"] == 3 and cut["n_blacklisted"] == 2 and cut["loc_error"][0] == 0.0
    wrong = labels[keep].copy()
    wrong[0] = 2                                                  # s0 is counted: its miss is an error
    assert evaluate_loc(wrong, boxes[keep], gt)["loc_error"][0] > 0.0


def test_loc_subset_rejects_an_image_it_does_not_have():
    with pytest.raises(ValueError, match="s9"):
        subset_loc_ground_truth(_loc_gt(), ["s0", "s9"])


def test_det_subset_keeps_official_indices_and_the_blacklist_of_kept_images():
    full = DetGroundTruth(["a", "b", "c", "d"], np.array([7, 2, 5, 9]), np.array([0, 1, 1, 3]),
                          np.array([1, 1, 2, 2]), np.arange(16, dtype=np.float64).reshape(4, 4),
                          np.array([[2, 1], [5, 2], [9, 1], [3, 2]]))
    gt = subset_det_ground_truth(full, [9, 2])
    assert gt.stems == ["b", "d"] and gt.image_index.tolist() == [2, 9]      # list order kept
    assert gt.object_image.tolist() == [0, 0, 1] and gt.object_class.tolist() == [1, 2, 2]
    assert gt.object_boxes.tolist() == full.object_boxes[[1, 2, 3]].tolist()
    assert gt.blacklist.tolist() == [[2, 1], [9, 1]]
    with pytest.raises(ValueError, match="4"):
        subset_det_ground_truth(full, [2, 4])
