"""Pretrained classifier weights: find a member's ``pretrained`` file and load it strictly.

A user starts the ensemble from ImageNet-pretrained ResNets rather than 90 epochs from scratch.
``pretrained`` names either

* ``torchvision://<name>[.<tag>]``, as mmengine's prefix of that name: a torchvision ResNet
  (``resnet18`` .. ``resnet152``) whose weights torchvision's weights API names (tag case-insensitive,
  e.g. ``IMAGENET1K_V2`` or ``DEFAULT``). Without a tag it is :data:`DEFAULT_TORCHVISION_TAG`, the file
  mmengine loads for a bare name. The file is looked up where ``torch.hub.load_state_dict_from_url``
  stores it (``torch.hub.get_dir()/checkpoints/<file name of the URL>``); it is never downloaded
  here: a missing file is one error naming that path and the URL, so a start-up check neither hangs
  on a machine without network nor fetches 170 MB behind the user's back.
* a local ``.pth``: a torchvision ResNet state dict, or a ``ResNetClassifier`` state dict of this
  project (the ``final.pth`` of an earlier ``cls`` run).

Files load with ``weights_only=True``. Every backbone weight must find its place with its shape, and
every weight of the file must be one of the model's; torchvision's layout (max-pooled 7x7 stem,
stride on a bottleneck's 3x3 conv, post-activation) is required for torchvision-named files, as the
same weights would compute something else in another layout. The fc layer loads only when asked
(the stage asks when the data root's classes are ImageNet's 1,000: torchvision's outputs are the
sorted WNIDs, which is this project's column order); otherwise it keeps its fresh initialisation,
and the log says so. A classifier evaluated without training gets its final weights from
:func:`write_pretrained_final`.
"""
from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from ...registry import MODELS
from ...utils.checkpoint import our_key_to_torchvision, torchvision_key_to_ours
from ...utils.errors import DataFormatError, UserInputError
from ...utils.io_utils import atomic_path

logger = logging.getLogger(__name__)

TORCHVISION_PREFIX = "torchvision://"
# mmengine maps a bare ``torchvision://resnet101`` to the URL of torchvision 0.12 (its
# hub/torchvision_0.12.json), which is the file of torchvision's IMAGENET1K_V1 weights
DEFAULT_TORCHVISION_TAG = "IMAGENET1K_V1"
TORCHVISION_RESNETS = {"resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101, "resnet152": 152}

# sha256 of the 1,000 CLS-LOC WNIDs of the ILSVRC devkit (ids 1..1000 of data/meta_clsloc.mat), sorted
# and joined by newlines: hashlib.sha256("\n".join(sorted(read_synsets(path).wnids)).encode())
IMAGENET_CLASSES_SHA256 = "385e0240499426c022b773be1ae4da780f057b89c9694c7f47199f62746b6edd"

_FC_KEYS = ("fc.weight", "fc.bias")


def is_imagenet_classes(wnids: Iterable[str]) -> bool:
    """Whether ``wnids`` are ImageNet's 1,000 CLS-LOC classes (in any order)."""
    return hashlib.sha256("\n".join(sorted(wnids)).encode()).hexdigest() == IMAGENET_CLASSES_SHA256


# -- where the file is -----------------------------------------------------------------------------
def _split_torchvision_name(name: str) -> tuple[str, str]:
    arch, _, tag = name.partition(".")
    return arch, tag or DEFAULT_TORCHVISION_TAG


def torchvision_depth(source: str) -> int | None:
    """Depth of the ResNet a ``torchvision://`` source names (None for a local file or another name)."""
    if not source.startswith(TORCHVISION_PREFIX):
        return None
    return TORCHVISION_RESNETS.get(_split_torchvision_name(source[len(TORCHVISION_PREFIX):])[0])


def torchvision_weights(name: str, option: str = "pretrained"):
    """torchvision's weights entry of ``<resnet name>[.<tag>]`` (its ``url`` names the file)."""
    import torchvision

    arch, tag = _split_torchvision_name(name)
    if arch not in TORCHVISION_RESNETS:
        raise UserInputError(f"{option}: {TORCHVISION_PREFIX}{name} is not a torchvision ResNet; "
                             f"expected one of {', '.join(TORCHVISION_RESNETS)}")
    weights = torchvision.models.get_model_weights(arch)
    if tag.upper() == "DEFAULT":
        return weights.DEFAULT
    try:
        return weights[tag.upper()]
    except KeyError:
        raise UserInputError(f"{option}: {arch} has no weights {tag!r}; expected one of "
                             f"{', '.join(w.name for w in weights)} or DEFAULT") from None


def torchvision_cache_file(url: str) -> Path:
    """Where ``torch.hub.load_state_dict_from_url(url)`` keeps its download."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def resolve_pretrained(source: str, option: str = "pretrained") -> Path:
    """The local file of a ``pretrained`` value; one :class:`UserInputError` line when it is absent."""
    if not isinstance(source, (str, os.PathLike)) or not str(source):
        raise UserInputError(f"{option}: expected '{TORCHVISION_PREFIX}<resnet>' or a .pth file, got {source!r}")
    source = str(source)
    if source.startswith(TORCHVISION_PREFIX):
        url = torchvision_weights(source[len(TORCHVISION_PREFIX):], option).url
        path = torchvision_cache_file(url)
        if not path.is_file():
            raise UserInputError(
                f"{option}: {source} is not in torch hub's cache: expected {path}; fetch it from {url} "
                f"(e.g. python -c \"import torch; torch.hub.load_state_dict_from_url('{url}')\"); "
                "it is not downloaded during a run")
        return path
    path = Path(source).expanduser()
    if not path.is_file():
        raise UserInputError(f"{option}: {source}: no such file; expected a .pth weight file "
                             f"or '{TORCHVISION_PREFIX}<resnet>'")
    return path


# -- what the file holds ---------------------------------------------------------------------------
def _first_sentence(exc: BaseException) -> str:
    return " ".join(str(exc).split()).split(". ")[0][:160] or type(exc).__name__


def _refused_global(exc: BaseException) -> str:
    """The global a weights-only load refused, from torch's message (without its advice)."""
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return found.group(1) if found else _first_sentence(exc)


def read_weight_file(path: str | os.PathLike) -> dict[str, Tensor]:
    """The state dict in ``path`` (``torch.load(weights_only=True)``; an mmengine checkpoint's
    ``state_dict`` is taken); a file that is not one is a :class:`DataFormatError` line."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise DataFormatError(f"{path}: holds pickled objects other than tensors ({_refused_global(exc)}); "
                              "expected a state dict of tensors (weights are read with weights_only=True)") from None
    except Exception as exc:  # noqa: BLE001  (torch reports a damaged file with many error types)
        raise DataFormatError(f"{path}: not a complete torch weight file ({_first_sentence(exc)}); expected a state "
                              "dict saved by torch.save: the file may be truncated (an interrupted download)") from None
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise DataFormatError(f"{path}: holds a {type(state).__name__}, expected a state dict "
                              "(parameter names -> tensors)")
    return dict(state)


def _in_our_names(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Classifier names of a torchvision or a project state dict (ours pass through unchanged)."""
    return {k if k.startswith("backbone.") else torchvision_key_to_ours(k): v for k, v in state.items()}


def _torchvision_layout_mismatch(backbone: nn.Module) -> str | None:
    """What of ``backbone`` differs from torchvision's ResNet layout, or None."""
    conv = backbone.stem.conv
    if conv.kernel_size != (7, 7) or conv.stride != (2, 2) or not hasattr(backbone.stem, "pool"):
        return "its stem is not a 7x7 stride-2 conv with max pooling"
    if backbone.preact:
        return "it uses pre-activation blocks"
    first = backbone.layer2[0]
    if hasattr(first, "conv3") and first.conv1.stride != (1, 1):
        return "its bottlenecks stride on the 1x1 conv (stride_in_1x1)"
    return None


def _architecture(model: nn.Module) -> str:
    return f"ResNet-{model.backbone.depth} classifier"


def checked_classifier_state(model: nn.Module, path: str | os.PathLike) -> dict[str, Tensor]:
    """The weights of ``path`` in ``model``'s names, checked against it: every backbone weight present
    with its shape, nothing foreign; the fc, when present, fits the backbone's width (its number of
    classes may differ). One :class:`DataFormatError` line names the file and the first misfit."""
    raw = read_weight_file(path)
    state = _in_our_names(raw)
    own = model.state_dict()
    expected = f"expected the weights of a {_architecture(model)}"
    for key, value in state.items():
        if key in _FC_KEYS:
            if value.shape[1:] != own[key].shape[1:] or value.dim() != own[key].dim():
                raise DataFormatError(f"{path}: {key} has shape {tuple(value.shape)}, which does not fit a fc "
                                      f"on {model.fc.in_features} features; {expected}")
            continue
        if key not in own:
            raise DataFormatError(f"{path}: weight {our_key_to_torchvision(key)!r} (as {key}) has no place in "
                                  f"the model; {expected}")
        if own[key].shape != value.shape:
            raise DataFormatError(f"{path}: {our_key_to_torchvision(key)} (as {key}) has shape "
                                  f"{tuple(value.shape)}, the model {tuple(own[key].shape)}; {expected}")
    for key in own:
        # a BN's batch counter is no weight (files from before torch 0.4 lack it); torch keeps the model's
        if key.startswith("backbone.") and key not in state and not key.endswith("num_batches_tracked"):
            raise DataFormatError(f"{path}: no weight for {key} (torchvision {our_key_to_torchvision(key)}); "
                                  f"{expected}")
    if "conv1.weight" in raw:
        mismatch = _torchvision_layout_mismatch(model.backbone)
        if mismatch:
            raise DataFormatError(f"{path}: torchvision weights need torchvision's ResNet layout, but this "
                                  f"backbone differs ({mismatch}); use shortcut B, the default stem and blocks")
    if any(k in state for k in _FC_KEYS) and not all(k in state for k in _FC_KEYS):
        raise DataFormatError(f"{path}: holds one of fc.weight and fc.bias without the other; {expected}")
    return state


def load_pretrained(model: nn.Module, source: str, load_fc: bool, option: str = "pretrained") -> bool:
    """Load ``source`` (see the module's docstring) into a ``ResNetClassifier``, strictly.

    The backbone always loads; the fc too when ``load_fc`` and the file has one of the model's
    shape (a different one with ``load_fc`` is an error). Returns whether the fc was loaded; when it
    was not, one log line says that it starts anew and why.
    """
    path = resolve_pretrained(source, option)
    state = checked_classifier_state(model, path)
    own = model.state_dict()
    weights = {k: v for k, v in state.items() if k.startswith("backbone.")}
    has_fc = all(k in state for k in _FC_KEYS)
    if load_fc and has_fc:
        if state["fc.weight"].shape != own["fc.weight"].shape:
            raise DataFormatError(f"{path}: its fc has {state['fc.weight'].shape[0]} classes, the data root's "
                                  f"{own['fc.weight'].shape[0]}; expected a classifier of these classes")
        weights.update({k: state[k] for k in _FC_KEYS})
    model.load_state_dict(weights, strict=False)   # what is left out: the fc, BN batch counters (checked above)
    if not (load_fc and has_fc):
        why = ("it has none" if not has_fc else
               "the data root's CLS-LOC classes are not ImageNet's 1,000, the columns of a pretrained fc")
        logger.info("%s: backbone loaded from %s; the fc layer is initialised anew (%s)", option, path, why)
    return load_fc and has_fc


def write_pretrained_final(model_cfg: dict, final: str | os.PathLike, seed: int = 0) -> Path:
    """Final weights of a classifier that is not trained (``max_epochs=0``): the model of ``model_cfg``
    (with its ``Pretrained`` ``init_cfg``) as ``init_weights`` leaves it, a new fc drawn from ``seed``
    unless the pretrained one loads, written where a training leaves its final weights, so later
    stages read them alike. No Runner runs: no checkpoint, no training log. Kept if it exists."""
    final = Path(final)
    if final.is_file():
        logger.info("%s already written (%s)", final.parent.name, final)
        return final
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MODELS.build(model_cfg)
        model.init_weights()
    with atomic_path(final) as tmp:
        torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, tmp)
    logger.info("%s: pretrained weights written as its final weights (max_epochs=0, no training)", final.parent.name)
    return final
