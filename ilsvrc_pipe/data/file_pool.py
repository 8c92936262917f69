"""Work through a long list of files on all CPUs, in contiguous chunks, results in list order.

Indexing a real ImageNet reads about a million XMLs and a quarter of a million image headers; one
process spends minutes on it, so large lists are split into contiguous chunks handed to a process
pool (threads would serialise on the GIL). The caller's chunk function sees one chunk and returns
what it found; the results come back in chunk order, so the caller can answer exactly as a serial
loop over the list would (its first failing file, in list order, raises its own error).

Workers are forked (they inherit the imported modules) unless threads are running, which a forked
child could find holding a lock; then a fork server starts them (tqdm's monitor thread, which the
first progress bar of a process starts and leaves running, does not count: see :func:`pool_context`).
``$ILSVRC_PIPE_PARSE_WORKERS`` sets the number of processes (1: everything in this process).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Sequence, TypeVar

import numpy as np
from tqdm import TMonitor, tqdm

logger = logging.getLogger(__name__)

MIN_FILES_PER_WORKER = 2000   # below this a worker's start-up costs more than it saves
CHUNKS_PER_WORKER = 4         # smaller chunks even out slow and fast workers
SERIAL_CHUNK = 1000           # files per progress-bar step when working in this process
PROGRESS_MIN_FILES = 1000     # no bar for short lists (tests, small splits)
WORKERS_ENV = "ILSVRC_PIPE_PARSE_WORKERS"

T = TypeVar("T")
R = TypeVar("R")


def worker_count(n_files: int) -> int:
    """Processes for ``n_files``: one per usable CPU, none for small lists; ``$ILSVRC_PIPE_PARSE_WORKERS`` overrides."""
    if os.environ.get(WORKERS_ENV, "").strip().isdigit():
        return max(1, int(os.environ[WORKERS_ENV]))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, n_files // MIN_FILES_PER_WORKER))


def chunk_bounds(n_items: int, workers: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the contiguous chunks of a list of ``n_items`` for ``workers`` processes
    (one process: chunks of ``SERIAL_CHUNK``, the progress bar's steps)."""
    n_chunks = workers * CHUNKS_PER_WORKER if workers > 1 else -(-n_items // SERIAL_CHUNK)
    bounds = np.linspace(0, n_items, max(1, n_chunks) + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _only_this_thread() -> bool:
    """No thread runs but this one and tqdm's monitor: the monitor, which every progress bar starts
    and which outlives it, only ever takes tqdm's own lock, which no worker touches."""
    return all(t is threading.current_thread() or isinstance(t, TMonitor) for t in threading.enumerate())


def pool_context():
    """fork unless threads are running (then a fork server); None off Linux (the platform's default)."""
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork" if _only_this_thread() else "forkserver")
    return None


def _progress(total: int, desc: str):
    return tqdm(total=total, desc=desc, unit="file", leave=False, disable=total < PROGRESS_MIN_FILES)


def _run_in_pool(work: Callable[[list[T]], R], chunks: list[list[T]], workers: int, desc: str) -> list[R]:
    with ProcessPoolExecutor(max_workers=workers, mp_context=pool_context()) as pool:
        futures = {pool.submit(work, c): k for k, c in enumerate(chunks)}
        results: list = [None] * len(chunks)
        with _progress(sum(map(len, chunks)), desc) as bar:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(len(chunks[futures[future]]))
        return results


def map_chunks(work: Callable[[list[T]], R], items: Sequence[T], workers: int | None = None, desc: str = "parse XML",
               stop: Callable[[R], bool] = lambda result: False) -> list[tuple[int, R]]:
    """``(offset, work(chunk))`` of each contiguous chunk of ``items``, in list order.

    ``work`` must be a module-level function (it is pickled for the workers). In this process the
    chunks are worked in order and the first whose result ``stop`` accepts ends the list; in a pool
    every chunk is worked. ``workers`` defaults to :func:`worker_count`. A machine that cannot start
    processes (limits, no /dev/shm) gets the work done here, with a warning."""
    items = list(items)
    if not items:
        return [(0, work(items))]
    workers = worker_count(len(items)) if workers is None else min(workers, len(items))
    bounds = chunk_bounds(len(items), workers)
    chunks = [items[a:b] for a, b in bounds]
    if workers > 1:
        try:
            return [(a, r) for (a, _), r in zip(bounds, _run_in_pool(work, chunks, workers, desc))]
        except (OSError, BrokenProcessPool) as exc:
            logger.warning("no process pool for %s (%s); parsing in this process", desc, exc)
    results = []
    with _progress(len(items), desc) as bar:
        for (a, _), chunk in zip(bounds, chunks):
            results.append((a, work(chunk)))
            bar.update(len(chunk))
            if stop(results[-1][1]):
                break
    return results
