"""listed_xmls.py: the XMLs of a list parsed in a pool give what a loop of ``Path.is_file``,
``parse_annotation`` and the class check gives: the same records, the same warnings in the same
order, and the first bad file in list order raising its own error."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ilsvrc_pipe.data import listed_xmls
from ilsvrc_pipe.data.annotations import parse_annotation
from ilsvrc_pipe.data.det_records import load_det_records
from ilsvrc_pipe.data.listed_xmls import parse_listed_xmls
from ilsvrc_pipe.data.loc_records import load_loc_records
from ilsvrc_pipe.utils.errors import DataFormatError

KNOWN = {"n01", "n02", "n03"}
pytestmark = pytest.mark.usefixtures("restore_package_logger")   # conftest.py


def check(ann) -> None:
    for name, line in zip(ann.names, ann.lines):
        if name not in KNOWN:
            raise DataFormatError(f"{ann.path}:{line}: object class {name!r} is not a class")


def loop(paths: list[str]):
    """The serial reading the pool replaces."""
    present, width, height, counts, names, boxes = [], [], [], [], [], []
    for path in map(Path, paths):
        if not path.is_file():
            present.append(False), width.append(-1), height.append(-1), counts.append(0)
            continue
        ann = parse_annotation(path)
        check(ann)
        present.append(True), width.append(ann.width or -1), height.append(ann.height or -1), counts.append(len(ann))
        names.extend(ann.names)
        boxes.extend(ann.boxes.tolist())
    return present, width, height, counts, names, np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


@pytest.fixture
def listed(tmp_path, write_xml) -> list[str]:
    """40 listed files: plain ones, and among them every kind the fast reader leaves to ``parse_annotation``."""
    paths = []
    for i in range(40):
        objects = [("n01", (1, 2, 30 + i, 40)), ("n02" if i % 3 else "n03", (5, 5, 9, 9))][: 1 + i % 2]
        paths.append(str(write_xml(tmp_path, f"img_{i:03d}", objects, width=100 + i, height=80)))
    write_xml(tmp_path, "img_004", [("n01", (1, 2, 3, 4)), ("n02", (9, 2, 3, 4))])   # a broken box, dropped
    write_xml(tmp_path, "img_030", [("n03", (9, 9, 1, 1))])                          # its only box broken
    Path(paths[9]).write_text(Path(paths[9]).read_text().replace("<source>", "<!-- a comment --><source>"))
    Path(paths[12]).write_text(Path(paths[12]).read_text().replace("<width>112</width>", "<width>0</width>"))
    Path(paths[15]).write_text(Path(paths[15]).read_text().replace(
        "<size><width>115</width><height>80</height><depth>3</depth></size>", ""))
    os.remove(paths[20])                          # listed, no XML
    os.remove(paths[33])
    os.mkdir(paths[33])                           # a folder named like the XML
    return paths


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_pool_answers_as_the_loop_with_its_warnings_in_order(listed, workers, caplog):
    with caplog.at_level(logging.WARNING, logger="ilsvrc_pipe.data.annotations"):
        expected = loop(listed)
    warned = [r.getMessage() for r in caplog.records]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ilsvrc_pipe.data.annotations"):
        parsed = parse_listed_xmls(listed, KNOWN, check, workers=workers)
    assert [r.getMessage() for r in caplog.records] == warned and len(warned) == 2
    present, width, height, counts, names, boxes = expected
    assert parsed.present.tolist() == present and parsed.width.tolist() == width and parsed.height.tolist() == height
    assert parsed.counts.tolist() == counts and parsed.names.tolist() == names and np.array_equal(parsed.boxes, boxes)
    assert parsed.boxes.dtype == np.float64
    assert parsed.object_files().tolist() == np.repeat(np.arange(40), counts).tolist()
    assert (width[12], width[15], counts[30], present[20], present[33]) == (-1, -1, 0, False, False)


@pytest.mark.parametrize("workers", [1, 3])
def test_the_first_bad_file_in_list_order_raises_its_own_error(listed, write_xml, tmp_path, workers):
    write_xml(tmp_path, "img_006", [("n01", (1, 1, 5, 5)), ("n99", (1, 1, 5, 5))])   # a class of no class list
    Path(listed[31]).write_text("<annotation><object>")                             # malformed
    with pytest.raises(DataFormatError) as first:
        loop(listed)
    with pytest.raises(DataFormatError) as pooled:
        parse_listed_xmls(listed, KNOWN, check, workers=workers)
    assert str(pooled.value) == str(first.value) and str(first.value).startswith(f"{listed[6]}:1: object class 'n99'")
    shutil.copy(listed[31], listed[2])                                              # now a malformed file comes first
    with pytest.raises(DataFormatError, match=r"img_002\.xml:1: malformed XML"):
        parse_listed_xmls(listed, KNOWN, check, workers=workers)


def test_the_workers_parse_in_other_processes(listed, tmp_path, monkeypatch):
    """The fast reader runs in the worker processes, not in this one (workers are forked: the spy goes along)."""
    log = tmp_path / "pids.txt"
    fast = listed_xmls.parse_plain_sized

    def spy(data):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return fast(data)

    monkeypatch.setattr(listed_xmls, "parse_plain_sized", spy)
    parse_listed_xmls(listed, KNOWN, check, workers=2)
    pids = set(log.read_text().split())
    assert 1 <= len(pids) <= 2 and str(os.getpid()) not in pids


# -- the loaders on a broken copy of the smoke preset ---------------------------------------------
@pytest.mark.parametrize("workers", ["1", "2"])
def test_loaders_raise_the_first_bad_xml_of_their_list(smoke_root, tmp_path, monkeypatch, workers):
    monkeypatch.setenv("ILSVRC_PIPE_PARSE_WORKERS", workers)
    root = Path(shutil.copytree(smoke_root, tmp_path / "root"))
    loc = sorted((root / "ILSVRC/Annotations/CLS-LOC/val").glob("*.xml"))
    loc[9].write_text("<annotation><object>")
    loc[4].write_text(loc[4].read_text().replace("<name>n", "<name>x", 1))
    with pytest.raises(DataFormatError, match=rf"^{loc[4]}:\d+: object class 'x\d+' is not a CLS-LOC class of "):
        load_loc_records(root, "val")
    det = sorted((root / "ILSVRC/Annotations/DET/val").glob("*.xml"))
    det[2].write_text("<annotation><size>")
    det[7].write_text(det[7].read_text().replace("<name>n", "<name>x", 1))
    with pytest.raises(DataFormatError, match=rf"^{det[2]}:1: malformed XML"):
        load_det_records(root, "val")
