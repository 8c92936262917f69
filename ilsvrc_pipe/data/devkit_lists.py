"""The devkit's one-integer-per-line files of CLS-LOC val: ground-truth labels and the blacklist.

They live apart from the record readers (``loc_records.py``, which needs pandas) because the scorers
read them too, and a scoring call must not pay for pandas (``tools/evaluate.py loc``, see
``ilsvrc_pipe/evaluation/__init__.py``).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..utils.errors import DataFormatError, open_text
from .synsets import find_devkit_file


def index_lines(path: str | os.PathLike):
    """(line number, integer) of each non-blank line of a one-integer-per-line file."""
    with open_text(path) as fh:
        for lineno, raw in enumerate(fh, 1):
            text = raw.strip()
            if not text:
                continue
            try:
                yield lineno, int(text.split()[0])
            except ValueError:
                raise DataFormatError(f"{path}:{lineno}: expected one integer, got {text!r}") from None


def read_index_list(path: str | os.PathLike) -> list[int]:
    """One integer per line (devkit ground-truth labels, CLS-LOC blacklist)."""
    return [value for _, value in index_lines(path)]


def read_loc_blacklist(path: str | os.PathLike, n_images: int) -> list[int]:
    """The CLS-LOC blacklist's 1-based val image numbers, each within 1..``n_images``: a number
    outside the val set blacklists nothing yet shrinks the scorer's denominator, so it is an error
    (named by line) for the data stage and the scorer alike."""
    numbers = []
    for lineno, number in index_lines(path):
        if not 1 <= number <= n_images:
            raise DataFormatError(f"{path}:{lineno}: blacklisted image number {number} is outside "
                                  f"1..{n_images} (the val images in sorted file-name order)")
        numbers.append(number)
    return numbers


def clsloc_val_ground_truth_path(root) -> Path | None:
    return find_devkit_file(root, "ILSVRC2015_clsloc_validation_ground_truth.txt",
                            "*clsloc_validation_ground_truth.txt", "ILSVRC20[0-9][0-9]_validation_ground_truth.txt")


def clsloc_val_blacklist_path(root) -> Path | None:
    return find_devkit_file(root, "ILSVRC2015_clsloc_validation_blacklist.txt",
                            "*clsloc_validation_blacklist.txt", "ILSVRC20[0-9][0-9]_validation_blacklist.txt")
