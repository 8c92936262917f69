"""The devkit ships each class list twice (``map_clsloc.txt`` and ``meta_clsloc.mat``, ``map_det.txt``
and ``meta_det.mat``); the readers use the text file first. If the two disagree, one of them is from
another devkit or was edited, and every devkit id decoded with the chosen one may be wrong: two
sources of truth that disagree are an error, never a silent choice."""
from __future__ import annotations

import logging
import os

from ..utils.errors import DataFormatError
from .synsets import devkit_data_dir, read_synsets

logger = logging.getLogger(__name__)

PAIRS = {"clsloc": ("map_clsloc.txt", "meta_clsloc.mat"), "det": ("map_det.txt", "meta_det.mat")}


def check_class_lists_agree(root: str | os.PathLike, task: str) -> None:
    """``map_<task>.txt`` and ``meta_<task>.mat`` of a data root must give the same classes in the same
    order. A ``.mat`` that cannot be read is no second source: a warning, the text file decides."""
    folder = devkit_data_dir(root)
    text_path, mat_path = (folder / name for name in PAIRS[task])
    if not (text_path.is_file() and mat_path.is_file()):
        return
    text = read_synsets(text_path)
    try:
        mat = read_synsets(mat_path)
    except DataFormatError as exc:
        logger.warning("%s is used; %s is not checked against it: %s", text_path.name, mat_path.name, exc)
        return
    if text.wnids == mat.wnids:
        return
    if len(text) != len(mat):
        raise DataFormatError(f"{text_path} ({len(text)} classes) and {mat_path} ({len(mat)} classes) disagree; "
                              "keep the one of your devkit and remove the other")
    k = next(i for i, (a, b) in enumerate(zip(text.wnids, mat.wnids)) if a != b)
    raise DataFormatError(f"{text_path}: devkit id {k + 1} is {text.wnids[k]} here but {mat.wnids[k]} in "
                          f"{mat_path}; keep the one of your devkit and remove the other")
