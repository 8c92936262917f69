"""Which device the pipeline computes on: ``auto`` (a GPU when torch sees one), ``cpu`` or ``cuda``.

Inference loops put each image (and the model, ``specs.load_weights``) on this device and bring
results back to the CPU for the tables; training is mmengine's Runner, which puts the model on the
GPU when one is visible, so ``tools/run_pipeline.py --device cpu`` also hides the GPUs from the
process (:func:`hide_gpus`) before anything touches CUDA. Under ``torchrun`` each process takes the
GPU of its ``LOCAL_RANK``.
"""
from __future__ import annotations

import os

import torch

from .errors import UserInputError

CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """The ``torch.device`` of a ``--device`` choice; ``cuda`` without a visible GPU is an error."""
    if name not in CHOICES:
        raise UserInputError(f"--device {name!r}: expected one of {', '.join(CHOICES)}")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if name == "cuda":
            raise UserInputError("--device cuda: torch sees no CUDA device here (use auto or cpu)")
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def hide_gpus() -> None:
    """Make CUDA invisible to this process (mmengine's Runner would otherwise train on a GPU); only
    effective before the first CUDA call."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
