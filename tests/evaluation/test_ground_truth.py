"""Ground truth as the devkit reads it: sorted XML order, single-label images, data-root discovery."""
from __future__ import annotations

import numpy as np
import pytest

from ilsvrc_pipe.data.errors import DataFormatError
from ilsvrc_pipe.data.synsets import read_synsets
from ilsvrc_pipe.evaluation import evaluate_det_arrays, load_det_ground_truth, load_loc_ground_truth

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
