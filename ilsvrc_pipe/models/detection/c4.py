"""The C4 Faster R-CNN of appendix A: conv1..conv4 shared by an RPN and a Fast R-CNN head, conv5 per region.

Composed from torchvision's detection parts: ``AnchorGenerator``, ``RPNHead`` and
``RegionProposalNetwork`` (class-agnostic proposals, their sampling and losses), ``RoIHeads`` (the
matching and balanced sampling of training RoIs, the box coder), ``roi_pool``/``roi_align``. What the
paper adds is written here: the trunk is the project's ``ResNet`` up to conv4 (stride 16); RoIs are
pooled from conv4 (RoIPool as in the paper, RoIAlign selectable) and go through conv5 (``layer4``)
and global average pooling as the per-region network; two sibling layers give the (C+1)-way
softmax and per-class boxes; optionally the global context branch (appendix B) pools the
whole-image box through the same conv5 and concatenates it with each region's feature.

Every batch norm is frozen (``frozen_bn.py``): statistics and affine come from the classification
network and never change, whatever ``.train()`` says. RPN and Fast R-CNN train jointly
(approximate joint training, as torchvision and detectron2 do). A class marked partially boxed on
an image (``ignore_labels``) is left out of the softmax of that image's background RoIs, so it is
never taught as background there; the class-agnostic RPN takes no negatives from such an image
(where its unboxed objects are is unknown). Labels are torchvision's: 1..C, 0 = background
(``data/synsets.py`` converts).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import roi_align, roi_pool

from ...registry import MODELS
from ..backbone.classifier_init import classifier_backbone_state, init_from_classifier_cfg
from .frozen_bn import freeze_batch_norm


def pad_batch(images: Sequence[Tensor], multiple: int) -> tuple[Tensor, list[tuple[int, int]]]:
    """Stack ``(3, H_i, W_i)`` images into one zero-padded batch (zero = the mean colour of a
    normalised image) whose sides are multiples of ``multiple``; returns it and the true sizes."""
    sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
    h = -(-max(s[0] for s in sizes) // multiple) * multiple
    w = -(-max(s[1] for s in sizes) // multiple) * multiple
    batch = images[0].new_zeros(len(images), images[0].shape[0], h, w)
    for i, im in enumerate(images):
        batch[i, :, : im.shape[-2], : im.shape[-1]] = im
    return batch, sizes


class PartiallyBoxedRPN(RegionProposalNetwork):
    """torchvision's RPN, except that on an image with a partially boxed class
    (``targets[i]["background_unknown"]``) no anchor is taught as background: an unboxed object
    of that class may sit under any of them. Its positives still train the RPN."""

    def assign_targets_to_anchors(self, anchors: list[Tensor], targets: list[dict[str, Tensor]]):
        labels, matched = super().assign_targets_to_anchors(anchors, targets)
        for labels_per_image, target in zip(labels, targets):
            if bool(target.get("background_unknown", False)):
                labels_per_image[labels_per_image == 0] = -1.0
        return labels, matched

    def compute_loss(self, objectness: Tensor, pred_bbox_deltas: Tensor, labels: list[Tensor],
                     regression_targets: list[Tensor]) -> tuple[Tensor, Tensor]:
        if not any(bool((lab >= 0).any()) for lab in labels):   # nothing to learn from in this batch
            zero = objectness.sum() * 0.0 + pred_bbox_deltas.sum() * 0.0
            return zero, zero
        return super().compute_loss(objectness, pred_bbox_deltas, labels, regression_targets)


class RoIPooler(nn.Module):
    """RoIPool (the paper) or RoIAlign on the single conv4 map; torchvision's ``box_roi_pool`` call form."""

    def __init__(self, output_size: int, spatial_scale: float, kind: str = "roi_pool", sampling_ratio: int = 2):
        super().__init__()
        if kind not in ("roi_pool", "roi_align"):
            raise ValueError(f"roi pooling must be 'roi_pool' or 'roi_align', got {kind!r}")
        self.output_size, self.spatial_scale, self.kind = int(output_size), float(spatial_scale), kind
        self.sampling_ratio = int(sampling_ratio)

    def forward(self, features, proposals: list[Tensor], image_shapes=None) -> Tensor:
        feat = features["0"] if isinstance(features, dict) else features
        feat = feat.float()   # half precision under autocast (precision.py): torchvision's CPU roi_pool has no bf16
        if self.kind == "roi_pool":
            return roi_pool(feat, proposals, self.output_size, self.spatial_scale)
        return roi_align(feat, proposals, self.output_size, self.spatial_scale, self.sampling_ratio, aligned=True)


@MODELS.register_module()
class C4FasterRCNN(BaseModel):
    """Faster R-CNN, C4 layout, on a ResNet; an mmengine model for the Runner.

    ``forward(inputs, data_samples, mode)``: inputs are normalised ``(3, H, W)`` tensors of any size;
    "loss" needs ``data_samples`` with ``boxes`` (continuous, input frame), ``labels`` (1..C) and
    optionally ``ignore_labels``; "predict" returns, per image, the raw per-RoI outputs
    (``rois``, ``scores`` (R, C+1) softmax, ``boxes`` (R, C+1, 4) decoded and clipped), which the
    test-time modes (``models/detection/inference.py``) turn into detections.

    Args:
        backbone: ResNet config (the classifier's architecture); conv4 is the shared trunk.
        num_classes: C, without background.
        anchor_sizes, anchor_ratios: the RPN's anchors (paper: 3 scales x 3 ratios, here configurable).
        rpn_*: torchvision RegionProposalNetwork settings (pre/post NMS top-n for training/testing).
        roi_*: RoI sampling (batch size per image, foreground fraction and IoUs) and pooling.
        context: the global context branch of appendix B.
        frozen_stages: ResNet stages without gradient (BN is frozen everywhere regardless).
        init_cfg: ``dict(type='Classifier', checkpoint=PATH)``: the ResNet of a trained classifier
            (CLS-LOC pre-training), read in :meth:`init_weights`.
    """

    def __init__(self, backbone: dict, num_classes: int,
                 anchor_sizes: Sequence[float] = (64, 128, 256, 512), anchor_ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 rpn_pre_nms_top_n: dict | None = None, rpn_post_nms_top_n: dict | None = None,
                 rpn_nms: float = 0.7, rpn_batch_size: int = 256, rpn_fg_iou: float = 0.7, rpn_bg_iou: float = 0.3,
                 roi_batch_size: int = 128, roi_positive_fraction: float = 0.25, roi_fg_iou: float = 0.5,
                 roi_bg_iou: float = 0.5, roi_pool: str = "roi_pool", roi_output_size: int = 14,
                 context: bool = False, frozen_stages: int = 1,
                 bbox_reg_weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0),
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build({"type": "ResNet", **dict(backbone), "out_indices": (2,),
                                      "frozen_stages": frozen_stages})
        freeze_batch_norm(self.backbone)
        self.num_classes, self.context = int(num_classes), bool(context)
        self.stride = int(self.backbone.strides[2])
        trunk_channels, head_channels = self.backbone.out_channels[2], self.backbone.out_channels[3]
        anchors = AnchorGenerator(sizes=(tuple(float(s) for s in anchor_sizes),),
                                  aspect_ratios=(tuple(float(r) for r in anchor_ratios),))
        self.rpn = PartiallyBoxedRPN(
            anchors, RPNHead(trunk_channels, anchors.num_anchors_per_location()[0]),
            fg_iou_thresh=rpn_fg_iou, bg_iou_thresh=rpn_bg_iou, batch_size_per_image=rpn_batch_size,
            positive_fraction=0.5, pre_nms_top_n=dict(rpn_pre_nms_top_n or dict(training=2000, testing=1000)),
            post_nms_top_n=dict(rpn_post_nms_top_n or dict(training=2000, testing=300)), nms_thresh=rpn_nms)
        self.roi_pooler = RoIPooler(roi_output_size, 1.0 / self.stride, roi_pool)
        features = head_channels * (2 if self.context else 1)
        self.cls_score = nn.Linear(features, self.num_classes + 1)
        self.bbox_pred = nn.Linear(features, (self.num_classes + 1) * 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)
        # used for its training-RoI matching, balanced sampling and box coder only
        self.roi_heads = RoIHeads(self.roi_pooler, nn.Identity(), nn.Identity(), roi_fg_iou, roi_bg_iou,
                                  roi_batch_size, roi_positive_fraction, tuple(bbox_reg_weights),
                                  score_thresh=0.0, nms_thresh=0.3, detections_per_img=100)

    # -- weights -----------------------------------------------------------------------------------
    def init_weights(self) -> None:
        """``init_cfg=dict(type='Classifier', checkpoint=...)``: the trunk and conv5 of a classifier."""
        if not init_from_classifier_cfg(self, self.init_from_classifier):
            super().init_weights()

    def init_from_classifier(self, state_dict) -> None:
        """Load a ``ResNetClassifier`` state dict's ResNet (BN statistics into the frozen norms)."""
        self.backbone.load_state_dict(classifier_backbone_state(state_dict), strict=True)

    def unused_parameters(self) -> list[str]:
        """Trainable parameters a training step leaves without gradient: none. conv5 (``layer4``),
        which the trunk's ``forward`` skips, is the per-region network, and the losses keep every
        head in the graph, also for a batch without positives; DDP then skips its unused-parameter search."""
        return []

    # -- the network, piece by piece (test-time modes call these directly) ------------------------
    def features(self, batch: Tensor) -> Tensor:
        """conv4 feature map, stride 16."""
        return self.backbone(batch)[0]

    def proposals(self, batch: Tensor, sizes: list[tuple[int, int]], feat: Tensor, targets=None):
        """RPN proposals (continuous boxes, input frame) per image, and the RPN losses when training.

        Always in float32: under autocast (``precision.py``) torchvision's RPN would make its anchors
        and decoded boxes half precision (steps of 2 px at 500 px in bf16); its head is small."""
        with torch.autocast(feat.device.type, enabled=False):
            return self.rpn(ImageList(batch, sizes), OrderedDict([("0", feat.float())]), targets)

    def pool(self, feat: Tensor, rois: list[Tensor]) -> Tensor:
        return self.roi_pooler(feat, rois)

    def region_features(self, pooled: Tensor) -> Tensor:
        """conv5 + global average pooling: the per-region network."""
        return self.backbone.layer4(pooled).mean(dim=(2, 3))

    def context_features(self, feat: Tensor, sizes: list[tuple[int, int]]) -> Tensor:
        """One vector per image: its whole-image box pooled and passed through conv5 (appendix B)."""
        whole = [feat.new_tensor([[0.0, 0.0, float(w), float(h)]], dtype=torch.float32) for h, w in sizes]
        return self.region_features(self.pool(feat, whole))

    def predict_regions(self, region_feat: Tensor, context_feat: Tensor | None = None,
                        image_of_roi: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(R, C+1)`` logits and ``(R, (C+1)*4)`` box deltas from per-region (and context) features."""
        if self.context:
            if context_feat is None or image_of_roi is None:
                raise ValueError("a context model needs the context feature of each RoI's image")
            region_feat = torch.cat([region_feat, context_feat[image_of_roi]], dim=1)
        # float32 under autocast (precision.py): softmax and box decoding in float32; else a no-op
        return self.cls_score(region_feat).float(), self.bbox_pred(region_feat).float()

    def decode(self, deltas: Tensor, rois: list[Tensor], sizes: list[tuple[int, int]]) -> Tensor:
        """``(R, C+1, 4)`` boxes from deltas, clipped to each RoI's image."""
        boxes = self.roi_heads.box_coder.decode(deltas, rois).reshape(deltas.shape[0], deltas.shape[1] // 4, 4)
        out, start = [], 0
        for r, (h, w) in zip(rois, sizes):
            b = boxes[start:start + r.shape[0]]
            out.append(torch.stack([b[..., 0].clamp(0, w), b[..., 1].clamp(0, h),
                                    b[..., 2].clamp(0, w), b[..., 3].clamp(0, h)], dim=-1))
            start += r.shape[0]
        return torch.cat(out) if out else boxes

    def region_outputs(self, feat: Tensor, rois: list[Tensor], sizes: list[tuple[int, int]],
                       pooled: Tensor | None = None, region_feat: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Logits and deltas of RoIs given per image. ``pooled`` overrides the pooling (maxout before
        conv5), ``region_feat`` the per-region network's output (maxout after conv5)."""
        if region_feat is None:
            region_feat = self.region_features(self.pool(feat, rois) if pooled is None else pooled)
        context = self.context_features(feat, sizes) if self.context else None
        image_of_roi = torch.cat([torch.full((r.shape[0],), i, dtype=torch.long, device=feat.device)
                                  for i, r in enumerate(rois)])
        return self.predict_regions(region_feat, context, image_of_roi)

    # -- training ----------------------------------------------------------------------------------
    def loss(self, images: Sequence[Tensor], samples: Sequence[dict]) -> dict[str, Tensor]:
        batch, sizes = pad_batch(images, self.stride)
        targets = [{"boxes": s["boxes"].to(batch), "labels": s["labels"].to(batch.device),
                    "background_unknown": len(s.get("ignore_labels", ())) > 0} for s in samples]
        feat = self.features(batch)
        proposals, rpn_losses = self.proposals(batch, sizes, feat, targets)
        rois, _, labels, reg_targets = self.roi_heads.select_training_samples(
            [p.detach() for p in proposals], targets)
        logits, deltas = self.region_outputs(feat, rois, sizes)
        labels, reg_targets = torch.cat(labels), torch.cat(reg_targets)
        ignore = self._ignore_mask(samples, rois, labels, logits.shape[1])
        loss_cls, loss_box = fast_rcnn_loss(logits, deltas, labels, reg_targets, ignore)
        return {"loss_rpn_cls": rpn_losses["loss_objectness"], "loss_rpn_box": rpn_losses["loss_rpn_box_reg"],
                "loss_cls": loss_cls, "loss_box": loss_box}

    @staticmethod
    def _ignore_mask(samples, rois, labels: Tensor, num_logits: int) -> Tensor | None:
        """``(R, C+1)`` True where a background RoI's image has that class partially boxed."""
        per_image = [s.get("ignore_labels") for s in samples]
        if not any(t is not None and len(t) for t in per_image):
            return None
        mask = torch.zeros(labels.shape[0], num_logits, dtype=torch.bool, device=labels.device)
        start = 0
        for r, ignore in zip(rois, per_image):
            if ignore is not None and len(ignore):
                mask[start:start + r.shape[0], torch.as_tensor(ignore, dtype=torch.long)] = True
            start += r.shape[0]
        return mask & (labels == 0)[:, None]

    # -- mmengine ----------------------------------------------------------------------------------
    def forward(self, inputs, data_samples=None, mode: str = "tensor"):
        images = list(inputs) if not isinstance(inputs, Tensor) or inputs.dim() == 4 else [inputs]
        if mode == "loss":
            if data_samples is None:
                raise ValueError("mode='loss' needs data_samples with boxes and labels")
            return self.loss(images, data_samples)
        if mode in ("predict", "tensor"):
            return self.raw_outputs(images)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    @torch.no_grad()
    def raw_outputs(self, images: Sequence[Tensor]) -> list[dict]:
        """Per image: RPN proposals (``rois``), softmax ``scores`` (R, C+1), decoded ``boxes`` (R, C+1, 4)."""
        batch, sizes = pad_batch(images, self.stride)
        feat = self.features(batch)
        rois, _ = self.proposals(batch, sizes, feat)
        logits, deltas = self.region_outputs(feat, rois, sizes)
        boxes, scores = self.decode(deltas, rois, sizes), logits.softmax(dim=1)
        out, start = [], 0
        for r in rois:
            n = r.shape[0]
            out.append({"rois": r, "scores": scores[start:start + n], "boxes": boxes[start:start + n]})
            start += n
        return out


def fast_rcnn_loss(logits: Tensor, deltas: Tensor, labels: Tensor, reg_targets: Tensor,
                   ignore: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Softmax cross entropy (classes in ``ignore`` left out of their RoI's softmax) and smooth L1
    on the ground-truth class's box of foreground RoIs, normalised by the number of RoIs
    (torchvision's ``fastrcnn_loss``, plus the ignore mask)."""
    if ignore is not None:
        logits = logits.masked_fill(ignore, float("-inf"))
    loss_cls = F.cross_entropy(logits, labels)
    pos = torch.where(labels > 0)[0]
    box = deltas.view(deltas.shape[0], -1, 4)[pos, labels[pos]]
    loss_box = F.smooth_l1_loss(box, reg_targets[pos], beta=1 / 9, reduction="sum") / max(labels.numel(), 1)
    return loss_cls, loss_box
