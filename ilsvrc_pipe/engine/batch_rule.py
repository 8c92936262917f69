"""The batch rule: a configured ``batch_size`` is global, the sum over all processes of a run.

A run on N processes gives each process ``batch_size / N`` samples per step
(``training.per_rank_loader``), so it sees the batches, and by ``SeededSampler`` each sample's
augmentation, of a run on one process; detectron2's ``IMS_PER_BATCH`` counts the same way. A train
section's ``lr`` is the learning rate at its batch; with ``base_batch_size`` it is the rate at that
global batch instead, and training scales it linearly to ``lr * batch_size / base_batch_size``
(Goyal et al. 2017; ``training.sgd_schedule``).

:func:`check_batch_sizes` runs before any work, so that a batch that cannot be split over the
processes is refused at start-up, not when its stage begins days into a run.
"""
from __future__ import annotations

from typing import Iterable

from ..utils.errors import UserInputError

TRAINED_STAGES = ("cls", "rpn", "rcnn", "det")
_CHECKED_KEYS = ("batch_size", "base_batch_size")


def positive_int(value, key: str) -> int:
    """``value`` if it is a positive integer (not a bool, float or string); else one line naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserInputError(f"{key}={value!r}: expected a positive integer (batch sizes are global: "
                             "summed over all processes)")
    return value


def split_error(key: str, batch: int, world_size: int) -> UserInputError:
    """The error of a global batch that ``world_size`` processes cannot share evenly."""
    return UserInputError(f"{key}={batch} does not split over {world_size} processes: batch sizes are global "
                          f"(summed over all processes); choose a multiple of {world_size}")


def _check_train(train, prefix: str, world_size: int, required: bool) -> None:
    if not isinstance(train, dict):
        raise UserInputError(f"{prefix}: expected a dict of training settings, got {train!r}")
    if "batch_size" not in train and required:
        raise UserInputError(f"{prefix}.batch_size: missing; expected a positive integer (the global batch)")
    for name in _CHECKED_KEYS:
        if name in train:
            positive_int(train[name], f"{prefix}.{name}")
    if "batch_size" in train and train["batch_size"] % world_size:
        raise split_error(f"{prefix}.batch_size", train["batch_size"], world_size)


def check_batch_sizes(cfg, world_size: int, stages: Iterable[str] = TRAINED_STAGES) -> None:
    """Check every training batch of ``stages`` against a run on ``world_size`` processes.

    Each stage's ``train.batch_size`` and every member's own ``train`` override
    (``<stage>.models.<i>.train``, keys as ``--cfg-options`` writes them) must be positive integers
    divisible by ``world_size``; a ``base_batch_size`` must be a positive integer. Stages that train
    nothing (``data``, ``loc``, ``eval``) and sections the config lacks are skipped. A member's own
    ``train`` overrides the section's for that member (``specs.member_train_spec``, the stages'
    training loops), so both are checked. Raises
    :class:`UserInputError` naming the first key that fails.
    """
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive integer, got {world_size!r}")
    for stage in stages:
        if stage not in TRAINED_STAGES or stage not in cfg:
            continue
        section = cfg[stage]
        _check_train(section.get("train"), f"{stage}.train", world_size, required=True)
        for i, member in enumerate(section.get("models", ())):
            if "train" in member:
                _check_train(member["train"], f"{stage}.models.{i}.train", world_size, required=False)
