"""Two pathlib calls the indexers make about a million times each, on plain strings.

``Path(folder) / name`` and ``Path.is_file()`` cost 10-15 us a call in pathlib (parsing the parts
again every time); the loaders build and check a path per listed image, so over ImageNet's 2.4
million images that alone took most of a minute. These give pathlib's answers (the same strings,
the same True/False, the same exceptions) without building Path objects.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_IGNORED_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)   # pathlib's "does not exist"


def join_path(folder: str, name: str) -> str:
    """``str(Path(folder) / name)`` for a ``folder`` that is itself a ``str(Path)``."""
    parts = name.split("/")   # pathlib drops empty and "." parts, and restarts at a leading "/"
    if os.sep == "/" and folder not in ("", ".", "/") and "" not in parts and "." not in parts:
        return f"{folder}/{name}"
    return str(Path(folder) / name)


def path_is_file(path: str, raising: bool = True) -> bool | None:
    """``Path(path).is_file()``: False where it does not exist, and pathlib's exception where it
    raises (or, with ``raising=False``, None there: a pool worker leaves that file to its caller)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        if exc.errno in _IGNORED_ERRNOS:
            return False
        if raising:
            raise
        return None
    except ValueError:
        return False
