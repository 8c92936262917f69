"""Atomic file writes and content hashes: an interrupted run never leaves a half-written artifact."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it is renamed onto ``path`` only on success.

    Under ``torchrun`` only rank 0 writes: the other ranks get a scratch path that is thrown away
    (``distributed.py``: every artifact write passes here, bracketed by barriers). A process in no
    process group writes alone, without importing torch for it: the scorers write their
    ``--json-out`` here and load neither torch nor mmengine.
    """
    path = Path(path)
    if not _in_process_group():
        with written_here(path) as tmp:
            yield tmp
        return
    from .distributed import writes_on_main

    with writes_on_main() as main:
        if not main:
            with tempfile.TemporaryDirectory(prefix="ilsvrc_pipe_rank_") as scratch:
                yield Path(scratch) / path.name
            return
        with written_here(path) as tmp:
            yield tmp


def _in_process_group() -> bool:
    """Whether this process belongs to a torch.distributed group; torch is not imported to find out
    (a process that never loaded it is in no group)."""
    dist = sys.modules.get("torch.distributed")
    return dist is not None and dist.is_available() and dist.is_initialized()


@contextlib.contextmanager
def written_here(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file beside ``path``, renamed onto it on success and removed otherwise; written
    by this process whatever its rank (a part of a result table, ``artifacts/parts.py``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_table_atomic(df, path: str | os.PathLike) -> None:
    """A pandas table as parquet (or CSV when the name ends in .csv)."""
    with atomic_path(path) as tmp:
        if str(path).endswith(".csv"):
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)


def read_table(path: str | os.PathLike):
    import pandas as pd

    return pd.read_csv(path) if str(path).endswith(".csv") else pd.read_parquet(path)


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def hash_json(obj) -> str:
    """Stable short hash of a JSON-able object (config sections, input fingerprints)."""
    text = json.dumps(obj, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def hash_files(paths, relative_to: str | os.PathLike | None = None) -> str:
    """Hash of the names and contents of files (missing ones count by name only); names are taken
    relative to ``relative_to`` when given."""
    h = hashlib.sha256()
    for p in sorted(str(p) for p in paths):
        h.update((os.path.relpath(p, relative_to) if relative_to else p).encode())
        if os.path.isfile(p):
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]
