"""Result tables written where they are made: one parquet part per chunk of images.

An inference stage's table of a split (classifier scores, proposals, rescored boxes, detections)
is a folder ``<name>/`` of parts ``part-000000.parquet``, ``part-000001.parquet``, ..., one per
chunk of a bounded number of images, each written by the process that computed that chunk and
renamed into place when whole; ``complete.json`` (the number of parts) is written last, once
every part exists. So

* no process ever holds another's results: at ImageNet size a split's proposals are 10^8 rows;
* a killed run resumes at the chunks it had not finished (a part is there, or it is not);
* readers get the parts in chunk order, so the table is the same whatever the number of
  processes that wrote it.

:func:`read_result_table` reads such a folder, or a table written as one file, as one table.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterator

import pandas as pd

from ..utils.io_utils import read_table, write_json_atomic, written_here

COMPLETE = "complete.json"
_PART = re.compile(r"^part-(\d{6})\.parquet$")


class PartedTable:
    """The parts of one result table (see the module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def part(self, chunk: int) -> Path:
        return self.path / f"part-{int(chunk):06d}.parquet"

    def finished_chunks(self) -> set[int]:
        """Chunks whose part is written (parts are renamed into place whole)."""
        if not self.path.is_dir():
            return set()
        return {int(m.group(1)) for m in map(_PART.match, os.listdir(self.path)) if m}

    def write_part(self, chunk: int, table: pd.DataFrame) -> None:
        """Write this process's part of ``chunk`` (no other process writes it: no barrier)."""
        with written_here(self.part(chunk)) as tmp:
            table.to_parquet(tmp, index=False)

    def is_complete(self) -> bool:
        return (self.path / COMPLETE).is_file()

    def mark_complete(self, n_chunks: int, chunk_items: int, n_items: int) -> None:
        """Record that all ``n_chunks`` parts exist, each of ``chunk_items`` consecutive items of
        ``n_items`` (every rank calls it; the main rank writes)."""
        missing = sorted(set(range(n_chunks)) - self.finished_chunks())
        if missing:
            raise RuntimeError(f"{self.path}: parts {missing[:5]} of {n_chunks} are missing")
        write_json_atomic(self.path / COMPLETE, {"parts": int(n_chunks), "chunk_items": int(chunk_items),
                                                 "items": int(n_items)})

    def layout(self) -> dict:
        """``parts``, ``chunk_items`` and ``items`` of a complete table."""
        return json.loads((self.path / COMPLETE).read_text())

    def n_parts(self) -> int:
        return int(self.layout()["parts"])

    def read_items(self, items: range, columns: list[str] | None = None) -> pd.DataFrame:
        """The rows of the parts that hold items ``items`` (a range of the loop's item positions);
        rows of other items in those parts come too: the caller selects by key."""
        size = int(self.layout()["chunk_items"])
        if not len(items):
            return self.read_part(0, columns).iloc[:0]
        parts = [self.read_part(k, columns) for k in range(items.start // size, (items.stop - 1) // size + 1)]
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def iter_parts(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """The parts in chunk order, one at a time."""
        for chunk in range(self.n_parts()):
            yield pd.read_parquet(self.part(chunk), columns=columns)

    def read_part(self, chunk: int, columns: list[str] | None = None) -> pd.DataFrame:
        return pd.read_parquet(self.part(chunk), columns=columns)

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The whole table (parts concatenated in chunk order)."""
        parts = list(self.iter_parts(columns))
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def read_result_table(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """A result table, parted (a folder) or one file."""
    path = Path(path)
    if path.suffix in (".parquet", ".csv"):
        table = read_table(path)
        return table if columns is None else table[columns]
    return PartedTable(path).read(columns)


def table_done(path: str | os.PathLike) -> bool:
    """Whether a result table (a parted folder, or a single file) is finished."""
    path = Path(path)
    return PartedTable(path).is_complete() if path.suffix != ".parquet" else path.is_file()
