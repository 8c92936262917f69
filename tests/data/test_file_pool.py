"""file_pool.py: chunks in list order from a pool or from this process, the worker count, and
workers forked even after a progress bar has started tqdm's monitor thread."""
from __future__ import annotations

import os
import threading

import pytest
from tqdm import tqdm

from ilsvrc_pipe.data import file_pool
from ilsvrc_pipe.data.file_pool import chunk_bounds, map_chunks, pool_context, worker_count


def _pids_and_items(chunk: list[int]) -> tuple[int, list[int]]:
    return os.getpid(), chunk


@pytest.mark.parametrize("workers", [1, 3])
def test_chunks_come_back_contiguous_and_in_list_order(workers):
    results = map_chunks(_pids_and_items, list(range(2500)), workers=workers)
    assert [item for _, (_, chunk) in results for item in chunk] == list(range(2500))
    assert [offset for offset, _ in results] == [a for a, _ in chunk_bounds(2500, workers)]
    pids = {pid for _, (pid, _) in results}
    assert pids == {os.getpid()} if workers == 1 else (1 <= len(pids) <= 3 and os.getpid() not in pids)


def test_in_this_process_the_first_stopping_chunk_ends_the_list():
    results = map_chunks(_pids_and_items, list(range(3500)), workers=1, stop=lambda r: 1500 in r[1])
    bounds = chunk_bounds(3500, 1)
    assert len(bounds) == 4 and [offset for offset, _ in results] == [a for a, _ in bounds if a <= 1500] == [0, 875]


def test_worker_count(monkeypatch):
    monkeypatch.delenv(file_pool.WORKERS_ENV, raising=False)
    assert worker_count(10) == 1 and worker_count(10 ** 9) == len(os.sched_getaffinity(0))
    monkeypatch.setenv(file_pool.WORKERS_ENV, "3")
    assert worker_count(10) == 3


def test_workers_are_forked_after_a_progress_bar_but_not_beside_other_threads():
    with tqdm(total=3, disable=True):
        pass
    assert pool_context().get_start_method() == "fork"   # tqdm's monitor thread does not count
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert pool_context().get_start_method() == "forkserver"
    finally:
        stop.set()
        thread.join()
