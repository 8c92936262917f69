"""Official-exact ILSVRC metrics: top-k CLS/LOC error (``eval_clsloc.m``) and DET AP (``eval_detection.m``).

The names below load on first use (PEP 562): importing ``ilsvrc_pipe.evaluation.loc`` for a LOC
score must not pull in the DET scorer, and through it pandas, which alone costs a third of a warm
``tools/evaluate.py loc`` call.
"""
from __future__ import annotations

import importlib

_HOME = {
    "evaluate_det": "det", "evaluate_det_arrays": "det", "object_thresholds": "det", "voc_ap": "det",
    "DetGroundTruth": "ground_truth", "LocGroundTruth": "ground_truth", "load_det_ground_truth": "ground_truth",
    "load_loc_ground_truth": "ground_truth",
    "evaluate_loc": "loc", "evaluate_loc_arrays": "loc", "evaluate_loc_file": "loc", "read_loc_predictions": "loc",
}
__all__ = list(_HOME)


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
