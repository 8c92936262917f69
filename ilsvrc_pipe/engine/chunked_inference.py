"""The one inference loop of the stages: shard by chunk, decode in loader workers, run, write parts.

Classifier testing, proposals, R-CNN rescoring and detection all do the same thing over a split:
take the images in a fixed order, cut them into chunks of a bounded number of images, give chunk
``k`` to rank ``k mod world``, decode the images off the main thread (a ``DataLoader`` with
workers), run the models on batches that never cross a chunk, and write each finished chunk of
every result table as one parquet part (``artifacts/parts.py``). A part already on disk is not
computed again, so a killed run resumes at its first unfinished chunk; when every rank is done the
tables are marked complete. A rank holds at most one chunk's results, never another rank's.
"""
from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import pandas as pd
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..artifacts.parts import PartedTable
from ..utils.distributed import barrier, is_main, rank, world_size

# run_batch(indices, inputs) -> {table name: rows of those items}; inputs are the decoded items
# (None without a dataset)
RunBatch = Callable[[list[int], list], Mapping[str, pd.DataFrame]]


def _as_list(batch: list) -> list:
    return batch


def chunk_bounds(n_items: int, chunk_items: int) -> list[range]:
    """The items of each chunk: consecutive runs of ``chunk_items`` (at least one chunk)."""
    chunk_items = max(1, int(chunk_items))
    n_chunks = max(1, math.ceil(n_items / chunk_items))
    return [range(k * chunk_items, min(n_items, (k + 1) * chunk_items)) for k in range(n_chunks)]


def _batches(chunk: range, batch_size: int) -> list[list[int]]:
    return [list(chunk[i:i + batch_size]) for i in range(0, len(chunk), batch_size)]


def run_in_chunks(tables: Mapping[str, PartedTable], empty: Mapping[str, pd.DataFrame], n_items: int,
                  run_batch: RunBatch, dataset: Dataset | None = None, chunk_items: int = 1000,
                  batch_size: int = 1, num_workers: int = 0, desc: str = "") -> None:
    """Compute the missing parts of ``tables`` (each complete table is skipped) and mark them complete.

    ``empty[name]``: the (typed, row-less) table a chunk without rows writes. ``dataset[i]``: item
    ``i`` decoded, in loader workers when ``num_workers`` > 0; the order of items and every output are
    those of a serial loop.
    """
    pending = {name: t for name, t in tables.items() if not t.is_complete()}
    if not pending:
        return
    chunks = chunk_bounds(n_items, chunk_items)
    done = {name: t.finished_chunks() for name, t in pending.items()}
    mine = [k for k in range(rank(), len(chunks), world_size())
            if any(k not in done[name] for name in pending)]
    plan = [(k, batch) for k in mine for batch in _batches(chunks[k], max(1, int(batch_size)))]
    per_chunk = {k: sum(1 for c, _ in plan if c == k) for k in mine}
    if dataset is not None and plan:
        loader = DataLoader(dataset, batch_sampler=[b for _, b in plan], num_workers=int(num_workers),
                            collate_fn=_as_list)
        inputs = iter(loader)
    else:
        inputs = iter([None] * len(b) for _, b in plan)
    rows: dict[str, list[pd.DataFrame]] = {name: [] for name in pending}
    seen = dict.fromkeys(mine, 0)
    with tqdm(total=sum(len(chunks[k]) for k in mine), desc=desc, unit="img", disable=not is_main() or not desc) as bar:
        for k in mine:
            if per_chunk[k] == 0:   # an empty chunk (a split without items): its parts hold no rows
                _write(pending, done, k, rows, empty)
        for k, batch in plan:
            out = run_batch(batch, next(inputs))
            for name in pending:
                if name in out:
                    rows[name].append(out[name])
            bar.update(len(batch))
            seen[k] += 1
            if seen[k] == per_chunk[k]:
                _write(pending, done, k, rows, empty)
    barrier()
    for table in pending.values():
        table.mark_complete(len(chunks), max(1, int(chunk_items)), n_items)


def _write(pending: Mapping[str, PartedTable], done: Mapping[str, set], chunk: int,
           rows: dict[str, list[pd.DataFrame]], empty: Mapping[str, pd.DataFrame]) -> None:
    """Write chunk ``chunk`` of every pending table that lacks it; forget its rows."""
    for name, table in pending.items():
        frames = [f for f in rows[name] if len(f)]
        if chunk not in done[name]:
            out = pd.concat(frames, ignore_index=True) if frames else empty[name]
            table.write_part(chunk, out.astype(empty[name].dtypes.to_dict()) if len(out) else empty[name])
        rows[name] = []


def check_loop_settings(stage: str, test: Mapping) -> None:
    """``<stage>.test.chunk_images`` (a positive integer) and ``num_workers`` (0 or more), when set."""
    from ..utils.errors import UserInputError

    for key, low in (("chunk_images", 1), ("num_workers", 0)):
        value = test.get(key, low)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UserInputError(f"{stage}.test.{key}={value!r}: expected an integer >= {low}")


def empty_table(columns: Sequence[str], dtypes: Mapping[str, object]) -> pd.DataFrame:
    """A row-less table with typed columns (what an empty chunk writes)."""
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, "object")) for c in columns})


__all__ = ["check_loop_settings", "chunk_bounds", "empty_table", "run_in_chunks", "RunBatch"]
