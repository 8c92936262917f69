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
* Work that must be done once per run, not once per rank (indexing the data root), runs on rank 0
  alone in :func:`run_on_main_only` while the other ranks wait; inside it (:func:`main_rank_only`)
  rank 0's writes and deletions skip their barriers, and every rank gets its result.

* A rank that ``torchrun`` started dies with it (:func:`die_with_torchrun`).

Without a process group (or with one process) every function is the one-process identity.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import pickle
from typing import Callable, Iterator, TypeVar

import torch
import torch.distributed as dist
from mmengine.dist import all_gather_object, barrier, get_rank, get_world_size, is_main_process

from .parent_death import die_with_parent

T = TypeVar("T")

# mmengine's process-group helpers (one-process identities without a group) under this module's names;
# all_gather: every rank's object, in rank order, on every rank
rank, world_size, is_main, all_gather = get_rank, get_world_size, is_main_process, all_gather_object
__all__ = ["all_gather", "barrier", "die_with_torchrun", "init_from_env", "is_distributed", "is_main", "main_rank_only",
           "on_main", "rank", "run_on_main_only", "world_size", "writes_on_main"]

# How long the other ranks wait for a section of rank 0 alone: indexing a full ImageNet on a slow
# network file system can outlast the process group's default 30 minutes.
MAIN_ONLY_TIMEOUT = datetime.timedelta(hours=6)
_alone = False          # inside main_rank_only(): rank 0 writes and deletes without its peers
_waiting: tuple | None = None   # (the default group it was made in, the gloo group the waiting ranks block in)


def dist_backend(on_cuda: bool) -> str:
    """The process-group backend: nccl for GPUs, gloo for the CPU."""
    return "nccl" if on_cuda else "gloo"


def is_distributed() -> bool:
    """More than one process (mmengine's ``is_distributed`` is also true for a group of one)."""
    return get_world_size() > 1


def on_main(fn: Callable[[], T]) -> T | None:
    """Run ``fn`` on rank 0 only (e.g. deleting files), the other ranks waiting for it."""
    if _alone:
        return fn()
    barrier()
    try:
        return fn() if is_main() else None
    finally:
        barrier()


@contextlib.contextmanager
def writes_on_main() -> Iterator[bool]:
    """Bracket of one file write: all ranks arrive (their checks before it are done), rank 0
    writes (``True``), all ranks leave once it has. Inside :func:`main_rank_only`: no barriers."""
    if _alone:
        yield True
        return
    barrier()
    try:
        yield is_main()
    finally:
        barrier()


@contextlib.contextmanager
def main_rank_only() -> Iterator[None]:
    """A section rank 0 runs alone while the other ranks are elsewhere (waiting in
    :func:`run_on_main_only`): inside it :func:`writes_on_main` and :func:`on_main`, hence every
    ``io_utils.atomic_path`` write, skip their barriers. No other collective may be called in it."""
    global _alone
    if not is_main():
        raise RuntimeError(f"main_rank_only() entered on rank {rank()}: only rank 0 runs such a section")
    previous, _alone = _alone, True
    try:
        yield
    finally:
        _alone = previous


def run_on_main_only(fn: Callable[[], T]) -> T:
    """``fn()`` run once, by rank 0 inside :func:`main_rank_only`, while the other ranks wait; every
    rank returns its result, or raises the exception it raised. One process: ``fn()``.

    The other ranks wait in a gloo group of their own (a blocked CPU thread, no busy GPU sync) with
    ``MAIN_ONLY_TIMEOUT``. Every rank must call it, in the same order as the other collectives."""
    if not is_distributed():
        return fn()
    group = _waiting_group()
    if not is_main():
        box = [None]
        dist.broadcast_object_list(box, src=0, group=group)
        outcome, value = box[0]
        if outcome == "error":
            raise value
        return value
    try:
        with main_rank_only():
            result = fn()
    except Exception as exc:
        dist.broadcast_object_list([("error", _portable(exc))], src=0, group=group)
        raise
    dist.broadcast_object_list([("ok", result)], src=0, group=group)
    return result


def _waiting_group():
    """The gloo group of all ranks that :func:`run_on_main_only` waits in (made once per process group)."""
    global _waiting
    if _waiting is None or _waiting[0] is not dist.group.WORLD:
        _waiting = (dist.group.WORLD, dist.new_group(backend="gloo", timeout=MAIN_ONLY_TIMEOUT))
    return _waiting[1]


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling (the other ranks raise the same error), else its message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:   # noqa: BLE001  (any failure to pickle: send the message instead)
        return RuntimeError(f"rank 0 failed: {type(exc).__name__}: {exc}")


def die_with_torchrun() -> None:
    """When ``torchrun``'s agent started this process, end it when the agent ends: torchrun starts
    each rank in a session of its own, so a kill of its process group does not reach the ranks, and
    they would go on writing into the work dir beside the run that resumes there (``parent_death.py``)."""
    if "TORCHELASTIC_RUN_ID" in os.environ:
        die_with_parent(os.getppid())


def init_from_env(backend: str | None = None) -> bool:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE``/``RANK`` in the environment);
    gloo on CPU, nccl with GPUs unless ``backend`` says otherwise (``tools/run_pipeline.py --device
    cpu`` hides the GPUs before this, so its processes join with gloo); a rank dies with torchrun
    (:func:`die_with_torchrun`). Returns whether there is one."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    die_with_torchrun()
    if backend is None:
        backend = dist_backend(torch.cuda.is_available())
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True
