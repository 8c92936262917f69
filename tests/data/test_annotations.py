"""XML parsing by tag, broken boxes dropped with a warning, errors naming file and line."""
import logging

import numpy as np
import pytest

from ilsvrc_pipe.data.annotations import clamp_boxes, parse_annotation
from ilsvrc_pipe.utils.errors import DataFormatError

XML = """<annotation><folder>val</folder><filename>ILSVRC2012_val_00000001</filename>
<size><height>375</height><width>500</width><depth>1</depth></size>
<object><bndbox><xmin>0</xmin><xmax>500</xmax><ymin>10</ymin><ymax>20</ymax></bndbox><name>n01751748</name></object>
<object><name>n01751748</name><bndbox><xmin>50</xmin><ymin>60</ymin><xmax>40</xmax><ymax>70</ymax></bndbox></object>
<object><name>n02000000</name><bndbox><ymax>9</ymax><ymin>1</ymin><xmax>8.5</xmax><xmin>2</xmin></bndbox></object>
</annotation>"""


def test_parse_by_tag_keeps_signed_boxes_and_drops_broken(tmp_path, caplog):
    p = tmp_path / "a.xml"
    p.write_text(XML)
    with caplog.at_level(logging.WARNING):
        ann = parse_annotation(p)
    assert (ann.width, ann.height, ann.filename) == (500, 375, "ILSVRC2012_val_00000001")
    assert ann.names == ["n01751748", "n02000000"]
    np.testing.assert_array_equal(ann.boxes, [[0, 10, 500, 20], [2, 1, 8.5, 9]])
    assert ann.boxes.dtype == np.float64 and (ann.boxes[0, 0] - 1) == -1
    assert "a.xml:4" in caplog.text and "object 2" in caplog.text
    assert len(parse_annotation(p, keep_invalid=True)) == 3


def test_zero_objects_is_fine(tmp_path):
    p = tmp_path / "z.xml"
    p.write_text("<annotation><size><width>5</width><height>4</height></size></annotation>")
    ann = parse_annotation(p)
    assert len(ann) == 0 and ann.boxes.shape == (0, 4)


@pytest.mark.parametrize("body,match", [
    ("<annotation><object><name>n1</name></object></annotation>", r"b.xml:1: object 1 \(n1\) has no <bndbox>"),
    ("<annotation>\n<object><name>n1</name><bndbox><xmin>a</xmin></bndbox></object></annotation>", r"b.xml:2.*number"),
    ("<annotation>\n<size>", r"b.xml:2: malformed XML"),
    ("<annotation><object><name>n1</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax></bndbox></object></annotation>",
     "missing <bndbox/ymax"),
])
def test_errors_name_file_and_line(tmp_path, body, match):
    p = tmp_path / "b.xml"
    p.write_text(body)
    with pytest.raises(DataFormatError, match=match):
        parse_annotation(p)


def test_clamp_boxes():
    out = clamp_boxes(np.array([[-3, 0, 500, 374]]), 500, 375)
    np.testing.assert_array_equal(out, [[0, 0, 499, 374]])
