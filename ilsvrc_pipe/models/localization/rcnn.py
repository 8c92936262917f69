"""RoI-centric R-CNN that rescores and moves the per-class RPN's proposals (appendix C).

Each proposal is cropped from the image (with optional R-CNN context padding) and warped to
``S x S``; a ResNet initialised from the classifier sees the warped crop, and two sibling fc layers
give a (C+1)-way softmax (background is index C, so class indices stay the sorted indices) and C x 4
per-class box regressors. Training teaches only the ground-truth class's regressor, on foreground
regions. At test time the class-c probability rescores each class-c proposal and the class-c
regressor moves it; the best box per class is the answer.

Crop-and-warp is ``torchvision.ops.roi_align`` on the whole image with ``aligned=True`` and
``sampling_ratio=1``: output pixel ``j`` of a box ``[x1, x2)`` (continuous) samples the image
bilinearly at ``x1 + (j + 0.5) * (x2 - x1) / S``, which is exactly a crop followed by a bilinear
(half-pixel, non-antialiased) resize; a larger ``sampling_ratio`` averages that many samples per
output pixel and so antialiases strong downscaling.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from ...ops.box_coder import BoxCoder, clip_boxes, clip_inclusive, continuous_to_inclusive, inclusive_to_continuous
from ...ops.geometry import warp_regions
from ...registry import MODELS
from ..backbone.classifier_init import build_backbone, classifier_backbone_state, init_from_classifier_cfg
from ..classification.view_modes import eval_mode
from .per_class_rpn import ScoredBoxes, stack_inputs


def region_targets(data_samples, device: torch.device) -> tuple[Tensor, Tensor]:
    """``(labels (B,), deltas (B, 4))`` from the collated dict (``labels``/``deltas``), a list of
    per-region dicts (``label``/``deltas``) or ``pseudo_collate``'s dict of lists."""
    if isinstance(data_samples, Mapping):
        labels = data_samples.get("labels", data_samples.get("label"))
        deltas = data_samples["deltas"]
    else:
        labels = [s["label"] for s in data_samples]
        deltas = [s["deltas"] for s in data_samples]
    labels, deltas = _stacked(labels), _stacked(deltas)
    return labels.to(device=device, dtype=torch.long).view(-1), deltas.to(device).view(-1, 4)


def _stacked(values) -> Tensor:
    if isinstance(values, (list, tuple)):
        return torch.stack([torch.as_tensor(v) for v in values])
    return torch.as_tensor(values)


@MODELS.register_module()
class RoIRCNN(BaseModel):
    """ResNet on warped region crops + (C+1)-way softmax + per-class box regression.

    ``forward(inputs, data_samples, mode)``: "tensor" gives ``(logits (B, C+1), deltas (B, C, 4))``;
    "loss" ``{"loss_cls", "loss_reg"}`` with ``data_samples`` holding each region's label
    (0..C-1, or C for background) and regression target; "predict" ``(probs, deltas)``.

    Args:
        backbone: a ResNet or its config (the classifier's architecture).
        num_classes: C.
        crop_size, context_pad, sampling_ratio: the warp of :func:`warp_regions` used at test time
            (the training dataset must use the same values).
        box_coder_weights: of the regression targets (Fast R-CNN's (10, 10, 5, 5)).
        init_cfg: ``dict(type='Classifier', checkpoint=PATH)`` loads a ResNetClassifier checkpoint in
            :meth:`init_weights`: its trunk, and its fc as the first C rows of the softmax layer.
    """

    def __init__(self, backbone: dict | nn.Module, num_classes: int, crop_size: int = 224,
                 context_pad: float = 0.0, sampling_ratio: int = 1, dropout: float = 0.0,
                 box_coder_weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0),
                 smooth_l1_beta: float = 1.0, reg_loss_weight: float = 1.0,
                 data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = build_backbone(backbone)
        channels = self.backbone.out_channels[self.backbone.out_indices[-1]]
        self.num_classes = int(num_classes)
        self.crop_size, self.context_pad = int(crop_size), float(context_pad)
        self.sampling_ratio = int(sampling_ratio)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc_cls = nn.Linear(channels, self.num_classes + 1)
        self.fc_reg = nn.Linear(channels, self.num_classes * 4)
        nn.init.normal_(self.fc_cls.weight, std=0.01)
        nn.init.normal_(self.fc_reg.weight, std=0.001)
        nn.init.zeros_(self.fc_cls.bias)
        nn.init.zeros_(self.fc_reg.bias)
        self.box_coder = BoxCoder(box_coder_weights)
        self.smooth_l1_beta, self.reg_loss_weight = float(smooth_l1_beta), float(reg_loss_weight)

    def init_weights(self) -> None:
        """``init_cfg=dict(type='Classifier', checkpoint=...)``: trunk and fc of a trained classifier."""
        if not init_from_classifier_cfg(self, lambda state: self.init_from_classifier(state)):
            super().init_weights()

    def unused_parameters(self) -> list[str]:
        """Trainable parameters a training step leaves without gradient: the trunk's stages after
        ``out_indices``, if any; DDP searches for unused ones only when there are some. ``fc_reg``
        always gets a gradient, zero in a batch without foreground (:meth:`loss`)."""
        return [f"backbone.{n}" for n in self.backbone.unrun_parameters()]

    @property
    def background(self) -> int:
        """Label of a background region."""
        return self.num_classes

    def init_from_classifier(self, state_dict: Mapping[str, Tensor], with_fc: bool = True) -> None:
        """Trunk from a :class:`ResNetClassifier`; its fc seeds the C object rows of ``fc_cls``."""
        state = state_dict.get("state_dict", state_dict)
        self.backbone.load_state_dict(classifier_backbone_state(state), strict=True)
        if with_fc and "fc.weight" in state:
            weight, bias = state["fc.weight"], state["fc.bias"]
            if weight.shape != self.fc_cls.weight[: self.num_classes].shape:
                raise ValueError(f"classifier fc {tuple(weight.shape)} does not match "
                                 f"{self.num_classes} classes x {self.fc_cls.in_features}")
            with torch.no_grad():
                self.fc_cls.weight[: self.num_classes].copy_(weight)
                self.fc_cls.bias[: self.num_classes].copy_(bias)

    def head(self, crops: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, C+1)`` logits and ``(B, C, 4)`` deltas of warped crops."""
        pooled = self.dropout(self.backbone(crops)[-1].mean(dim=(2, 3)))
        # float32 under autocast (precision.py), so softmax and box decoding are float32; else a no-op
        return self.fc_cls(pooled).float(), self.fc_reg(pooled).view(-1, self.num_classes, 4).float()

    def forward(self, inputs: Tensor | Sequence[Tensor], data_samples=None, mode: str = "tensor"):
        logits, deltas = self.head(stack_inputs(inputs))
        if mode == "tensor":
            return logits, deltas
        if mode == "predict":
            return logits.softmax(dim=1), deltas
        if mode != "loss":
            raise ValueError(f"mode must be 'tensor', 'predict' or 'loss', got {mode!r}")
        if data_samples is None:
            raise ValueError("mode='loss' needs the regions' labels and targets as data_samples")
        labels, targets = region_targets(data_samples, logits.device)
        return self.loss(logits, deltas, labels, targets.to(deltas.dtype))

    def loss(self, logits: Tensor, deltas: Tensor, labels: Tensor, targets: Tensor
             ) -> dict[str, Tensor]:
        """Softmax cross entropy; smooth L1 of the GT class's regressor on foreground regions,
        summed and divided by the number of regions (Fast R-CNN's normalisation)."""
        fg = (labels < self.num_classes).nonzero(as_tuple=True)[0]
        chosen = deltas[fg, labels[fg]]
        loss_reg = F.smooth_l1_loss(chosen, targets[fg], beta=self.smooth_l1_beta, reduction="sum")
        loss_reg = (loss_reg + deltas.sum() * 0) / max(labels.numel(), 1)
        return {"loss_cls": F.cross_entropy(logits, labels),
                "loss_reg": self.reg_loss_weight * loss_reg}


def refine_proposals(model: RoIRCNN, image: Tensor, proposals: Mapping[int, Tensor | ScoredBoxes],
                     batch_size: int = 128, sort: bool = True) -> dict[int, ScoredBoxes]:
    """Rescore and move each class's proposals (inclusive boxes of the ``(3, H, W)`` normalised
    image); returns per class the moved inclusive boxes with their class probability, best first
    (``sort=False``: in the proposals' order, so several models' outputs can be averaged).

    A box proposed for several classes is cropped and run once.
    """
    classes = [int(c) for c in proposals]
    boxes = [getattr(p, "boxes", p).reshape(-1, 4).to(image) for p in proposals.values()]
    if not classes or sum(b.shape[0] for b in boxes) == 0:
        return {c: ScoredBoxes(b, b.new_zeros(0)) for c, b in zip(classes, boxes)}
    unique, inverse = torch.unique(torch.cat(boxes), dim=0, return_inverse=True)
    probs, deltas = [], []
    with eval_mode(model):
        for start in range(0, unique.shape[0], batch_size):
            crops = warp_regions(image, unique[start: start + batch_size], model.crop_size,
                                 model.context_pad, model.sampling_ratio)
            p, d = model(crops, mode="predict")
            probs.append(p)
            deltas.append(d)
    probs, deltas = torch.cat(probs), torch.cat(deltas)
    size = (image.shape[-2], image.shape[-1])
    out, start = {}, 0
    for c, b in zip(classes, boxes):
        idx = inverse[start: start + b.shape[0]]
        start += b.shape[0]
        moved = model.box_coder.decode(deltas[idx, c], inclusive_to_continuous(unique[idx]))
        moved = clip_inclusive(continuous_to_inclusive(clip_boxes(moved, size)), size)
        scores = probs[idx, c]
        order = scores.argsort(descending=True) if sort else torch.arange(scores.numel())
        out[c] = ScoredBoxes(moved[order].cpu(), scores[order].cpu())   # tables are built on the CPU
    return out


def best_boxes(results: Mapping[int, ScoredBoxes]) -> dict[int, tuple[Tensor, float]]:
    """The top box and its score per class (classes without boxes are left out)."""
    return {c: (r.boxes[0], float(r.scores[0])) for c, r in results.items() if r.scores.numel()}
