"""A val1/val2 DET file numbered by the split's own list: never silently dropped detections,
and an explicit way to score it (``--numbered-by-split``)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from ilsvrc_pipe.evaluation.det_split import read_split_det_file
from ilsvrc_pipe.utils.errors import DataFormatError

TOOL = Path(__file__).resolve().parents[2] / "tools" / "evaluate.py"
# data_root (conftest): val.txt indices 1..4; val2 = official 2 (objects A and B) and 4 (none), own 1..2
OWN_NUMBERS = "1 1 0.9 0 0 99 99\n\n1 2 0.8 0 0 99 99\n2 1 0.1 0 0 99 99\n"


def load_tool():
    spec = importlib.util.spec_from_file_location("evaluate_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_file_numbered_by_the_split_list_is_an_error_naming_the_line(data_root, tmp_path, capsys):
    pred = tmp_path / "val2.txt"
    pred.write_text(OWN_NUMBERS)
    assert load_tool().main(["det", "--pred", str(pred), "--data-root", str(data_root), "--split", "val2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ")
    assert f"{pred}:1: image index 1 is not a val2 image" in err
    assert "seems to be numbered by val2.txt's own list 1..2" in err and "--numbered-by-split" in err


def test_numbered_by_split_maps_to_the_official_indices(data_root, tmp_path):
    pred, out = tmp_path / "val2.txt", tmp_path / "det.json"
    pred.write_text(OWN_NUMBERS)
    code = load_tool().main(["det", "--pred", str(pred), "--data-root", str(data_root), "--split", "val2",
                             "--numbered-by-split", "--json-out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["mAP"] == 1.0 and result["n_detections"] == 3 and result["n_images"] == 2


def test_read_split_det_file_mapping_and_dropping(data_root, tmp_path):
    pred = tmp_path / "val2.txt"
    pred.write_text(OWN_NUMBERS)
    detections, dropped = read_split_det_file(pred, data_root, "val2", 2, numbered_by_split=True)
    assert detections.image_index.tolist() == [2, 2, 4] and dropped == 0
    with pytest.raises(DataFormatError, match=r"val2\.txt:1: image index 3 is not in the image list"):
        pred.write_text("3 1 0.5 0 0 9 9\n")  # the split has 2 images: own number 3 does not exist
        read_split_det_file(pred, data_root, "val2", 2, numbered_by_split=True)
    pred.write_text("1 1 0.9 0 0 99 99\n2 1 0.5 0 0 99 99\n3 1 0.5 0 0 99 99\n4 1 0.5 0 0 99 99\n")
    detections, dropped = read_split_det_file(pred, data_root, "val2", 2, drop_outside=True)
    assert detections.image_index.tolist() == [2, 4] and dropped == 2


def test_split_options_need_a_data_root_split(data_root, tmp_path):
    pred = tmp_path / "p.txt"
    pred.write_text(OWN_NUMBERS)
    with pytest.raises(SystemExit):
        load_tool().main(["det", "--pred", str(pred), "--data-root", str(data_root), "--split", "val",
                          "--numbered-by-split"])
    with pytest.raises(SystemExit):
        load_tool().main(["det", "--pred", str(pred), "--data-root", str(data_root), "--split", "val2",
                          "--numbered-by-split", "--drop-outside-split"])


def test_det_blacklist_entry_outside_val_is_an_error(data_root, tmp_path, capsys):
    blacklist = data_root / "ILSVRC/devkit/data/ILSVRC2015_det_validation_blacklist.txt"
    blacklist.write_text("3 n01443537\n17 n01443537\n")
    pred = tmp_path / "p.txt"
    pred.write_text("2 1 0.9 0 0 99 99\n")
    assert load_tool().main(["det", "--pred", str(pred), "--data-root", str(data_root)]) == 2
    assert f"{blacklist}:2: image index 17 is not an image of" in capsys.readouterr().err


def test_devkit_val2_numbered_by_its_own_list_is_scored_on_official_indices(devkit_val_root, tmp_path):
    """ilsvrc13_val2.txt (not sorted): own number 1 is official image 6, 2 is 2, 3 is 5."""
    pred, out = tmp_path / "val2.txt", tmp_path / "det.json"
    # images 6 and 2 hold class 2; image 5's only object, of class 1, is blacklisted (class 1: no positives)
    pred.write_text("1 2 0.9 1 1 20 20\n2 2 0.8 1 1 20 20\n3 1 0.7 1 1 20 20\n")
    detections, _ = read_split_det_file(pred, devkit_val_root.root, "val2", 2, numbered_by_split=True)
    assert detections.image_index.tolist() == [6, 2, 5]
    assert load_tool().main(["det", "--pred", str(pred), "--data-root", str(devkit_val_root.root), "--split", "val2",
                             "--numbered-by-split", "--json-out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["ap"]["2"] == 1.0 and result["n_images"] == 3 and result["n_detections"] == 3


def test_derived_val1_is_scored_by_official_indices_only(devkit_val_root, tmp_path, capsys):
    """The derived val1 (official 1, 4, 7) has no list of its own, so no own numbering to map."""
    pred = tmp_path / "val1.txt"
    pred.write_text("1 2 0.9 1 1 20 20\n4 1 0.9 1 1 20 20\n7 2 0.9 1 1 20 20\n")
    detections, dropped = read_split_det_file(pred, devkit_val_root.root, "val1", 2)
    assert detections.image_index.tolist() == [1, 4, 7] and dropped == 0
    assert load_tool().main(["det", "--pred", str(pred), "--data-root", str(devkit_val_root.root), "--split", "val1",
                             "--numbered-by-split"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ") and "derived val1" in err
