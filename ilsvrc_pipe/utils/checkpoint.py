"""Checkpoint I/O that never unpickles arbitrary objects.

* torchvision ResNet state dicts <-> :mod:`ilsvrc_pipe.models.backbone.resnet` (import and export), loaded
  with ``torch.load(..., weights_only=True)`` from a local file. A config's ``pretrained`` weights
  are read by ``models/backbone/pretrained.py`` (strict checks, one-line errors) through these names.
* mmengine 0.10 calls ``torch.load`` without ``weights_only``; on torch >= 2.6 that default is
  ``True`` and ``Runner.resume`` / ``load_checkpoint`` reject the numpy arrays and
  ``HistoryBuffer`` objects of the message hub. :func:`allow_mmengine_checkpoint_globals`
  allowlists exactly those globals (``getattr`` replaced by a restricted one), instead of
  turning ``weights_only`` off.
"""
from __future__ import annotations

import os
import pickle
import re
from typing import Mapping

import numpy as np
import torch
from torch import Tensor, nn

# torchvision key -> our key, applied in order to a key that has no "backbone." prefix yet
_TV_TO_OURS = (
    (re.compile(r"^conv1\."), "stem.conv."),
    (re.compile(r"^bn1\."), "stem.bn."),
    (re.compile(r"^(layer\d\.\d+)\.downsample\.0\."), r"\1.shortcut.conv."),
    (re.compile(r"^(layer\d\.\d+)\.downsample\.1\."), r"\1.shortcut.bn."),
)
_OURS_TO_TV = (
    (re.compile(r"^stem\.conv\."), "conv1."),
    (re.compile(r"^stem\.bn\."), "bn1."),
    (re.compile(r"^(layer\d\.\d+)\.shortcut\.conv\."), r"\1.downsample.0."),
    (re.compile(r"^(layer\d\.\d+)\.shortcut\.bn\."), r"\1.downsample.1."),
)


def _is_classifier(model: nn.Module) -> bool:
    return hasattr(model, "backbone") and hasattr(model, "fc")


def torchvision_key_to_ours(key: str, classifier: bool = True) -> str:
    """Name of a torchvision ResNet parameter in our model (``backbone.`` prefix if classifier)."""
    if key.startswith("fc."):
        return key
    for pattern, repl in _TV_TO_OURS:
        key = pattern.sub(repl, key)
    return f"backbone.{key}" if classifier else key


def our_key_to_torchvision(key: str) -> str:
    """Inverse of :func:`torchvision_key_to_ours`."""
    key = key.removeprefix("backbone.")
    for pattern, repl in _OURS_TO_TV:
        key = pattern.sub(repl, key)
    return key


def convert_torchvision_state_dict(state_dict: Mapping[str, Tensor],
                                   classifier: bool = True) -> dict[str, Tensor]:
    """Rename a torchvision ResNet state dict to ours; a backbone target drops ``fc.*``."""
    out = {}
    for key, value in state_dict.items():
        if not classifier and key.startswith("fc."):
            continue
        out[torchvision_key_to_ours(key, classifier)] = value
    return out


def load_torchvision_resnet(model: nn.Module, path: str | os.PathLike,
                            strict: bool = True) -> tuple[list[str], list[str]]:
    """Load a torchvision ResNet state dict from a local file into a ResNet or ResNetClassifier.

    Unpickling is ``weights_only``. Every shape is checked first and a mismatch raises
    ``ValueError`` naming the key and both shapes, whatever ``strict`` says; ``strict`` only
    governs missing/unexpected keys. A backbone target ignores torchvision's ``fc``; to fine-tune
    with another number of classes, load into ``model.backbone``.

    Returns:
        (missing keys, unexpected keys), in our names.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    classifier = _is_classifier(model)
    converted = convert_torchvision_state_dict(state, classifier)
    own = model.state_dict()
    for key, value in converted.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(
                f"shape mismatch for {key} (torchvision {our_key_to_torchvision(key)}): "
                f"checkpoint {tuple(value.shape)} vs model {tuple(own[key].shape)}")
    result = model.load_state_dict(converted, strict=strict)
    return list(result.missing_keys), list(result.unexpected_keys)


def export_torchvision_resnet(model: nn.Module) -> dict[str, Tensor]:
    """State dict of our ResNet/ResNetClassifier in torchvision names (tensors shared, not copied).

    Only the torchvision-compatible layout (option B, standard stem, no pre-activation) loads
    into ``torchvision.models.resnet*``.
    """
    return {our_key_to_torchvision(k): v for k, v in model.state_dict().items()}


def save_torchvision_resnet(model: nn.Module, path: str | os.PathLike) -> None:
    """Write :func:`export_torchvision_resnet` to ``path``."""
    torch.save(export_torchvision_resnet(model), path)


# ----------------------------------------------------------------------------------------------
# mmengine checkpoints under weights_only=True

# statistic methods that HistoryBuffer pickles by reference (``getattr(HistoryBuffer, name)``)
_HISTORY_BUFFER_METHODS = ("min", "max", "current", "mean")


def _history_buffer_getattr(obj, name: str):
    """Stand-in for ``builtins.getattr`` while unpickling: only HistoryBuffer's statistics.

    A free ``getattr`` would let a crafted pickle reach any attribute (modules, builtins) and
    plant it in HistoryBuffer's class-level method table, which mmengine calls later.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    # the error type of torch's weights-only unpickler, so torch.load reports it as such
    raise pickle.UnpicklingError(
        f"getattr({obj!r}, {name!r}) is not allowed in an mmengine checkpoint")


def _numpy_dtype_classes() -> list[type]:
    """dtype classes of numeric numpy arrays/scalars (numpy >= 1.25 pickles them via BUILD)."""
    dtypes = getattr(np, "dtypes", None)
    if dtypes is None:
        return []
    names = ("BoolDType", "Int8DType", "Int16DType", "Int32DType", "Int64DType", "UInt8DType",
             "UInt16DType", "UInt32DType", "UInt64DType", "Float16DType", "Float32DType",
             "Float64DType", "LongDType", "ULongDType", "LongLongDType", "ULongLongDType")
    return [getattr(dtypes, n) for n in names if hasattr(dtypes, n)]


def mmengine_checkpoint_globals() -> list:
    """Globals an mmengine Runner checkpoint needs beyond torch's default weights-only set.

    Found by saving a Runner checkpoint (SGD, a param scheduler, the message hub) and listing
    what ``weights_only=True`` rejects: numpy arrays/scalars/dtypes of the HistoryBuffers,
    ``HistoryBuffer`` itself and ``getattr`` (for its statistic methods), registered under both
    numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``) paths.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    entries: list = [HistoryBuffer, np.ndarray, np.dtype,
                     (_history_buffer_getattr, "builtins.getattr")]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        entries.append((multiarray._reconstruct, f"{module}._reconstruct"))
        entries.append((multiarray.scalar, f"{module}.scalar"))
    entries.extend(_numpy_dtype_classes())
    return entries


def allow_mmengine_checkpoint_globals() -> None:
    """Allowlist :func:`mmengine_checkpoint_globals` process-wide, so ``Runner.resume`` and
    ``load_checkpoint`` work under ``weights_only=True``. Idempotent.

    For a scoped alternative use
    ``with torch.serialization.safe_globals(mmengine_checkpoint_globals()): ...``.
    """
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
