"""PASCAL-VOC-style ILSVRC XML: parsed by tag, all objects kept, broken boxes reported.

Boxes are inclusive pixel boxes ``[xmin, ymin, xmax, ymax]`` in the XML's frame, kept signed
(float64) so ``xmin = 0`` minus one never wraps. Clamp only where tensors need it.
"""
from __future__ import annotations

import logging
import os
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils.errors import DataFormatError

logger = logging.getLogger(__name__)

_BOX_TAGS = ("xmin", "ymin", "xmax", "ymax")


@dataclass
class _Node:
    tag: str
    line: int
    text: str = ""
    children: list = field(default_factory=list)

    def find(self, tag: str):
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str):
        return [c for c in self.children if c.tag == tag]


def _parse_tree(path: Path) -> _Node:
    """Parse with expat, remembering each element's line so errors can name it."""
    parser = xml.parsers.expat.ParserCreate()
    stack: list[_Node] = []
    root: list[_Node] = []

    def start(tag, _attrs):
        node = _Node(tag, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(_tag):
        node = stack.pop()
        node.text = node.text.strip()

    def chars(data):
        if stack:
            stack[-1].text += data

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, chars
    try:
        with open(path, "rb") as fh:
            parser.ParseFile(fh)
    except xml.parsers.expat.ExpatError as exc:
        raise DataFormatError(f"{path}:{exc.lineno}: malformed XML ({xml.parsers.expat.ErrorString(exc.code)})") from exc
    if not root:
        raise DataFormatError(f"{path}:1: empty XML document")
    return root[0]


@dataclass
class ImageAnnotation:
    """One XML file: image size and its objects (names and inclusive boxes)."""

    path: str
    filename: str | None
    width: int | None
    height: int | None
    names: list[str]
    boxes: np.ndarray  # (N, 4) float64, XML frame, inclusive
    lines: list[int] = field(default_factory=list)  # line of each object's <object> tag (for messages)

    def __len__(self) -> int:
        return len(self.names)


def _number(node: _Node | None, path: Path, what: str) -> float:
    """A finite number: ``nan`` or ``inf`` is no pixel coordinate or size, and the scorers and the
    data stage must read the same file the same way, so it is an error like any other non-number."""
    if node is None:
        raise DataFormatError(f"{path}: missing <{what}>")
    try:
        value = float(node.text)
    except ValueError:
        raise DataFormatError(f"{path}:{node.line}: <{what}> must be a number, got {node.text!r}") from None
    if not np.isfinite(value):
        raise DataFormatError(f"{path}:{node.line}: <{what}> must be a finite number, got {node.text!r}")
    return value


def box_is_valid(box) -> bool:
    """A box with xmax >= xmin and ymax >= ymin (inclusive pixels: at least 1x1)."""
    return bool(box[2] >= box[0] and box[3] >= box[1] and np.all(np.isfinite(box)))


def parse_annotation(path: str | os.PathLike, keep_invalid: bool = False) -> ImageAnnotation:
    """Parse one ILSVRC XML.

    Broken boxes (``xmax < xmin`` or ``ymax < ymin``) are dropped with a warning naming the file and
    object, unless ``keep_invalid`` (the scorers keep every object, as the devkit does).
    """
    path = Path(path)
    root = _parse_tree(path)
    if root.tag != "annotation":
        raise DataFormatError(f"{path}:{root.line}: expected <annotation> as the root element, got <{root.tag}>")
    size = root.find("size")
    width = height = None
    if size is not None:
        if size.find("width") is not None:
            width = int(_number(size.find("width"), path, "width"))
        if size.find("height") is not None:
            height = int(_number(size.find("height"), path, "height"))
    fn = root.find("filename")
    names, boxes, lines = [], [], []
    for k, obj in enumerate(root.findall("object"), 1):
        name_node = obj.find("name")
        if name_node is None or not name_node.text:
            raise DataFormatError(f"{path}:{obj.line}: object {k} has no <name>")
        bb = obj.find("bndbox")
        if bb is None:
            raise DataFormatError(f"{path}:{obj.line}: object {k} ({name_node.text}) has no <bndbox>")
        box = [_number(bb.find(t), path, f"bndbox/{t} of object {k} (line {bb.line})") for t in _BOX_TAGS]
        if not box_is_valid(box) and not keep_invalid:
            logger.warning("%s:%d: dropping object %d (%s): broken box %s (xmax < xmin or ymax < ymin)",
                           path, obj.line, k, name_node.text, box)
            continue
        names.append(name_node.text)
        boxes.append(box)
        lines.append(obj.line)
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return ImageAnnotation(str(path), fn.text if fn is not None else None, width, height, names, arr, lines)


def clamp_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clamp inclusive boxes into the image (``0..width-1``), e.g. ``xmax = width`` -> ``width - 1``."""
    out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width - 1)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height - 1)
    return out
