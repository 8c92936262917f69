"""Training specs built from the config: one Runner spec per trained model of the pipeline.

The stages, ``tools/train.py`` and the benchmarks build their models and Runner specs here, so a
classifier trained by hand under torchrun is exactly the one the ``cls`` stage would train.
A model that starts from a trained classifier names its checkpoint in ``init_cfg`` (type
``Classifier``); the weights are read by the model's ``init_weights``, never in its constructor. A
classifier with ``pretrained`` weights names them the same way (type ``Pretrained``,
``models/backbone/pretrained.py``); :func:`check_pretrained` checks every member's file before any work.
"""
from __future__ import annotations

import copy
from pathlib import Path

from ..artifacts.paths import Artifacts
from ..utils.errors import UserInputError
from .training import sgd_schedule


def _classifier_init(init: Path | None) -> dict:
    return {} if init is None else {"init_cfg": {"type": "Classifier", "checkpoint": str(init)}}


def _loader(dataset: dict, collate: str, train: dict, seed: int) -> dict:
    """Decoding workers as the config says (the paper config streams JPEGs with 8), their batches in
    pinned memory when a GPU takes them (``pin_memory``, default: whether torch sees a GPU)."""
    import torch

    workers = int(train.get("num_workers", 0))
    pin = bool(train.get("pin_memory", torch.cuda.is_available()))
    return dict(dataset=dataset, sampler=dict(type="SeededSampler", shuffle=True, seed=seed),
                collate_fn=dict(type=collate), batch_size=train["batch_size"],
                num_workers=workers, persistent_workers=workers > 0, pin_memory=pin)


def _train_tables(artifacts: Artifacts) -> dict:
    return {"images": str(artifacts.records("loc", "train", "images")),
            "boxes": str(artifacts.records("loc", "train", "boxes"))}


def for_inference(model, fold_bn: bool = True):
    """``model`` as the stages' test loops run it: eval mode, batch norms folded into the convolutions
    (``fold_bn``) and ``channels_last`` (both measured faster for CPU inference)."""
    import torch

    from ..models.backbone.fold_bn import fold_batch_norms

    if fold_bn:
        fold_batch_norms(model)
    return model.eval().to(memory_format=torch.channels_last)


def load_weights(model_cfg: dict, weights: Path, fold_bn: bool = True, device=None):
    """A model built from its config with its trained weights (no ``init_cfg`` reading), made ready
    for inference by :func:`for_inference`."""
    import torch

    from ..registry import MODELS

    model = MODELS.build({k: v for k, v in model_cfg.items() if k != "init_cfg"})
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model = for_inference(model, fold_bn)
    return model if device is None else model.to(device)


# -- cls -----------------------------------------------------------------------------------------
def member_model_cfg(member: dict, num_classes: int, load_fc: bool = False) -> dict:
    """The member's ResNetClassifier; with ``pretrained``, an ``init_cfg`` that the Runner's
    ``init_weights`` reads (the fc too when ``load_fc``: the classes are ImageNet's)."""
    cfg = {"type": "ResNetClassifier", "backbone": copy.deepcopy(member["backbone"]), "num_classes": num_classes}
    if member.get("pretrained"):
        cfg["init_cfg"] = {"type": "Pretrained", "checkpoint": str(member["pretrained"]), "load_fc": bool(load_fc)}
    return cfg


def member_max_epochs(member: dict, train_cfg: dict, label: str = "cls member") -> int:
    """The member's training epochs (its own ``train`` overrides the shared one); 0 means evaluate its
    ``pretrained`` weights as they are, which a member without them cannot."""
    epochs = {**train_cfg, **member.get("train", {})}.get("max_epochs")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise UserInputError(f"{label}: train.max_epochs must be an integer >= 0, got {epochs!r}")
    if epochs == 0 and not member.get("pretrained"):
        raise UserInputError(f"{label}: train.max_epochs=0 evaluates pretrained weights, but the member has no "
                             "pretrained; set pretrained='torchvision://resnet101' (or a .pth file) or max_epochs > 0")
    return epochs


def check_pretrained(cls_section: dict) -> None:
    """Before any work: resolve every ``cls`` member's ``pretrained`` and load it strictly into the
    member's classifier, built on the CPU (weights only; every key and shape); refuse ``max_epochs=0``
    without it. Anything wrong is one :class:`UserInputError` line naming the member and the file."""
    from ..models.backbone.pretrained import checked_classifier_state, resolve_pretrained, torchvision_depth
    from ..registry import MODELS

    train = dict(cls_section.get("train", {}) or {})
    for i, member in enumerate(cls_section.get("models", []) or []):
        label = f"cls.models[{i}] ({member.get('name', '?')})"
        member_max_epochs(member, train, label)
        source = member.get("pretrained")
        if not source:
            continue
        model = MODELS.build(member_model_cfg(member, 1000))   # the constructor reads no weights
        depth = torchvision_depth(str(source))
        if depth is not None and depth != model.backbone.depth:
            raise UserInputError(f"{label}.pretrained: {source} holds a ResNet-{depth}; the member's backbone "
                                 f"is a ResNet-{model.backbone.depth}")
        checked_classifier_state(model, resolve_pretrained(source, f"{label}.pretrained"))


def _imagenet_fc(member: dict, artifacts: Artifacts) -> bool:
    """Whether a pretrained member's fc loads: the data root's CLS-LOC classes are ImageNet's 1,000."""
    from ..models.backbone.pretrained import is_imagenet_classes

    return bool(member.get("pretrained")) and is_imagenet_classes(artifacts.read_classes()["clsloc"].wnids)


def member_train_spec(member: dict, train_cfg: dict, artifacts: Artifacts, num_classes: int) -> dict:
    """The Runner spec of one ensemble member (its own keys override the shared ``train`` ones); with
    ``pretrained``, the model starts from those weights."""
    t = {**train_cfg, **member.get("train", {})}
    member_max_epochs(member, train_cfg, f"cls member {member.get('name', '?')}")
    dataset = dict(type="ClsLocDataset", images=str(artifacts.records("loc", "train", "images")),
                   transform=dict(scale=tuple(t["scale"]), crop=t["crop"], flip=True, pca_std=t.get("pca_std", 0.1)),
                   cache_images=t.get("cache_images", False))
    return dict(model=member_model_cfg(member, num_classes, _imagenet_fc(member, artifacts)),
                train_dataloader=_loader(dataset, "default_collate", t, int(member.get("seed", 0))),
                **sgd_schedule(t))


# -- rpn -----------------------------------------------------------------------------------------
def _trunk(member: dict, section: dict, cls_members: dict) -> dict:
    """The ResNet of classifier ``member['init_from']`` with the section's ``backbone`` keys on top:
    the architecture is the classifier's, how it trains (``frozen_stages``) the section's."""
    return {**copy.deepcopy(cls_members[member["init_from"]]["backbone"]), **copy.deepcopy(section.get("backbone", {}))}


def rpn_model_cfg(member: dict, section: dict, cls_members: dict, num_classes: int, init: Path | None = None,
                  anchor_shapes: list | None = None) -> dict:
    """PerClassRPN config: the trunk of classifier ``member['init_from']`` up to ``out_stage``;
    ``anchor_shapes`` (fitted to the training boxes) replace the configured anchor grid."""
    backbone = {**_trunk(member, section, cls_members), "out_indices": (int(section.get("out_stage", 3)),)}
    fitted = {"anchor_shapes": [list(s) for s in anchor_shapes]} if anchor_shapes else {}
    return {"type": "PerClassRPN", "backbone": backbone, "num_classes": num_classes,
            **copy.deepcopy(section["model"]), **fitted, **_classifier_init(init)}


def rpn_train_spec(model_cfg: dict, train: dict, artifacts: Artifacts, seed: int = 0) -> dict:
    dataset = dict(type="RPNCropDataset", **_train_tables(artifacts), crop_size=train["crop"],
                   scale=tuple(train["scale"]), flip=True, cache_images=train.get("cache_images", False),
                   min_visible=train.get("min_visible", 0.5))
    return dict(model=model_cfg, train_dataloader=_loader(dataset, "rpn_collate", train, seed), **sgd_schedule(train))


# -- rcnn ----------------------------------------------------------------------------------------
def rcnn_model_cfg(member: dict, section: dict, cls_members: dict, num_classes: int, init: Path | None = None) -> dict:
    return {"type": "RoIRCNN", "backbone": _trunk(member, section, cls_members),
            "num_classes": num_classes, **copy.deepcopy(section["model"]), **_classifier_init(init)}


def rcnn_train_spec(model_cfg: dict, train: dict, regions: Path, artifacts: Artifacts, num_classes: int,
                    seed: int = 0) -> dict:
    m = model_cfg
    dataset = dict(type="RoICropDataset", proposals=str(regions), **_train_tables(artifacts),
                   num_classes=num_classes, crop_size=m.get("crop_size", 224), context_pad=m.get("context_pad", 0),
                   box_coder_weights=m.get("box_coder_weights", (10.0, 10.0, 5.0, 5.0)),
                   fg_iou=train.get("fg_iou", 0.5), bg_iou=tuple(train.get("bg_iou", (0.1, 0.5))),
                   fg_fraction=train.get("fg_fraction", 0.25), cache_images=train.get("cache_images", False))
    return dict(model=m, train_dataloader=_loader(dataset, "rcnn_collate", train, seed), **sgd_schedule(train))


# -- det -----------------------------------------------------------------------------------------
def det_model_cfg(member: dict, section: dict, cls_members: dict, num_classes: int, init: Path | None = None) -> dict:
    """C4FasterRCNN config: the ResNet of classifier ``member['init_from']``, the shared ``model``
    settings, and the member's own (e.g. ``context``)."""
    own = {k: v for k, v in member.items() if k not in ("name", "init_from", "seed", "train")}
    return {"type": "C4FasterRCNN", "backbone": copy.deepcopy(cls_members[member["init_from"]]["backbone"]),
            "num_classes": num_classes, **copy.deepcopy(section.get("model", {})), **own, **_classifier_init(init)}


def det_train_spec(model_cfg: dict, train: dict, artifacts: Artifacts, classes: list[str], seed: int = 0) -> dict:
    """Fine-tuning on DET train + val1 (the paper's split; val2 is for validation)."""
    splits = [s for s in train.get("splits", ("train", "val1")) if artifacts.has_records("det", s)]
    dataset = dict(type="DetTrainDataset", images=[str(artifacts.records("det", s, "images")) for s in splits],
                   boxes=[str(artifacts.records("det", s, "boxes")) for s in splits],
                   train_lists=str(artifacts.det_train_lists()) if artifacts.det_train_lists().is_file() else None,
                   classes=list(classes), scales=tuple(train["scales"]), max_size=train.get("max_size"),
                   flip=True, cache_images=train.get("cache_images", False))
    return dict(model=model_cfg, train_dataloader=_loader(dataset, "det_collate", train, seed), **sgd_schedule(train))
