"""Devkit DET file: round trips, and rejections that name the file and line (fast and slow paths)."""
from __future__ import annotations

import numpy as np
import pytest

from ilsvrc_pipe.submission import DetSubmission, read_det_file, write_det_file
from ilsvrc_pipe.utils.errors import DataFormatError


def sample(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return DetSubmission(rng.integers(1, 10, n), rng.integers(1, 201, n), rng.uniform(size=n),
                         np.round(rng.normal(100, 50, (n, 4)), 1))


def test_round_trip_is_exact_and_keeps_file_order(tmp_path):
    original = sample()
    write_det_file(tmp_path / "det.txt", original.image_index, original.class_id, original.score, original.boxes)
    back = read_det_file(tmp_path / "det.txt", num_classes=200, image_indices=range(1, 10))
    for field in ("image_index", "class_id", "score", "boxes"):
        np.testing.assert_array_equal(getattr(back, field), getattr(original, field))


def test_writes_one_detection_per_line(tmp_path):
    write_det_file(tmp_path / "det.txt", [3], [12], [0.25], [[0, 1.5, 99, 100]])
    assert (tmp_path / "det.txt").read_text() == "3 12 0.25 0 1.5 99 100\n"


def test_blank_lines_are_skipped(tmp_path):
    (tmp_path / "det.txt").write_text("1 1 0.5 0 0 9 9\n\n2 1 0.5 0 0 9 9\n")
    assert read_det_file(tmp_path / "det.txt").image_index.tolist() == [1, 2]


def test_empty_file_has_no_detections(tmp_path):
    (tmp_path / "det.txt").write_text("")
    assert len(read_det_file(tmp_path / "det.txt")) == 0


@pytest.mark.parametrize("bad_line, message", [
    ("1 1 0.5 0 0 9", "expected 7 fields"),
    ("1 1 0.5 0 0 9 9 9", "expected 7 fields"),
    ("1.5 1 0.5 0 0 9 9", r"field 1 \(image_index\): expected an integer"),
    ("1 one 0.5 0 0 9 9", r"field 2 \(class_id\): expected an integer"),
    ("1 1 high 0 0 9 9", r"field 3 \(score\): expected a number"),
    ("1 1 nan 0 0 9 9", r"field 3 \(score\): expected a finite number"),
    ("1 1 inf 0 0 9 9", "expected a finite number"),
    ("1 1 0.5 0 0 -inf 9", r"field 6 \(x2\): expected a finite number"),
    ("1 0 0.5 0 0 9 9", "unknown class id 0"),
    ("1 201 0.5 0 0 9 9", "unknown class id 201"),
    ("77 1 0.5 0 0 9 9", "image index 77 is not in the image list"),
])
def test_rejects_malformed_lines_with_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "det.txt"
    path.write_text(f"1 1 0.5 0 0 9 9\n\n2 3 0.75 1 1 5 5\n{bad_line}\n3 2 0.1 0 0 9 9\n")
    with pytest.raises(DataFormatError, match=message) as info:
        read_det_file(path, num_classes=200, image_indices=[1, 2, 3])
    assert f"{path}:4:" in str(info.value)


def test_well_formed_files_take_the_fast_path(tmp_path, monkeypatch):
    from ilsvrc_pipe.submission import det_file

    many = sample(200)
    write_det_file(tmp_path / "det.txt", many.image_index, many.class_id, many.score, many.boxes)
    monkeypatch.setattr(det_file, "_read_slowly", lambda *a: pytest.fail("slow path used for a well-formed file"))
    assert len(read_det_file(tmp_path / "det.txt", num_classes=200, image_indices=range(1, 10))) == 200
