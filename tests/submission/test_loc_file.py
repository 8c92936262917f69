"""Devkit LOC file: exact text written, round trips, and strict rejections naming file and line."""
from __future__ import annotations

import numpy as np
import pytest

from ilsvrc_pipe.submission import (
    LocSubmission,
    gt_class_submission,
    read_loc_file,
    write_gt_class_loc_file,
    write_loc_file,
)
from ilsvrc_pipe.utils.errors import DataFormatError


def sample():
    labels = np.array([[3, 1, 2, 5, 4], [7, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
    boxes = np.zeros((3, 5, 4))
    boxes[0] = [[0, 0, 99, 99], [1.5, -2, 10, 20.25], [5, 5, 6, 6], [0, 0, 1, 1], [2, 3, 4, 5]]
    boxes[1, 0] = [10, 20, 30, 40]
    return LocSubmission(labels, boxes)


def test_writes_single_spaced_groups_and_a_zero_group_for_no_guess(tmp_path):
    path = tmp_path / "loc.txt"
    write_loc_file(path, sample().labels, sample().boxes)
    assert path.read_text().splitlines() == [
        "3 0 0 99 99 1 1.5 -2 10 20.25 2 5 5 6 6 5 0 0 1 1 4 2 3 4 5",
        "7 10 20 30 40",
        "0 0 0 0 0",
    ]


def test_round_trip(tmp_path):
    path = tmp_path / "loc.txt"
    original = sample()
    write_loc_file(path, original.labels, original.boxes)
    back = read_loc_file(path, num_images=3, num_classes=7)
    np.testing.assert_array_equal(back.labels, original.labels)
    np.testing.assert_array_equal(back.boxes, original.boxes)


def test_round_trip_keeps_every_double(tmp_path):
    rng = np.random.default_rng(0)
    original = LocSubmission(rng.integers(1, 10, (20, 5)), rng.normal(0, 300, (20, 5, 4)))
    write_loc_file(tmp_path / "loc.txt", original.labels, original.boxes)
    np.testing.assert_array_equal(read_loc_file(tmp_path / "loc.txt").boxes, original.boxes)


@pytest.mark.parametrize("bad_line, message", [
    ("1 0 0 9", "expected groups of 5 fields"),
    ("1 0 0 9 9 2 0 0", "got 8 fields"),
    ("x 0 0 9 9", "field 1: expected an integer class id"),
    ("1.5 0 0 9 9", "expected an integer class id"),
    ("1 0 zero 9 9", "field 3: expected a number"),
    ("1 0 0 inf 9", "field 4: expected a finite coordinate"),
    ("1 0 0 nan 9", "expected a finite coordinate"),
    ("11 0 0 9 9", "unknown class id 11"),
    ("-1 0 0 9 9", "unknown class id -1"),
    ("", "empty line"),
])
def test_rejects_malformed_lines_with_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "loc.txt"
    path.write_text(f"1 0 0 9 9\n{bad_line}\n1 0 0 9 9\n")
    with pytest.raises(DataFormatError, match=message) as info:
        read_loc_file(path, num_images=3, num_classes=10)
    assert f"{path}:2:" in str(info.value)


def test_rejects_a_line_count_other_than_the_image_count(tmp_path):
    path = tmp_path / "loc.txt"
    path.write_text("1 0 0 9 9\n1 0 0 9 9\n")
    with pytest.raises(DataFormatError, match="2 lines, expected 3"):
        read_loc_file(path, num_images=3)


def test_pads_short_lines_like_dlmread(tmp_path):
    path = tmp_path / "loc.txt"
    path.write_text("1 0 0 9 9 2 1 1 5 5\n3 0 0 9 9\n")
    sub = read_loc_file(path)
    assert sub.labels.tolist() == [[1, 2], [3, 0]]
    assert sub.boxes[1, 1].tolist() == [0, 0, 0, 0]


def test_more_than_five_guesses_cannot_be_written(tmp_path):
    with pytest.raises(ValueError, match="at most 5"):
        write_loc_file(tmp_path / "x.txt", np.ones((1, 6)), np.zeros((1, 6, 4)))


def test_gt_class_file_puts_the_ground_truth_class_first(tmp_path):
    boxes = {(0, 4): [1, 2, 3, 4], (0, 2): [9, 9, 9, 9], (1, 2): [5, 6, 7, 8]}
    path = tmp_path / "gt_class.txt"
    write_gt_class_loc_file(path, [4, 2], boxes)
    assert path.read_text().splitlines() == ["4 1 2 3 4", "2 5 6 7 8"]
    with pytest.raises(KeyError, match="image 1"):
        gt_class_submission([4, 3], boxes)
