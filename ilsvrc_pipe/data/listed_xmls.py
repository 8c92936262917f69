"""The XMLs of the images a split lists, parsed on all CPUs, with the answer of a loop over the list.

The data stage reads the XML of every boxed image: 544,546 of CLS-LOC train, 50,000 of val, about
360,000 of DET train and 20,121 of DET val. In a process pool (``file_pool.py``) each worker checks
that a file exists and reads it with the fast plain-XML reader (``annotations_fast.py``). What that
reader does not answer (a broken box, a comment, malformed XML, an unreadable file), and every file
naming a class outside the class list, is read again here by ``parse_annotation``, in list order,
then handed to the caller's check: so broken boxes are dropped with the serial loop's warnings, and
the first bad file in list order raises the serial loop's error.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Container

import numpy as np

from .annotations import ImageAnnotation, parse_annotation
from .annotations_fast import parse_plain_sized
from .fast_paths import path_is_file
from .file_pool import map_chunks

PLAIN, ABSENT, AGAIN = 0, 1, 2   # answered in the pool, no such file, to be read again here


@dataclass
class ListedXmls:
    """What each listed XML holds (objects of files in list order, concatenated)."""

    present: np.ndarray      # (F,) bool: the file exists (``Path.is_file``)
    width: np.ndarray        # (F,) int64: ``ann.width or -1`` (-1 also where there is no file)
    height: np.ndarray       # (F,) int64
    counts: np.ndarray       # (F,) int64 objects kept (broken boxes dropped)
    names: np.ndarray        # (M,) object (str) names; equal names share one string
    boxes: np.ndarray        # (M, 4) float64 inclusive boxes, XML frame

    def object_files(self) -> np.ndarray:
        """(M,) position in the list of each object's file."""
        return np.repeat(np.arange(len(self.counts)), self.counts)


def _read_chunk(paths: list[str]):
    """Worker: status, (width, height), object count of each file of a chunk and its objects' names
    and boxes, as arrays (a million files' results cross the pipe and stay in memory); names as codes
    into the chunk's distinct names. Never raises for a file."""
    status, sizes, counts, codes, boxes, distinct = [], [], [], [], [], {}
    for path in paths:
        plain = None
        exists = path_is_file(path, raising=False)
        if exists:
            try:
                with open(path, "rb") as fh:
                    plain = parse_plain_sized(fh.read())
            except OSError:
                plain = None
        if plain is None:
            status.append(ABSENT if exists is False else AGAIN)
            sizes.append((-1, -1))
            counts.append(0)
            continue
        width, height, names, file_boxes = plain
        status.append(PLAIN)
        sizes.append((width or -1, height or -1))
        counts.append(len(names))
        codes.extend(distinct.setdefault(name, len(distinct)) for name in names)
        boxes.extend(file_boxes)
    return (np.asarray(status, dtype=np.int8), np.asarray(sizes, dtype=np.int64).reshape(-1, 2),
            np.asarray(counts, dtype=np.int64), np.asarray(codes, dtype=np.int32), list(distinct),
            np.asarray(boxes, dtype=np.float64).reshape(-1, 4))


def _names(codes: np.ndarray, distinct: list[str], interned: dict[str, str]) -> np.ndarray:
    """Object array of the names a chunk's codes stand for, one string object per distinct name."""
    table = np.empty(len(distinct), dtype=object)
    table[:] = [interned.setdefault(name, name) for name in distinct]
    return table[codes]


def _unknown_files(parsed: ListedXmls, known: Container[str]) -> np.ndarray:
    """Positions of files with an object name outside ``known`` (looked up once per distinct name)."""
    if not len(parsed.names):
        return np.zeros(0, dtype=np.int64)
    distinct, inverse = np.unique(parsed.names, return_inverse=True)
    bad = np.asarray([name not in known for name in distinct.tolist()], dtype=bool)[inverse.reshape(-1)]
    return np.unique(parsed.object_files()[bad])


def _replace(parsed: ListedXmls, again: dict[int, ImageAnnotation]) -> ListedXmls:
    """``parsed`` with the objects of the files read again here in place of the pool's."""
    ends = np.cumsum(parsed.counts)
    names, boxes, start = [], [], 0
    for pos in sorted(again):
        stop = int(ends[pos] - parsed.counts[pos])
        names += [parsed.names[start:stop], np.asarray(again[pos].names, dtype=object).reshape(-1)]
        boxes += [parsed.boxes[start:stop], again[pos].boxes.reshape(-1, 4)]
        parsed.counts[pos] = len(again[pos])
        start = int(ends[pos])
    names.append(parsed.names[start:])
    boxes.append(parsed.boxes[start:])
    return ListedXmls(parsed.present, parsed.width, parsed.height, parsed.counts, np.concatenate(names),
                      np.concatenate(boxes).astype(np.float64, copy=False))


def parse_listed_xmls(paths: list[str], known: Container[str], check: Callable[[ImageAnnotation], None],
                      desc: str = "parse XML", workers: int | None = None) -> ListedXmls:
    """Every file of ``paths`` that exists, as a loop of ``Path.is_file``, ``parse_annotation`` and
    ``check`` over the list would read it (``check`` raises for objects of classes outside ``known``)."""
    chunks = [result for _, result in map_chunks(_read_chunk, paths, workers, desc)]
    interned: dict[str, str] = {}
    status = np.concatenate([c[0] for c in chunks])
    wh = np.concatenate([c[1] for c in chunks])
    parsed = ListedXmls(status == PLAIN, wh[:, 0].copy(), wh[:, 1].copy(), np.concatenate([c[2] for c in chunks]),
                        np.concatenate([_names(c[3], c[4], interned) for c in chunks]),
                        np.concatenate([c[5] for c in chunks]))
    del chunks, wh
    again: dict[int, ImageAnnotation] = {}
    for pos in sorted(set(np.flatnonzero(status == AGAIN).tolist()) | set(_unknown_files(parsed, known).tolist())):
        path = Path(paths[pos])
        if not path.is_file():   # gone since, or raising as the loop would have
            parsed.present[pos] = False
            continue
        ann = parse_annotation(path)
        check(ann)
        parsed.present[pos] = True
        parsed.width[pos], parsed.height[pos] = ann.width or -1, ann.height or -1
        again[pos] = ann
    return _replace(parsed, again) if again else parsed
