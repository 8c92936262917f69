"""A cache of parsed ground-truth XMLs, keyed by the files themselves, as the devkit's ``optional_cache_file``.

Parsing 50,000 XMLs dominates a scoring call, and the files almost never change between calls.
A cache entry holds the parsed objects of one ordered list of files together with each file's
size and modification time (ns); it is used only when every file still has the same name, size
and mtime and the parser's source is unchanged, so touching or editing any XML (or upgrading the
reader) re-parses.  Entries are ``.npz`` files (no pickle) written atomically (temp file + rename),
so a crash or a concurrent scorer never leaves a half-written entry; an unreadable or inconsistent
entry is ignored with a warning and rewritten.  The class list is not part of an entry: names are
mapped to ids after loading, so one entry serves every synset file.  Like ``make`` and git, it cannot
see a rewrite that keeps both the size and the mtime (same bytes count within one mtime tick, or an
mtime set back by hand): ``--no-cache`` is the way out.

Location: ``$ILSVRC_PIPE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ilsvrc_pipe``, else
``~/.cache/ilsvrc_pipe`` (entries live in its ``ground_truth`` folder).
"""
from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .xml_batch import ParsedXmls, parse_xml_files

logger = logging.getLogger(__name__)

CACHE_ENV = "ILSVRC_PIPE_CACHE_DIR"
FORMAT = 1
_PARSER_MODULES = ("data/annotations.py", "data/annotations_fast.py", "evaluation/xml_batch.py",
                   "evaluation/gt_cache.py")


def default_cache_dir() -> Path:
    """Where entries go unless told otherwise (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ilsvrc_pipe"


def _parser_version() -> str:
    """Hash of the reader's source: a changed reader never serves entries of the old one."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    for rel in _PARSER_MODULES:
        digest.update((package / rel).read_bytes())
    return digest.hexdigest()


def file_stats(paths: list[str]) -> np.ndarray:
    """(F, 2) int64 size and mtime in ns of each file; -1 where ``Path.is_file`` would be False."""
    stats = np.full((len(paths), 2), -1, dtype=np.int64)
    for i, path in enumerate(paths):
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(st.st_mode):
            stats[i] = st.st_size, st.st_mtime_ns
    return stats


def _entry_key(paths: list[str]) -> str:
    """Parser version and the ordered file list (relative paths are taken from the working folder)."""
    digest = hashlib.sha256(_parser_version().encode())
    if not all(map(os.path.isabs, paths)):
        digest.update(os.fsencode(os.getcwd()) + b"\0")
    digest.update("\0".join(paths).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _load(entry: Path, key: str, stats: np.ndarray) -> ParsedXmls | None:
    """The parsed objects, or ``None`` when the entry is missing, stale or unreadable."""
    try:
        with np.load(entry, allow_pickle=False) as data:
            if str(data["key"]) != key or not np.array_equal(data["stats"], stats):
                return None
            counts, names, boxes = data["counts"], data["names"], data["boxes"]
        consistent = (counts.shape == (len(stats),) and counts.dtype == np.int64 and (counts >= 0).all()
                      and names.ndim == 1 and names.dtype.kind == "U" and boxes.shape == (len(names), 4)
                      and boxes.dtype == np.float64 and int(counts.sum()) == len(names))
        if not consistent:
            raise ValueError("arrays of inconsistent shapes")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable ground-truth cache %s (%s); parsing the XMLs again", entry, exc)
        return None
    return ParsedXmls(counts, names, boxes)


def _save(entry: Path, key: str, stats: np.ndarray, parsed: ParsedXmls) -> None:
    """Write atomically; a cache that cannot be written only costs time, so it is a warning."""
    tmp = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{entry.stem}.", suffix=".tmp", dir=entry.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, key=np.array(key), stats=stats, counts=parsed.counts, names=parsed.names, boxes=parsed.boxes)
        os.replace(tmp, entry)
        tmp = None
    except OSError as exc:
        logger.warning("could not write the ground-truth cache %s (%s); scoring goes on without it", entry, exc)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def parse_xml_files_cached(paths: list[str], cache_dir: str | os.PathLike | None,
                           stats: np.ndarray | None = None) -> ParsedXmls:
    """:func:`.xml_batch.parse_xml_files`, served from ``cache_dir`` when no file changed (``None``: no cache).

    ``stats``: the :func:`file_stats` of ``paths`` when the caller has them already."""
    if cache_dir is None:
        return parse_xml_files(paths)
    key = _entry_key(paths)
    entry = Path(cache_dir) / "ground_truth" / f"{key[:32]}.npz"
    if entry.is_file():
        stats = file_stats(paths) if stats is None else stats
        parsed = _load(entry, key, stats)
        if parsed is not None:
            return parsed
    parsed = parse_xml_files(paths)
    # stats taken as each file was read: a file changed since then has a newer mtime, so it misses
    if parsed.error is None and (parsed.stats >= 0).all():
        _save(entry, key, parsed.stats, parsed)
    return parsed
