"""The image classifier of the ensemble: a ResNet trunk, global average pooling and an fc layer.

Its test-time modes (centre crop, 10-crop, dense multi-scale) are in ``models/classification/view_modes.py``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from ...registry import MODELS
from ..backbone.pretrained import load_pretrained
from ..backbone.resnet import ResNet  # noqa: F401  (registers ResNet, which the classifier builds by name)


@MODELS.register_module()
class ResNetClassifier(BaseModel):
    """Backbone + global average pooling + fc, as an mmengine model for the Runner.

    ``forward(inputs, data_samples, mode)``: "tensor" gives logits, "predict" softmax
    probabilities, "loss" ``{"loss": cross entropy}``. ``data_samples`` are class indices (a
    tensor or a list of ints/0-d tensors). Inputs are normalised ``(B, 3, H, W)`` floats or a list
    of equal-size ``(3, H, W)`` tensors; any size works (pooling is global).

    Args:
        backbone: a :class:`ResNet` or its config dict (``type`` defaults to "ResNet").
        num_classes: size of the fc layer.
        dropout: dropout before fc (0 = none, as in the paper).
        label_smoothing: of the training cross entropy (0 = none, as in the paper).
    """

    def __init__(self, backbone: dict | nn.Module, num_classes: int = 1000, dropout: float = 0.0,
                 label_smoothing: float = 0.0, data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if isinstance(backbone, dict):
            backbone = MODELS.build({"type": "ResNet", **backbone})
        if max(backbone.out_indices) != 3:
            raise ValueError("the classifier needs the last stage: include 3 in out_indices")
        self.backbone = backbone
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(backbone.out_channels[-1], num_classes)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def init_weights(self) -> None:
        """``init_cfg=dict(type='Pretrained', checkpoint=SOURCE, load_fc=BOOL)``: start from pretrained
        weights (``models/backbone/pretrained.py``: ``torchvision://resnet101`` or a local file, converted from
        torchvision's names and checked strictly, the fc only with ``load_fc``). mmengine's own
        ``Pretrained`` initialiser loads non-strictly without renaming: of a torchvision file only the
        fc would match, silently. The Runner calls this; the constructor reads no file."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get("type") == "Pretrained":
            if not self.is_init:
                load_pretrained(self, cfg["checkpoint"], load_fc=bool(cfg.get("load_fc", False)))
                self.is_init = True
            return
        super().init_weights()

    def unused_parameters(self) -> list[str]:
        """Trainable parameters a training step leaves without gradient (none: the classifier needs
        the last stage); DDP searches for unused ones only when there are some."""
        return [f"backbone.{n}" for n in self.backbone.unrun_parameters()]

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """Last-stage feature map ``(B, D, h, w)``."""
        return self.backbone(inputs)[-1]

    def logits(self, inputs: Tensor) -> Tensor:
        """Class logits ``(B, C)`` after global average pooling."""
        pooled = self.extract_feat(inputs).mean(dim=(2, 3))
        return self.fc(self.dropout(pooled)).float()   # float32 under autocast (precision.py); else a no-op

    def score_map(self, inputs: Tensor) -> Tensor:
        """Fully convolutional logits ``(B, C, h, w)``: the fc applied at every position (a 1x1 conv
        with its weights). Computed as a matmul, not ``conv2d``: oneDNN splits a 1x1 convolution this
        narrow (C outputs) along its input channels among threads, so the map would change with the
        thread count (``tests/utils/test_thread_invariance.py``)."""
        feat = self.extract_feat(inputs)
        return F.linear(feat.permute(0, 2, 3, 1), self.fc.weight, self.fc.bias).permute(0, 3, 1, 2).float()

    def forward(self, inputs: Tensor | Sequence[Tensor], data_samples=None,
                mode: str = "tensor"):
        if not isinstance(inputs, Tensor):
            inputs = torch.stack(list(inputs))
        logits = self.logits(inputs)
        if mode == "tensor":
            return logits
        if mode == "predict":
            return logits.softmax(dim=1)
        if mode == "loss":
            if data_samples is None:
                raise ValueError("mode='loss' needs the labels as data_samples")
            labels = _labels_to_tensor(data_samples, logits.device)
            return {"loss": F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)}
        raise ValueError(f"mode must be 'tensor', 'predict' or 'loss', got {mode!r}")


def _labels_to_tensor(data_samples, device: torch.device) -> Tensor:
    if isinstance(data_samples, Tensor):
        return data_samples.to(device=device, dtype=torch.long).view(-1)
    return torch.as_tensor([int(s) for s in data_samples], dtype=torch.long, device=device)
