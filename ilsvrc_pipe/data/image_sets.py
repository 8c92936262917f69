"""ImageSets-style list files: one record per non-blank line, errors naming file and line.

``<stem> <n>`` lists (``train_cls.txt``, ``val.txt``, ``test.txt``, DET ``val.txt``,
``det_lists/val1.txt``) are read by :func:`read_image_list`; the other list readers build on
:func:`list_lines` and :func:`int_field`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils.errors import DataFormatError, open_text


def list_lines(path: Path):
    """(line number, fields) of each non-blank line; blank lines carry no record in these lists."""
    with open_text(path) as fh:
        for lineno, raw in enumerate(fh, 1):
            fields = raw.split()
            if fields:
                yield lineno, fields


def int_field(text: str, path: Path, lineno: int, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataFormatError(f"{path}:{lineno}: expected an integer {what}, got {text!r}") from None


def read_image_list(path: str | os.PathLike) -> pd.DataFrame:
    """``<stem> <index>`` lists: columns stem, index.

    Stems and indices must be unique: the devkit identifies an image by its index.
    """
    path = Path(path)
    stems, indices = [], []
    seen_stem: dict[str, int] = {}
    seen_index: dict[int, int] = {}
    for lineno, fields in list_lines(path):
        if len(fields) != 2:
            raise DataFormatError(f"{path}:{lineno}: expected '<image stem> <index>', got {len(fields)} fields")
        stem, index = fields[0], int_field(fields[1], path, lineno, "image index")
        if stem in seen_stem:
            raise DataFormatError(f"{path}:{lineno}: image {stem} already listed on line {seen_stem[stem]}")
        if index in seen_index:
            raise DataFormatError(f"{path}:{lineno}: index {index} already used on line {seen_index[index]}")
        seen_stem[stem], seen_index[index] = lineno, lineno
        stems.append(stem)
        indices.append(index)
    if not stems:  # scored as is, every detection or guess would be "not in the list"
        raise DataFormatError(f"{path}: no images listed (expected '<image stem> <index>' lines)")
    return pd.DataFrame({"stem": pd.Series(stems, dtype=object), "index": np.asarray(indices, dtype=np.int64)})
