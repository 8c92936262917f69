"""val1/val2 list files: one search order, val1 derived when only val2 ships, the start-up check."""
from __future__ import annotations

import pytest

from ilsvrc_pipe.data.det_val_halves import (check_det_split_lists, det_val_halves_note, read_det_val_half,
                                             resolve_det_val_halves)
from ilsvrc_pipe.utils.errors import DataFormatError


def test_search_order_image_sets_then_det_lists_then_ilsvrc13(devkit_val_root):
    root, val = devkit_val_root.root, devkit_val_root.val
    sets, lists = root / "ILSVRC/ImageSets/DET", root / "ILSVRC/devkit/data/det_lists"
    assert resolve_det_val_halves(root).val2 == lists / "ilsvrc13_val2.txt"
    (lists / "val2.txt").write_text(f"{val[6]} 1\n")
    assert resolve_det_val_halves(root).val2 == lists / "val2.txt"
    (sets / "val2.txt").write_text(f"{val[2]} 1\n")
    halves = resolve_det_val_halves(root)
    assert halves.val2 == sets / "val2.txt" and halves.val1 is None
    assert read_det_val_half(root, "val2")["index"].tolist() == [3]


def test_each_half_is_searched_on_its_own_and_must_not_share_images(devkit_val_root):
    root, val = devkit_val_root.root, devkit_val_root.val
    val1 = root / "ILSVRC/ImageSets/DET/val1.txt"
    val1.write_text(f"{val[3]} 1\n{val[0]} 2\n")
    table = read_det_val_half(root, "val1")
    assert table["index"].tolist() == [4, 1] and table["split_index"].tolist() == [1, 2]
    val1.write_text(f"{val[0]} 1\n{val[5]} 2\n")   # val[5] is val2's first image
    with pytest.raises(DataFormatError, match=r"val1\.txt: 1 image\(s\) are also in .*ilsvrc13_val2\.txt"):
        read_det_val_half(root, "val1")


def test_derived_val1_is_numbered_in_val_order_and_keeps_images_without_a_blacklist(devkit_val_root):
    root = devkit_val_root.root
    table = read_det_val_half(root, "val1")
    assert table["stem"].tolist() == devkit_val_root.val1 and table["split_index"].tolist() == [1, 2, 3]
    (root / "ILSVRC/devkit/data/ILSVRC2015_det_validation_blacklist.txt").unlink()
    assert read_det_val_half(root, "val1")["index"].tolist() == [1, 3, 4, 7]
    assert "no DET val blacklist found, so no image left out" in det_val_halves_note(root)


def test_note_names_the_files_and_the_derivation(devkit_val_root):
    note = det_val_halves_note(devkit_val_root.root)
    assert "\n" not in note
    assert f"val2 from {devkit_val_root.root}/ILSVRC/devkit/data/det_lists/ilsvrc13_val2.txt (3 images" in note
    assert "no val1 list (ImageSets/DET/val1.txt, devkit/data/det_lists/val1.txt, " \
           "devkit/data/det_lists/ilsvrc13_val1.txt), so val1 is derived" in note
    assert "minus 1 blacklisted image(s) outside val2" in note and "3 images in val order" in note


def test_check_passes_on_the_devkit_layout_and_without_a_det_part(devkit_val_root, tmp_path):
    check_det_split_lists(devkit_val_root.root)
    cls_only = tmp_path / "cls_only"
    (cls_only / "ILSVRC/ImageSets/CLS-LOC").mkdir(parents=True)
    check_det_split_lists(cls_only)
    check_det_split_lists(tmp_path / "absent")


def test_check_without_val2_names_every_path_tried(devkit_val_root):
    root = devkit_val_root.root
    (root / "ILSVRC/devkit/data/det_lists/ilsvrc13_val2.txt").unlink()
    with pytest.raises(FileNotFoundError) as info:
        check_det_split_lists(root)
    message = str(info.value)
    tried = [root / "ILSVRC/ImageSets/DET/val2.txt", root / "ILSVRC/devkit/data/det_lists/val2.txt",
             root / "ILSVRC/devkit/data/det_lists/ilsvrc13_val2.txt"]
    assert f"no DET val2 list: tried {', '.join(map(str, tried))};" in message
    assert "R-CNN's ILSVRC13 split" in message and "data/det_lists/ilsvrc13_val2.txt" in message


def test_check_without_val_list(devkit_val_root):
    val = devkit_val_root.root / "ILSVRC/ImageSets/DET/val.txt"
    val.unlink()
    with pytest.raises(FileNotFoundError, match=f"DET val list not found: {val}"):
        check_det_split_lists(devkit_val_root.root)
