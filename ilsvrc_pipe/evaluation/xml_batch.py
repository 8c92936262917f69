"""Parse many ground-truth XMLs into flat arrays, on all CPUs, keeping the serial reader's answer.

A cold scoring call parses 20,000-50,000 files; one process spends seconds on it, so large lists
are split into contiguous chunks parsed by a process pool (threads would serialise on the GIL).
Each file goes through the fast plain-XML path, else through ``parse_annotation`` (the one
reader the data stage also uses), so results and error messages are those of a serial loop: the
first file that fails, in list order, raises its own exception; files after it are not needed.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from concurrent.futures import as_completed
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..data.annotations import parse_annotation
from ..data.annotations_fast import parse_plain

logger = logging.getLogger(__name__)

MIN_FILES_PER_WORKER = 2000   # below this a worker's start-up costs more than it saves
CHUNKS_PER_WORKER = 4         # smaller chunks even out slow and fast workers
SERIAL_CHUNK = 1000           # files per progress-bar step when parsing in this process
PROGRESS_MIN_FILES = 1000     # no bar for short lists (tests, small splits)
WORKERS_ENV = "ILSVRC_PIPE_PARSE_WORKERS"


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


def worker_count(n_files: int) -> int:
    """Processes for ``n_files``: one per usable CPU, none for small lists; ``$ILSVRC_PIPE_PARSE_WORKERS`` overrides."""
    if os.environ.get(WORKERS_ENV, "").strip().isdigit():
        return max(1, int(os.environ[WORKERS_ENV]))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, n_files // MIN_FILES_PER_WORKER))


def _chunks(paths: list[str], n: int) -> list[list[str]]:
    bounds = np.linspace(0, len(paths), n + 1).astype(int)
    return [paths[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _context():
    """fork (workers inherit the imported modules: no numpy re-import) unless threads are running,
    which a forked child could find holding a lock; then a fork server."""
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork" if threading.active_count() == 1 else "forkserver")
    return None


def _progress(total: int):
    return tqdm(total=total, desc="parse XML", unit="xml", leave=False, disable=total < PROGRESS_MIN_FILES)


def _run_in_pool(chunks: list[list[str]], workers: int, total: int):
    """Each chunk's result, in chunk order, from a process pool. The workers are started before the
    progress bar: the bar's monitor thread would make :func:`_context` choose the fork server, whose
    workers import every module again (about a third of a cold scoring call)."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        futures = {pool.submit(_parse_chunk, c): k for k, c in enumerate(chunks)}
        results = [None] * len(chunks)
        with _progress(total) as bar:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(len(chunks[futures[future]]))
        return results


def _run(chunks: list[list[str]], workers: int):
    """Each chunk's result, in chunk order; a bar counts the files parsed (chunks finish out of order)."""
    total = sum(len(c) for c in chunks)
    if workers > 1:
        try:
            return _run_in_pool(chunks, workers, total)
        except (OSError, BrokenProcessPool) as exc:  # no processes here (limits, no /dev/shm): one is enough
            logger.warning("parallel XML parsing unavailable (%s); parsing in this process", exc)
    results = []
    with _progress(total) as bar:
        for chunk in chunks:
            results.append(_parse_chunk(chunk))
            bar.update(len(chunk))
            if results[-1][4] is not None:  # the first unreadable file ends the parse, as in one loop
                break
    return results


def parse_xml_files(paths: list[str | os.PathLike], workers: int | None = None) -> ParsedXmls:
    """Names and boxes of every file, in order; see :class:`ParsedXmls` for the first error."""
    paths = [os.fspath(p) for p in paths]
    workers = worker_count(len(paths)) if workers is None else workers
    n_chunks = workers * CHUNKS_PER_WORKER if workers > 1 else -(-len(paths) // SERIAL_CHUNK)
    chunks = _chunks(paths, n_chunks) if paths else [paths]
    counts, names, boxes, stats, error, offset = [], [], [], [], None, 0
    for chunk, (c_counts, c_names, c_boxes, c_stats, c_error) in zip(chunks, _run(chunks, workers)):
        counts.extend(c_counts)
        names.extend(c_names)
        boxes.extend(c_boxes)
        stats.extend(c_stats)
        if c_error is not None:
            error = (offset + c_error[0], c_error[1])
            break
        offset += len(chunk)
    return ParsedXmls(np.asarray(counts, dtype=np.int64), np.asarray(names, dtype=str),
                      np.asarray(boxes, dtype=np.float64).reshape(-1, 4), error,
                      np.asarray(stats, dtype=np.int64).reshape(-1, 2))
