"""fast_paths.py: pathlib's answers on plain strings, for the cases pathlib treats specially too."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ilsvrc_pipe.data.fast_paths import join_path, path_is_file

NAMES = ["n01/n01_1.JPEG", "a.xml", "./a.xml", "a/./b.xml", "a//b.xml", "a/../b.xml", "/abs/c.xml", "", ".", "a/",
         "..", "x y.JPEG"]


@pytest.mark.parametrize("folder", ["/data/ILSVRC/Data/CLS-LOC/train", "rel/dir", ".", "/"])
def test_join_path_is_pathlibs_join(folder):
    for name in NAMES:
        assert join_path(folder, name) == str(Path(folder) / name), (folder, name)


def test_path_is_file_is_pathlibs_is_file(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "d").mkdir()
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for path in ["f.txt", "d", "missing", "f.txt/below", "loop", "nul\0byte"]:
        assert path_is_file(str(tmp_path / path)) is Path(tmp_path / path).is_file(), path
    too_long = str(tmp_path / ("x" * 5000))   # ENAMETOOLONG: pathlib raises, so does path_is_file
    with pytest.raises(OSError) as pathlib_error:
        Path(too_long).is_file()
    assert pathlib_error.value.errno == errno.ENAMETOOLONG
    with pytest.raises(OSError, match=os.strerror(errno.ENAMETOOLONG)):
        path_is_file(too_long)
    assert path_is_file(too_long, raising=False) is None   # a worker leaves that file to its caller
