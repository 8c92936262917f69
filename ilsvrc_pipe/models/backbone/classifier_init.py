"""Start a model's ResNet trunk from a trained classifier of the ``cls`` stage.

The per-class RPN, the R-CNN and the C4 detector all begin from a :class:`ResNetClassifier`
checkpoint (the paper fine-tunes its ImageNet classifiers); their ``init_cfg`` names it as
``dict(type='Classifier', checkpoint=PATH)`` and :func:`init_from_classifier_cfg` loads it when the
Runner initialises the model, never in ``__init__``.
"""
from __future__ import annotations

import os
from typing import Mapping

import torch
from torch import Tensor, nn

from ...registry import MODELS


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """Model weights of a checkpoint file (an mmengine checkpoint or a bare state dict)."""
    from ...utils.checkpoint import allow_mmengine_checkpoint_globals

    allow_mmengine_checkpoint_globals()
    state = torch.load(path, map_location="cpu", weights_only=True)
    return dict(state.get("state_dict", state))


def classifier_backbone_state(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The ``backbone.*`` weights of a :class:`ResNetClassifier` state dict, prefix removed."""
    state = state_dict.get("state_dict", state_dict)
    out = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    if not out:
        raise ValueError("no 'backbone.' weights: not a ResNetClassifier state dict")
    return out


def load_classifier_backbone(backbone: nn.Module, state_dict: Mapping[str, Tensor]) -> None:
    """Copy a classifier's trunk into ``backbone`` (strict: the architectures must match)."""
    backbone.load_state_dict(classifier_backbone_state(state_dict), strict=True)


def init_from_classifier_cfg(model, load) -> bool:
    """Run ``load(state_dict)`` when ``model.init_cfg`` is ``dict(type='Classifier', checkpoint=PATH)``
    and the model is not initialised yet; returns whether it was such a config."""
    cfg = getattr(model, "init_cfg", None)
    if not (isinstance(cfg, dict) and cfg.get("type") == "Classifier"):
        return False
    if not model.is_init:
        load(read_state_dict(cfg["checkpoint"]))
        model.is_init = True
    return True


def build_backbone(backbone: dict | nn.Module) -> nn.Module:
    """A backbone module from a config dict (``type`` defaults to ``ResNet``) or as given."""
    if isinstance(backbone, dict):
        return MODELS.build({"type": "ResNet", **backbone})
    return backbone
