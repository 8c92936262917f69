"""DET records from an ILSVRC tree: lists, negatives without XML, empty XMLs, val1/val2, blacklist."""
from __future__ import annotations

import pandas as pd
import pytest

from ilsvrc_pipe.data.det_records import (find_det_blacklist, load_det_records, map_split_to_val, read_det_blacklist,
                                          read_det_image_list, read_det_train_list, read_det_train_lists)
from ilsvrc_pipe.data.synsets import read_synsets
from ilsvrc_pipe.utils.errors import DataFormatError

A, B, C = "n02672831", "n02691156", "n02219486"  # devkit DET ids 1, 2, 3
W, H = 60, 40  # size of the annotated images


@pytest.fixture
def root(tmp_path, write_xml, write_image):
    ilsvrc = tmp_path / "ILSVRC"
    dk, sets = ilsvrc / "devkit" / "data", ilsvrc / "ImageSets" / "DET"
    (dk / "det_lists").mkdir(parents=True)
    sets.mkdir(parents=True)
    (dk / "map_det.txt").write_text(f"{A} 1 accordion\n{B} 2 airplane\n{C} 3 ant\n")
    pos = f"ILSVRC2013_train/{A}/{A}_1"
    empty = "ILSVRC2014_train_0000/ILSVRC2014_train_00000001"
    neg = "ILSVRC2013_train_extra0/ILSVRC2013_train_00000001"
    (sets / "train_1.txt").write_text(f"{pos} 1\n{empty} 0\n{neg} -1\n")
    (sets / "train_2.txt").write_text(f"{pos} -1\n{neg} -1\n")
    write_xml(ilsvrc / "Annotations/DET/train", pos, [(A, [1, 2, 30, 20]), (A, [30, 5, 10, 9])], W, H)
    write_xml(ilsvrc / "Annotations/DET/train", empty, [], W, H)
    for stem in (pos, empty):
        write_image(ilsvrc / "Data/DET/train" / f"{stem}.JPEG", size=(W, H))
    write_image(ilsvrc / "Data/DET/train" / f"{neg}.JPEG", size=(33, 22))
    val = ["ILSVRC2012_val_00000001", "ILSVRC2013_val_00000002", "ILSVRC2012_val_00000003"]
    (sets / "val.txt").write_text("".join(f"{s} {i}\n" for i, s in enumerate(val, 1)))
    for stem, objects in zip(val, [[(A, [0, 0, 9, 9])], [(B, [1, 1, 5, 5]), (C, [2, 2, 8, 8])], []]):
        write_xml(ilsvrc / "Annotations/DET/val", stem, objects, W, H)
    (dk / "det_lists" / "val1.txt").write_text(f"{val[2]} 1\n{val[0]} 2\n")
    (dk / "det_lists" / "val2.txt").write_text(f"{val[1]} 1\n")
    (sets / "test.txt").write_text("ILSVRC2015_test_00000001 1\n")
    write_image(ilsvrc / "Data/DET/test/ILSVRC2015_test_00000001.JPEG", size=(10, 12))
    (dk / "ILSVRC2015_det_validation_blacklist.txt").write_text(f"2 {C}\n")
    return tmp_path


def test_train_union_with_negatives_and_empty_xml(root):
    images, boxes = load_det_records(root, "train")
    images = images.set_index("image_id")
    assert len(images) == 3 and images["index"].tolist() == [1, 2, 3]
    neg = images.loc["ILSVRC2013_train_extra0/ILSVRC2013_train_00000001"]
    assert neg["xml_path"] is None and neg["n_boxes"] == 0 and (neg["width"], neg["height"]) == (33, 22)
    empty = images.loc["ILSVRC2014_train_0000/ILSVRC2014_train_00000001"]
    assert empty["xml_path"].endswith(".xml") and empty["n_boxes"] == 0 and empty["width"] == 60
    assert images["path"].str.endswith(".JPEG").all() and (images["split"] == "train").all()
    # the broken box (xmax < xmin) is dropped by the data loader
    assert boxes[["x1", "y1", "x2", "y2"]].values.tolist() == [[1, 2, 30, 20]]
    assert boxes["wnid"].tolist() == [A]


def test_train_list_labels(root):
    labels = read_det_train_lists(root, read_synsets(root / "ILSVRC/devkit/data/map_det.txt"))
    assert labels[labels["wnid"] == B]["label"].tolist() == [-1, -1]
    assert sorted(labels["label"].tolist()) == [-1, -1, -1, 0, 1]


def test_train_list_of_an_unknown_class_is_rejected(root):
    (root / "ILSVRC/ImageSets/DET/train_4.txt").write_text("x 1\n")
    with pytest.raises(DataFormatError, match="class id 4 is outside 1..3"):
        load_det_records(root, "train")


def test_objects_of_unknown_classes_are_rejected(root, write_xml):
    write_xml(root / "ILSVRC/Annotations/DET/val", "ILSVRC2012_val_00000003", [("n00000001", [0, 0, 5, 5])], W, H)
    with pytest.raises(DataFormatError, match="n00000001"):
        load_det_records(root, "val")


def test_val_records_and_boxes(root):
    rec = load_det_records(root, "val")
    assert list(rec.images.columns) == ["image_id", "index", "split", "path", "xml_path", "width", "height", "n_boxes"]
    assert rec.images["index"].tolist() == [1, 2, 3]
    assert rec.images["n_boxes"].tolist() == [1, 2, 0]
    assert rec.boxes["wnid"].tolist() == [A, B, C]
    assert rec.boxes["image_id"].tolist() == ["ILSVRC2012_val_00000001"] + ["ILSVRC2013_val_00000002"] * 2
    assert rec.images["xml_path"].str.contains("Annotations/DET/val").all()


@pytest.mark.parametrize("split, stems, indices", [
    ("val1", ["ILSVRC2012_val_00000003", "ILSVRC2012_val_00000001"], [3, 1]),
    ("val2", ["ILSVRC2013_val_00000002"], [2]),
])
def test_val_halves_map_to_official_indices(root, split, stems, indices):
    rec = load_det_records(root, split)
    assert rec.images["image_id"].tolist() == stems and rec.images["index"].tolist() == indices
    assert rec.images["path"].str.contains("Data/DET/val/").all()


def test_test_split_has_no_ground_truth(root):
    rec = load_det_records(root, "test")
    assert rec.images["xml_path"].tolist() == [None] and rec.boxes.empty
    assert (rec.images["width"].iloc[0], rec.images["height"].iloc[0]) == (10, 12)


def test_listing_without_boxes(root):
    rec = load_det_records(root, "val", read_boxes=False, sizes_from_images=False)
    assert rec.boxes.empty and (rec.images["width"] == -1).all()


def test_blacklist(root):
    synsets = read_synsets(root / "ILSVRC/devkit/data/map_det.txt")
    table = read_det_blacklist(find_det_blacklist(root), synsets)
    assert table.values.tolist() == [[2, C]]
    (root / "ILSVRC/devkit/data/ILSVRC2015_det_validation_blacklist.txt").write_text(f"2 {C}\n3 n00000000\n")
    with pytest.raises(DataFormatError, match=r"blacklist\.txt:2: 'n00000000' is not a DET class"):
        read_det_blacklist(find_det_blacklist(root), synsets)


def test_other_years_blacklist_is_found_and_missing_is_none(root):
    dk = root / "ILSVRC/devkit/data"
    (dk / "ILSVRC2015_det_validation_blacklist.txt").rename(dk / "ILSVRC2014_det_validation_blacklist.txt")
    assert find_det_blacklist(root).name == "ILSVRC2014_det_validation_blacklist.txt"
    (dk / "ILSVRC2014_det_validation_blacklist.txt").unlink()
    assert find_det_blacklist(root) is None


@pytest.mark.parametrize("reader, text, message", [
    (read_det_image_list, "a 1\nb\n", "expected '<image stem> <index>', got 1 fields"),
    (read_det_image_list, "a 1\nb two\n", "expected an integer image index"),
    (read_det_image_list, "a 1\nb 1\n", "index 1 already used on line 1"),
    (read_det_image_list, "a 1\na 2\n", "image a already listed on line 1"),
    (read_det_train_list, "a 1\nb 2\n", "expected label 1, 0 or -1"),
    (read_det_train_list, "a 1\nb 1 x\n", "got 3 fields"),
])
def test_malformed_list_lines_name_file_and_line(tmp_path, reader, text, message):
    path = tmp_path / "list.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message) as info:
        reader(path)
    assert f"{path}:2:" in str(info.value)


def test_split_stem_missing_from_val_is_rejected():
    with pytest.raises(DataFormatError, match="val2.txt: 1 image"):
        map_split_to_val(pd.DataFrame({"stem": ["x"], "index": [1]}), pd.DataFrame({"stem": ["y"], "index": [1]}),
                         "val2.txt")


# -- val1/val2 laid out as the ILSVRC2014 devkit ships them (devkit_val_root: tests/conftest.py) --
def test_devkit_ilsvrc13_val2_keeps_its_order_and_official_indices(devkit_val_root):
    rec = load_det_records(devkit_val_root.root, "val2")
    assert rec.images["image_id"].tolist() == devkit_val_root.val2
    assert rec.images["index"].tolist() == [6, 2, 5]
    assert rec.boxes["image_id"].tolist() == devkit_val_root.val2


def test_val1_without_a_list_is_val_minus_val2_minus_blacklisted_images(devkit_val_root):
    rec = load_det_records(devkit_val_root.root, "val1")
    assert rec.images["image_id"].tolist() == devkit_val_root.val1
    assert rec.images["index"].tolist() == [1, 4, 7]
    assert rec.images["path"].str.contains("Data/DET/val/").all()


def test_image_sets_halves_are_read(devkit_val_root):
    sets, val = devkit_val_root.root / "ILSVRC/ImageSets/DET", devkit_val_root.val
    (sets / "val1.txt").write_text(f"{val[2]} 1\n{val[0]} 2\n")
    (sets / "val2.txt").write_text(f"{val[6]} 1\n")
    assert load_det_records(devkit_val_root.root, "val1").images["index"].tolist() == [3, 1]
    assert load_det_records(devkit_val_root.root, "val2").images["index"].tolist() == [7]


def test_missing_val2_names_every_path_tried_and_the_standard_split(devkit_val_root):
    lists = devkit_val_root.root / "ILSVRC/devkit/data/det_lists"
    (lists / "ilsvrc13_val2.txt").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_det_records(devkit_val_root.root, "val2")
    message = str(info.value)
    for path in (devkit_val_root.root / "ILSVRC/ImageSets/DET/val2.txt", lists / "val2.txt", lists / "ilsvrc13_val2.txt"):
        assert str(path) in message
    assert "R-CNN's ILSVRC13 split" in message and "ILSVRC2014 devkit ships as data/det_lists/ilsvrc13_val2.txt" in message
