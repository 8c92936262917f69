"""How a training runs on its device: deterministic kernels, cuDNN autotuning, the process-group backend.

On the CPU training is deterministic (torch's deterministic algorithms): two runs give the same
weights bit for bit, which the test suite relies on. On CUDA the default is speed: cuDNN picks its
fastest kernels (``cudnn.benchmark``) and nothing is forced deterministic, since cuBLAS refuses
deterministic mode unless ``CUBLAS_WORKSPACE_CONFIG`` was set before its first call, and
torchvision's ``roi_pool`` / ``roi_align`` backward have no deterministic CUDA kernel at all.
``--deterministic`` (``tools/run_pipeline.py``, ``tools/train.py``) asks for determinism on CUDA
as far as torch has it: the workspace variable set at start-up (:func:`request_determinism`),
cudnn.benchmark off, deterministic algorithms with ``warn_only`` so that the ops without a
deterministic kernel warn instead of raising. Process groups use nccl whenever CUDA is used.

:func:`runtime_settings` is the choice, a pure function of the device and the request, so it can
be checked without a GPU; ``training.build_runner`` applies it (:func:`apply_runtime_settings`).
"""
from __future__ import annotations

import logging
import os

import torch
from mmengine.logging import print_log

from ..utils.distributed import dist_backend

CUBLAS_WORKSPACE_CONFIG = ":4096:8"   # one of the two values cuBLAS accepts for reproducible results
# ops of the trained models with no deterministic CUDA backward (they raise in strict deterministic mode)
NONDETERMINISTIC_CUDA_OPS = ("torchvision.ops.roi_pool", "torchvision.ops.roi_align")

_requested: bool | None = None   # the tools' --deterministic, for trainings started deep inside the stages


def runtime_settings(on_cuda: bool, deterministic: bool | None = None) -> dict:
    """The settings of a training on CUDA (``on_cuda``) or the CPU.

    ``deterministic`` None takes the device's default (the CPU: deterministic; CUDA: not, with
    cudnn.benchmark on). Keys: ``deterministic`` (torch's deterministic algorithms and cuDNN's
    deterministic mode), ``warn_only`` (ops without a deterministic kernel warn instead of raising:
    on CUDA, where torchvision's RoI ops have none), ``cudnn_benchmark``,
    ``cublas_workspace_config`` (the value ``CUBLAS_WORKSPACE_CONFIG`` needs, or None) and
    ``dist_backend``.
    """
    on_cuda = bool(on_cuda)
    det = (not on_cuda) if deterministic is None else bool(deterministic)
    return dict(deterministic=det, warn_only=det and on_cuda, cudnn_benchmark=on_cuda and not det,
                cublas_workspace_config=CUBLAS_WORKSPACE_CONFIG if det and on_cuda else None,
                dist_backend=dist_backend(on_cuda))


def request_determinism(deterministic: bool | None) -> None:
    """Record the tool's ``--deterministic`` for every training of this process (None: the device's
    default). The tools call it first thing: cuBLAS reads ``CUBLAS_WORKSPACE_CONFIG`` once, at its
    first call, so asking for determinism sets it (unless the user set it) before anything runs on
    the GPU. It does nothing to CPU computations."""
    global _requested
    _requested = deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)


def requested_determinism() -> bool | None:
    """What :func:`request_determinism` recorded (None: nothing asked)."""
    return _requested


def apply_runtime_settings(settings: dict) -> None:
    """Put ``settings`` (of :func:`runtime_settings`) into effect for this process.

    Called after mmengine's Runner is built, whose ``randomness`` set-up turns on deterministic
    algorithms without ``warn_only``. On CUDA with determinism, one log line names the ops that stay
    non-deterministic.
    """
    if settings["cublas_workspace_config"]:
        # effective only if cuBLAS has not run yet in this process (the tools set it at start-up)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", settings["cublas_workspace_config"])
    torch.backends.cudnn.benchmark = settings["cudnn_benchmark"]
    torch.backends.cudnn.deterministic = settings["deterministic"]
    torch.use_deterministic_algorithms(settings["deterministic"], warn_only=settings["warn_only"])
    if settings["deterministic"] and settings["warn_only"]:
        print_log("deterministic training on CUDA: the backward of " + " and ".join(NONDETERMINISTIC_CUDA_OPS)
                  + " has no deterministic CUDA kernel and stays non-deterministic (torch warns for it and for "
                  "any other such op instead of raising)", logger="current", level=logging.INFO)
