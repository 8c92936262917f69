"""Every setting of a run that can be checked before any work is checked before any work.

A full ILSVRC run trains for days before its ``det`` stage starts, so a setting that only that stage
reads (a batch that does not split over the processes, a test pyramid, the DET val2 list) must not
wait for it. ``tools/run_pipeline.py`` calls :func:`check_settings` before it touches the data
root and :func:`check_data_root` once the root is known, both for the stages it is about to run;
``tools/train.py`` checks its one classifier the same way. Each check raises a one-line
:class:`~ilsvrc_pipe.utils.errors.UserInputError` (or ``FileNotFoundError``) that the tool prints as
``error: ...`` with exit status 2. The checks themselves live beside what they check:

* precision against the device (``precision.py``);
* global batch sizes against the number of processes (``batch_rule.py``);
* the DET test pyramid (``data/det_pyramid.py``);
* the caps on images per split (``data/subset.py``);
* the test loops' chunk size and decoding workers (``chunked_inference.py``);
* ``side_by_side``, a boolean (``stage.py``);
* pretrained weight files, resolved and loaded strictly (``specs.check_pretrained``);
* the DET val1/val2 lists of the data root (``data/det_val_halves.py``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import torch

from ..config.options import config_flag
from ..data.det_pyramid import check_test_pyramid
from ..data.det_val_halves import check_det_split_lists
from ..data.subset import check_max_images
from ..data.synsets import ilsvrc_dir
from ..utils.precision import check as check_precision
from .batch_rule import TRAINED_STAGES, check_batch_sizes
from .chunked_inference import check_loop_settings
from .specs import check_pretrained


def check_settings(cfg, stages: Iterable[str], world_size: int, device: torch.device | str) -> None:
    """The config's settings for a run of ``stages`` on ``world_size`` processes on ``device``."""
    stages = list(stages)
    check_precision(cfg, device)
    if "data" in stages:
        check_max_images(cfg.get("data", None))
    check_batch_sizes(cfg, world_size, [s for s in stages if s in TRAINED_STAGES])
    if "cls" in stages:
        check_pretrained(dict(cfg.get("cls", {}) or {}))
    if "det" in stages:
        check_test_pyramid(dict((cfg.get("det", {}) or {}).get("test", {}) or {}))
    for stage in ("cls", "rpn", "rcnn", "det"):
        if stage in stages:
            section = dict(cfg.get(stage, {}) or {})
            check_loop_settings(stage, dict(section.get("test", {}) or {}))
            config_flag(section, "side_by_side", False, f"{stage}.")


def has_det_part(root: str | Path) -> bool:
    """Whether the data root holds the DET task (its image lists)."""
    return (ilsvrc_dir(root) / "ImageSets" / "DET").is_dir()


def check_data_root(cfg, root: str | Path, stages: Iterable[str], logger: logging.Logger | None = None) -> None:
    """The data root's files that later stages need, for a run of ``stages``: the DET val1/val2 lists
    when the ``data`` stage indexes DET. A root without a DET part (e.g. an ILSVRC 2012 copy) runs
    LOC only, and the log says so before anything starts."""
    stages = list(stages)
    wants_det = bool((cfg.get("data", {}) or {}).get("det", True)) and ("data" in stages or "det" in stages)
    if not wants_det:
        return
    if not has_det_part(root):
        if logger is not None:
            logger.warning("%s has no DET part (no %s): LOC only; the det stage will write no detections",
                           root, ilsvrc_dir(root) / "ImageSets" / "DET")
        return
    check_det_split_lists(root)
