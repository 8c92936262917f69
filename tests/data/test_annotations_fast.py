"""The plain-XML fast path answers only what it can answer exactly like ``parse_annotation``."""
from __future__ import annotations

import numpy as np
import pytest

from ilsvrc_pipe.data.annotations import parse_annotation
from ilsvrc_pipe.data.annotations_fast import parse_plain
from ilsvrc_pipe.evaluation.xml_batch import parse_xml_files
from ilsvrc_pipe.utils.errors import DataFormatError

OBJ = "<object><name>n01</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>"
SIZE = "<size><width>500</width><height>375</height><depth>3</depth></size>"

PLAIN = {
    "typical": f"<annotation><folder>val</folder><filename>x</filename>{SIZE}{OBJ}{OBJ.replace('n01', 'n02')}</annotation>",
    "declaration": f'<?xml version="1.0" encoding="utf-8"?>\n<annotation>{SIZE}{OBJ}</annotation>',
    "tags in any order": "<annotation><object><bndbox><ymax>40</ymax><xmax>30</xmax><xmin>1</xmin><ymin>2</ymin>"
                         "</bndbox><difficult>0</difficult><name> n01 </name></object></annotation>",
    "no objects": f"<annotation>{SIZE}</annotation>",
    "float coordinates": OBJ.replace("<xmin>1</xmin>", "<xmin> 1.5 </xmin>").join(["<annotation>", "</annotation>"]),
    "entity in a name": OBJ.replace("n01", "n0&amp;1").join(["<annotation>", "</annotation>"]),
    "object without size": f"<annotation>{OBJ}</annotation>",
}
SLOW_PATH = {  # the fast path declines; parse_annotation gives the answer or the error
    "comment in a number": OBJ.replace("<xmin>1</xmin>", "<xmin>1<!-- c -->0</xmin>").join(["<annotation>", "</annotation>"]),
    "cdata": OBJ.replace("n01", "<![CDATA[n01]]>").join(["<annotation>", "</annotation>"]),
    "broken box": OBJ.replace("<xmax>30</xmax>", "<xmax>0</xmax>").join(["<annotation>", "</annotation>"]),
    "nan": OBJ.replace("<xmin>1</xmin>", "<xmin>nan</xmin>").join(["<annotation>", "</annotation>"]),
    "missing ymax": OBJ.replace("<ymax>40</ymax>", "").join(["<annotation>", "</annotation>"]),
    "no name": OBJ.replace("<name>n01</name>", "").join(["<annotation>", "</annotation>"]),
    "bad width": f"<annotation><size><width>wide</width></size>{OBJ}</annotation>",
    "wrong root": f"<annot>{OBJ}</annot>",
    "malformed": f"<annotation>{OBJ}",
    "namespace": f'<annotation xmlns="urn:x">{OBJ}</annotation>',
    "processing instruction": f"<annotation><?pi x?>{OBJ}</annotation>",
}


def _slow(path):
    try:
        ann = parse_annotation(path, keep_invalid=True)
    except (DataFormatError, ValueError) as exc:
        return type(exc), str(exc)
    return list(ann.names), ann.boxes.tolist()


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_documents_read_like_the_line_reader(tmp_path, name):
    path = tmp_path / "a.xml"
    path.write_text(PLAIN[name])
    fast = parse_plain(path.read_bytes())
    assert fast is not None
    assert (fast[0], fast[1]) == _slow(path)


@pytest.mark.parametrize("name", sorted(SLOW_PATH))
def test_anything_else_goes_to_the_line_reader(tmp_path, name):
    path = tmp_path / "a.xml"
    path.write_text(SLOW_PATH[name])
    assert parse_plain(path.read_bytes()) is None
    parsed = parse_xml_files([path], workers=1)
    slow = _slow(path)
    if parsed.error is not None:
        assert (type(parsed.error[1]), str(parsed.error[1])) == slow
    else:
        assert (parsed.names.tolist(), parsed.boxes.tolist()) == slow


def test_fixture_files_take_the_fast_path_and_agree(scoring_fixture):
    paths = sorted((scoring_fixture / "det/Annotations").glob("*.xml")) + sorted((scoring_fixture / "loc/Annotations").glob("*.xml"))
    for path in paths:
        fast = parse_plain(path.read_bytes())
        ann = parse_annotation(path, keep_invalid=True)
        if fast is None:  # a fixture file with a broken box: the line reader keeps it, as the devkit does
            assert not all(b[2] >= b[0] and b[3] >= b[1] for b in ann.boxes.tolist())
            continue
        assert fast[0] == ann.names and np.array_equal(np.asarray(fast[1]).reshape(-1, 4), ann.boxes)
