"""The one inference loop: chunks written as parts, loader workers that change nothing, resume at a chunk.

The loop's item function here is a toy (no model): what is tested is the loop's bookkeeping, which
every stage's result tables depend on.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ilsvrc_pipe.artifacts.parts import PartedTable, read_result_table, table_done
from ilsvrc_pipe.engine.chunked_inference import chunk_bounds, empty_table, run_in_chunks

COLUMNS = {"item": np.int64, "value": np.float64}


class Squares(torch.utils.data.Dataset):
    """Item ``i`` "decoded": a tensor holding ``i``, with the id of the process that decoded it."""

    def __len__(self) -> int:
        return 23

    def __getitem__(self, i: int):
        import os

        return torch.tensor([float(i)]), os.getpid()


def squares(calls: list, fail_after: int | None = None):
    def run_batch(indices, batch):
        calls.append(list(indices))
        if fail_after is not None and len(calls) > fail_after:
            raise KeyboardInterrupt("killed")
        values = np.asarray([float(x[0]) ** 2 for x, _ in batch])
        rows = pd.DataFrame({"item": np.asarray(indices, dtype=np.int64), "value": values})
        return {"squares": rows, "odd": rows[rows["item"] % 2 == 1]}
    return run_batch


def tables(tmp_path):
    return {"squares": PartedTable(tmp_path / "squares"), "odd": PartedTable(tmp_path / "odd")}


def empty():
    return {name: empty_table(list(COLUMNS), COLUMNS) for name in ("squares", "odd")}


def test_chunks_become_parts_in_item_order(tmp_path):
    calls: list = []
    run_in_chunks(tables(tmp_path), empty(), 23, squares(calls), Squares(), chunk_items=5, batch_size=2)
    parts = PartedTable(tmp_path / "squares")
    assert parts.is_complete() and parts.n_parts() == 5 and table_done(tmp_path / "squares")
    assert parts.layout() == {"parts": 5, "chunk_items": 5, "items": 23}
    table = read_result_table(tmp_path / "squares")
    assert table["item"].tolist() == list(range(23)) and table["value"].tolist() == [i * i for i in range(23)]
    assert read_result_table(tmp_path / "odd")["item"].tolist() == list(range(1, 23, 2))
    # batches never cross a chunk: items 4 and 5 are in different chunks
    assert all(len({i // 5 for i in batch}) == 1 for batch in calls)
    # a part holds its chunk's rows only
    assert PartedTable(tmp_path / "squares").read_part(4)["item"].tolist() == [20, 21, 22]


def test_loader_workers_change_nothing(tmp_path):
    run_in_chunks(tables(tmp_path / "serial"), empty(), 23, squares([]), Squares(), chunk_items=5, num_workers=0)
    run_in_chunks(tables(tmp_path / "workers"), empty(), 23, squares([]), Squares(), chunk_items=5, num_workers=2)
    for name in ("squares", "odd"):
        for k in range(5):
            serial = (tmp_path / "serial" / name / f"part-{k:06d}.parquet").read_bytes()
            assert serial == (tmp_path / "workers" / name / f"part-{k:06d}.parquet").read_bytes(), (name, k)


def test_decoding_happens_in_the_workers(tmp_path):
    import os

    seen = set()

    def run_batch(indices, batch):
        seen.update(pid for _, pid in batch)
        return {"squares": pd.DataFrame({"item": np.asarray(indices, dtype=np.int64), "value": 0.0})}

    run_in_chunks({"squares": PartedTable(tmp_path / "t")}, {"squares": empty()["squares"]}, 23, run_batch,
                  Squares(), chunk_items=5, num_workers=2)
    assert seen and os.getpid() not in seen


def test_a_killed_loop_resumes_at_its_first_unfinished_chunk(tmp_path):
    calls: list = []
    with pytest.raises(KeyboardInterrupt):   # killed in chunk 2 (batches of 2: chunks hold 3 batches)
        run_in_chunks(tables(tmp_path), empty(), 23, squares(calls, fail_after=7), Squares(), chunk_items=5, batch_size=2)
    finished = PartedTable(tmp_path / "squares").finished_chunks()
    assert finished == {0, 1} and not PartedTable(tmp_path / "squares").is_complete()
    written = {k: (tmp_path / "squares" / f"part-{k:06d}.parquet").stat().st_mtime_ns for k in finished}
    again: list = []
    run_in_chunks(tables(tmp_path), empty(), 23, squares(again), Squares(), chunk_items=5, batch_size=2)
    assert min(i for batch in again for i in batch) == 10   # chunks 0 and 1 were not computed again
    assert {k: (tmp_path / "squares" / f"part-{k:06d}.parquet").stat().st_mtime_ns for k in finished} == written
    reference = tmp_path / "reference"
    run_in_chunks(tables(reference), empty(), 23, squares([]), Squares(), chunk_items=5, batch_size=2)
    for k in range(5):
        assert ((tmp_path / "squares" / f"part-{k:06d}.parquet").read_bytes()
                == (reference / "squares" / f"part-{k:06d}.parquet").read_bytes())


def test_an_empty_split_gives_empty_complete_tables(tmp_path):
    run_in_chunks(tables(tmp_path), empty(), 0, squares([]), None, chunk_items=5)
    table = read_result_table(tmp_path / "squares")
    assert table.empty and list(table.columns) == ["item", "value"] and table["item"].dtype == np.int64


def test_chunk_bounds():
    assert chunk_bounds(0, 4) == [range(0, 0)]
    assert chunk_bounds(9, 4) == [range(0, 4), range(4, 8), range(8, 9)]


def test_read_items_reads_the_parts_that_hold_them(tmp_path):
    run_in_chunks(tables(tmp_path), empty(), 23, squares([]), Squares(), chunk_items=5)
    rows = PartedTable(tmp_path / "squares").read_items(range(8, 12))
    assert rows["item"].tolist() == list(range(5, 15))   # parts 1 and 2, whole
