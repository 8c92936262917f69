"""The whole-file LOC reader gives the line reader's guesses exactly, or leaves the file to it (seeded fuzz)."""
from __future__ import annotations

import random

import numpy as np
import pytest

from ilsvrc_pipe.submission import loc_file_fast
from ilsvrc_pipe.submission.loc_file import read_loc_file
from ilsvrc_pipe.utils.errors import DataFormatError

GOOD_COORDS = ["0", "1", "2.5", "-3", "1e2", ".5", "5.", "+2", "007", "0.1", "-0", "1E-3", "123456789.123456789"]
BAD_COORDS = ["1e400", "1.2.3", "1e", "+-1", "nan", "x"]
BAD_LABELS = ["+1", "1.0", "1e0", "-1", "01"]


def _line(rnd: random.Random) -> str:
    tokens = []
    for _ in range(rnd.randint(1, 6) if rnd.random() > 0.05 else 0):
        tokens.append(str(rnd.choice([0, 1, 2, 3, 7, 12])) if rnd.random() < 0.995 else rnd.choice(BAD_LABELS))
        tokens += [rnd.choice(GOOD_COORDS) if rnd.random() < 0.995 else rnd.choice(BAD_COORDS) for _ in range(4)]
    if tokens and rnd.random() < 0.03:
        tokens.pop()
    return rnd.choice([" ", "  ", "\t"]).join(tokens) + rnd.choice(["", " ", "\t"])


def _read(path, num_classes, fast: bool):
    saved = loc_file_fast.read_plain_loc_file
    if not fast:
        loc_file_fast.read_plain_loc_file = lambda *args: None
    try:
        sub = read_loc_file(path, num_classes=num_classes)
    except DataFormatError as exc:
        return str(exc)
    finally:
        loc_file_fast.read_plain_loc_file = saved
    return sub


def test_fast_reader_equals_line_reader(tmp_path):
    rnd = random.Random(2015)
    path = tmp_path / "pred.txt"
    n_fast = 0
    for _ in range(400):
        text = "\n".join(_line(rnd) for _ in range(rnd.randint(1, 5))) + rnd.choice(["", "\n", "\n\n"])
        path.write_bytes((b"\xef\xbb\xbf" if rnd.random() < 0.05 else b"") + text.encode())
        num_classes = rnd.choice([None, 5, 12])
        n_fast += loc_file_fast.read_plain_loc_file(path, num_classes) is not None
        slow, fast = _read(path, num_classes, False), _read(path, num_classes, True)
        if isinstance(slow, str):
            assert fast == slow, text
        else:
            assert np.array_equal(fast.labels, slow.labels), text
            assert np.array_equal(fast.boxes, slow.boxes) and np.array_equal(np.signbit(fast.boxes), np.signbit(slow.boxes))
    assert n_fast > 100  # the fast path is really exercised


@pytest.mark.parametrize("text", ["1 2 3 4 5\n\n", "1 2 3 4 5\n \n2 1 1 1 1\n", "1 2 3 4\n", "", "1 2 3 4 5\r\n"])
def test_irregular_files_are_left_to_the_line_reader(tmp_path, text):
    path = tmp_path / "pred.txt"
    path.write_text(text, newline="")
    assert loc_file_fast.read_plain_loc_file(path, None) is None


@pytest.mark.parametrize("text", [
    "1 0 0 10 10 2 -3 -0 007 12\n3 5 6 7 8\n",            # integers only: parsed on the bytes
    "1 0 0 10 10\n2 1234567890123456 0 1 1\n",           # 16 digits: left to Python's float
    "1 0 0 10 10\n2 1.5 0 1 1\n",                         # a point: Python's float
])
def test_integer_files_equal_the_line_reader(tmp_path, text):
    path = tmp_path / "pred.txt"
    path.write_text(text)
    assert loc_file_fast.read_plain_loc_file(path, None) is not None
    slow, fast = _read(path, None, False), _read(path, None, True)
    assert np.array_equal(fast.labels, slow.labels) and np.array_equal(fast.boxes, slow.boxes)
    assert np.array_equal(np.signbit(fast.boxes), np.signbit(slow.boxes))


def test_a_signed_id_is_left_to_the_line_reader(tmp_path):
    path = tmp_path / "pred.txt"
    path.write_text("-1 0 0 10 10\n")
    assert loc_file_fast.read_plain_loc_file(path, None) is None
