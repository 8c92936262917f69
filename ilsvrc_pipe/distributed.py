"""Every stage under ``torchrun``: one program on every rank, the work split, the files written once.

The pipeline runs as SPMD: every rank executes the same stage bodies in the same order.
* Training goes through mmengine's Runner with DDP (``training.build_runner`` switches to the
  ``pytorch`` launcher when a process group exists and divides the global batch among the ranks, so the
  global batch, and each sample's augmentation, is that of one process).
* Inference loops take their share of the work (:func:`shard`) and every rank receives the whole
  result (:func:`all_gather`), so all ranks keep identical state and identical control flow.
* Files are written by rank 0 only: ``io_utils.atomic_path`` (the one door of every artifact write)
  hands the other ranks a scratch path it then discards, between two barriers, so no rank reads a
  file before rank 0 has finished it and no rank's existence check sees it early. Deletions go
  through :func:`on_main`.

Without a process group (or with one process) every function is the one-process identity.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator, Sequence, TypeVar

import torch
import torch.distributed as dist
from mmengine.dist import all_gather_object, barrier, get_rank, get_world_size, is_main_process

from .runtime_settings import dist_backend

T = TypeVar("T")

# mmengine's process-group helpers (one-process identities without a group) under this module's names;
# all_gather: every rank's object, in rank order, on every rank
rank, world_size, is_main, all_gather = get_rank, get_world_size, is_main_process, all_gather_object
__all__ = ["all_gather", "barrier", "gather_dict", "init_from_env", "is_distributed", "is_main", "on_main",
           "rank", "shard", "world_size", "writes_on_main"]


def is_distributed() -> bool:
    """More than one process (mmengine's ``is_distributed`` is also true for a group of one)."""
    return get_world_size() > 1


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of ``items`` (round robin: rank r takes items r, r + W, ...)."""
    return list(items[rank()::world_size()])


def gather_dict(part: dict) -> dict:
    """Union of the ranks' dicts (the keys of a sharded loop's results), on every rank."""
    merged: dict = {}
    for p in all_gather(part):
        merged.update(p)
    return merged


def on_main(fn: Callable[[], T]) -> T | None:
    """Run ``fn`` on rank 0 only (e.g. deleting files), the other ranks waiting for it."""
    barrier()
    try:
        return fn() if is_main() else None
    finally:
        barrier()


@contextlib.contextmanager
def writes_on_main() -> Iterator[bool]:
    """Bracket of one file write: all ranks arrive (their checks before it are done), rank 0
    writes (``True``), all ranks leave once it has."""
    barrier()
    try:
        yield is_main()
    finally:
        barrier()


def init_from_env(backend: str | None = None) -> bool:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE``/``RANK`` in the environment);
    gloo on CPU, nccl with GPUs unless ``backend`` says otherwise (``tools/run_pipeline.py --device
    cpu`` hides the GPUs before this, so its processes join with gloo). Returns whether there is one."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    if backend is None:
        backend = dist_backend(torch.cuda.is_available())
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True
