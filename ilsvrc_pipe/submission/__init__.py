"""Submission files the devkit (and Kaggle) read: writers, and strict readers that name bad lines.

The names below load on first use (PEP 562), so a LOC reader does not import the DET file module
and pandas with it (see ``ilsvrc_pipe/evaluation/__init__.py``).
"""
from __future__ import annotations

import importlib

_HOME = {
    "DetSubmission": "det_file", "read_det_file": "det_file", "write_det_file": "det_file",
    "LocSubmission": "loc_file", "read_loc_file": "loc_file", "write_loc_file": "loc_file",
    "gt_class_submission": "loc_file", "write_gt_class_loc_file": "loc_file",
    "is_kaggle_csv": "kaggle_csv", "read_kaggle_loc_csv": "kaggle_csv", "write_kaggle_loc_csv": "kaggle_csv",
    "align_to_images": "kaggle_csv",
}
__all__ = list(_HOME)


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
