"""Parse many ground-truth XMLs into flat arrays, on all CPUs, keeping the serial reader's answer.

A cold scoring call parses 20,000-50,000 files; one process spends seconds on it, so large lists
are split into contiguous chunks parsed by a process pool (``data/file_pool.py``, whose
``$ILSVRC_PIPE_PARSE_WORKERS`` sets the number of processes). Each file goes through the fast
plain-XML path, else through ``parse_annotation`` (the one reader the data stage also uses), so
results and error messages are those of a serial loop: the first file that fails, in list order,
raises its own exception; files after it are not needed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..data.annotations import parse_annotation
from ..data.annotations_fast import parse_plain
from ..data.file_pool import WORKERS_ENV, map_chunks, worker_count  # noqa: F401  (importable from here, as before)


@dataclass
class ParsedXmls:
    """Objects of files ``0 .. n_files-1`` (all files, unless ``error`` stopped the parse)."""

    counts: np.ndarray       # (F,) int64 objects per file
    names: np.ndarray        # (M,) str, object names in file order
    boxes: np.ndarray        # (M, 4) float64 inclusive boxes, XML frame
    error: tuple[int, BaseException] | None = None  # (position, exception) of the first unreadable file
    stats: np.ndarray | None = None  # (F, 2) size and mtime (ns) of each file when it was read

    @property
    def n_files(self) -> int:
        return len(self.counts)


def _parse_one(path: str) -> tuple[list[str], list, tuple[int, int]]:
    """Names, boxes, and the (size, mtime) of the file read (free here: the cache needs them)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            plain = parse_plain(fh.read())
    except OSError:
        st, plain = None, None  # parse_annotation raises the error the serial reader raised
    stat = (st.st_size, st.st_mtime_ns) if st is not None else (-1, -1)
    if plain is not None:
        return plain[0], plain[1], stat
    ann = parse_annotation(path, keep_invalid=True)
    return list(ann.names), ann.boxes.tolist(), stat


def _parse_chunk(paths: list[str]):
    """Worker: counts, names, boxes and stats of a chunk, stopping at its first failing file."""
    counts, names, boxes, stats = [], [], [], []
    for i, path in enumerate(paths):
        try:
            file_names, file_boxes, stat = _parse_one(path)
        except Exception as exc:  # re-raised by the caller exactly as the serial loop raised it
            return counts, names, boxes, stats, (i, exc)
        counts.append(len(file_names))
        names.extend(file_names)
        boxes.extend(file_boxes)
        stats.append(stat)
    return counts, names, boxes, stats, None


def parse_xml_files(paths: list[str | os.PathLike], workers: int | None = None) -> ParsedXmls:
    """Names and boxes of every file, in order; see :class:`ParsedXmls` for the first error."""
    paths = [os.fspath(p) for p in paths]
    counts, names, boxes, stats, error = [], [], [], [], None
    for offset, (c_counts, c_names, c_boxes, c_stats, c_error) in map_chunks(
            _parse_chunk, paths, workers, "parse XML", stop=lambda result: result[4] is not None):
        counts.extend(c_counts)
        names.extend(c_names)
        boxes.extend(c_boxes)
        stats.extend(c_stats)
        if c_error is not None:
            error = (offset + c_error[0], c_error[1])
            break
    return ParsedXmls(np.asarray(counts, dtype=np.int64), np.asarray(names, dtype=str),
                      np.asarray(boxes, dtype=np.float64).reshape(-1, 4), error,
                      np.asarray(stats, dtype=np.int64).reshape(-1, 2))
