"""Kaggle LOC CSV: label forms, unsorted rows aligned by ImageId, strict rejections."""
from __future__ import annotations

import numpy as np
import pytest

from ilsvrc_pipe.data.synsets import SynsetTable
from ilsvrc_pipe.submission import (
    LocSubmission,
    align_to_images,
    is_kaggle_csv,
    read_kaggle_loc_csv,
    write_kaggle_loc_csv,
)
from ilsvrc_pipe.utils.errors import DataFormatError

# devkit order differs from sorted order: devkit id 1 = n02119789 (sorted index 2)
SYNSETS = SynsetTable(("n02119789", "n01440764", "n01443537"), ("kit fox", "tench", "goldfish"))
IDS = ["ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002", "ILSVRC2012_val_00000003"]


def sample():
    labels = np.array([[1, 3], [2, 0], [0, 0]])
    boxes = np.array([[[0, 0, 9, 9], [1.5, 2, 3, 4]], [[5, 5, 50, 50], [0, 0, 0, 0]], [[0, 0, 0, 0]] * 2], float)
    return LocSubmission(labels, boxes)


def test_writes_wnids_by_default(tmp_path):
    path = tmp_path / "sub.csv"
    write_kaggle_loc_csv(path, IDS, sample().labels, sample().boxes, SYNSETS)
    assert path.read_text().splitlines() == [
        "ImageId,PredictionString",
        "ILSVRC2012_val_00000001,n02119789 0 0 9 9 n01443537 1.5 2 3 4",
        "ILSVRC2012_val_00000002,n01440764 5 5 50 50",
        "ILSVRC2012_val_00000003,",
    ]
    assert is_kaggle_csv(path)


@pytest.mark.parametrize("label_format, first", [("wnid", "n02119789"), ("sorted_index", "2"), ("devkit_id", "1")])
def test_round_trip_in_every_label_form(tmp_path, label_format, first):
    path = tmp_path / "sub.csv"
    write_kaggle_loc_csv(path, IDS, sample().labels, sample().boxes, SYNSETS, label_format)
    assert path.read_text().splitlines()[1].split(",")[1].split()[0] == first
    ids, back = read_kaggle_loc_csv(path, SYNSETS, label_format)
    assert ids == IDS
    np.testing.assert_array_equal(back.labels, sample().labels)
    np.testing.assert_array_equal(back.boxes, sample().boxes)


def test_unsorted_rows_are_aligned_by_image_id(tmp_path):
    path = tmp_path / "sub.csv"
    path.write_text("ImageId,PredictionString\nB,n01440764 1 1 2 2\nA,n02119789 0 0 9 9\n")
    ids, rows = read_kaggle_loc_csv(path, SYNSETS)
    aligned = align_to_images(ids, rows, ["A", "B"])
    assert aligned.labels[:, 0].tolist() == [1, 2]
    with pytest.raises(DataFormatError, match="no row for 1 image"):
        align_to_images(ids, rows, ["A", "B", "C"])
    with pytest.raises(DataFormatError, match="not in the ground truth"):
        align_to_images(ids, rows, ["A"])


@pytest.mark.parametrize("row, message", [
    ("X,n09999999 0 0 9 9", "'n09999999' is not a class label"),
    ("X,n01440764 0 0 9", "expected groups of 5 fields"),
    ("X,n01440764 0 zero 9 9", "expected a number"),
    ("X,n01440764 0 0 9 9,extra", "expected 2 fields"),
    ("A,n01440764 0 0 9 9", "ImageId A already given on line 2"),
    (",n01440764 0 0 9 9", "empty ImageId"),
])
def test_rejects_malformed_rows_with_file_and_line(tmp_path, row, message):
    path = tmp_path / "sub.csv"
    path.write_text(f"ImageId,PredictionString\nA,n01440764 0 0 9 9\n{row}\n")
    with pytest.raises(DataFormatError, match=message) as info:
        read_kaggle_loc_csv(path, SYNSETS)
    assert f"{path}:3:" in str(info.value)


def test_integer_labels_out_of_range_are_rejected(tmp_path):
    path = tmp_path / "sub.csv"
    path.write_text("ImageId,PredictionString\nA,3 0 0 9 9\n")
    with pytest.raises(DataFormatError, match="sub.csv:2:"):
        read_kaggle_loc_csv(path, SYNSETS, "sorted_index")
    assert read_kaggle_loc_csv(path, SYNSETS, "devkit_id")[1].labels.tolist() == [[3]]


def test_wrong_header_is_rejected(tmp_path):
    path = tmp_path / "sub.csv"
    path.write_text("id,prediction\nA,n01440764 0 0 9 9\n")
    assert not is_kaggle_csv(path)
    with pytest.raises(DataFormatError, match=r"sub\.csv:1: expected the header"):
        read_kaggle_loc_csv(path, SYNSETS)
