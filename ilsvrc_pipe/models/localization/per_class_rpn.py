"""Per-class RPN of the ILSVRC 2015 localization system (He et al. 2015, appendix C).

A ResNet trunk (initialised from a classifier) ends in an optional 3x3 conv and two sibling 1x1
convs: ``cls`` with ``A x C`` outputs, each an independent binary logistic regression for whether
the anchor holds an object of class c, and ``reg`` with ``A x C x 4`` outputs, a box regressor per
class relative to the A anchors. Channel ``a * C + c`` of ``cls`` (and ``(a * C + c) * 4 + k`` of
``reg``) belongs to anchor ``a`` and class ``c``.

Training samples ``num_samples`` anchors per image (8, positives:negatives 1:1 in the paper) and
teaches only the ground-truth class: BCE on that class's logit (positives -> 1, negatives -> 0) and
smooth L1 on that class's regressor for positives. The other classes' channels get no gradient.

Two options share parameters across the classes where a small training set starves the per-class
ones (each of the ``A x C`` regressors sees only its class's positives of its anchor shape):
``class_agnostic_reg`` (one regressor per anchor, as in Faster R-CNN's RPN) and
``shared_objectness`` (a class-agnostic logit per anchor added to every class's logit, so the score
of class c is ``objectness + class term``; the classes still rank their own boxes). The mini
configs turn both on (docs/mini.md, "Sharing across classes"; docs/studies.md: with 16 sampled
anchors per image they took one RPN's dense GT-class error on cluttered s0 from 48.5 % to 26.2 %).

Testing proposes boxes for requested classes (top-5 predictions + the GT class): one trunk pass per
image and scale, the 1x1 heads evaluated only for those classes, per-class decode, clip, NMS and
top-K. :func:`propose_center_crop` and :func:`propose_dense` return inclusive pixel boxes in the
original image's frame.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from ...ops.box_coder import BoxCoder, clip_boxes, clip_inclusive, continuous_to_inclusive, inclusive_to_continuous
from ...ops.geometry import crop_boxes, resize_shorter
from ...ops.nms import nms_top_k
from ...registry import MODELS
from ..backbone.classifier_init import build_backbone, init_from_classifier_cfg, load_classifier_backbone
from ..classification.view_modes import eval_mode
from .anchors import PerClassAnchorGenerator
from .sampler import continuous_iou, ignore_crossing, match_anchors, sample_balanced


class ScoredBoxes(NamedTuple):
    """Boxes ``(K, 4)`` and their scores ``(K,)``, best first."""

    boxes: Tensor
    scores: Tensor


# -- targets as the Runner delivers them ---------------------------------------------------------
def targets_as_list(data_samples) -> list[dict]:
    """Per-image target dicts, from a list of dicts or the dict of lists of ``pseudo_collate``."""
    if isinstance(data_samples, Mapping):
        keys = list(data_samples)
        n = len(data_samples[keys[0]])
        return [{k: data_samples[k][i] for k in keys} for i in range(n)]
    return list(data_samples)


def stack_inputs(inputs: Tensor | Sequence[Tensor]) -> Tensor:
    """``(B, 3, H, W)`` from a batch tensor or a list of equal-size images."""
    return inputs if isinstance(inputs, Tensor) else torch.stack(list(inputs))


# -- proposals -----------------------------------------------------------------------------------
def select_proposals(logits: Tensor, deltas: Tensor, anchors: Tensor, image_size: tuple[int, int],
                     box_coder: BoxCoder, nms_iou: float = 0.7, top_k: int = 200,
                     pre_nms_top_n: int | None = None, min_size: float = 1.0) -> list[ScoredBoxes]:
    """Proposals of K classes of one image from ``(N, K)`` logits and ``(N, K, 4)`` deltas.

    Decode against the ``(N, 4)`` anchors, clip to ``image_size``, drop boxes narrower than
    ``min_size``, keep the ``pre_nms_top_n`` best per class, NMS per class, keep ``top_k``.
    Boxes stay continuous in the network-input frame.
    """
    n, k = logits.shape
    boxes = clip_boxes(box_coder.decode(deltas, anchors[:, None, :]), image_size)
    boxes, scores = boxes.transpose(0, 1), logits.sigmoid().transpose(0, 1)  # (K, N, 4), (K, N)
    if pre_nms_top_n and pre_nms_top_n < n:
        scores, order = scores.topk(pre_nms_top_n, dim=1)
        boxes = boxes.gather(1, order[..., None].expand(-1, -1, 4))
    wide = ((boxes[..., 2] - boxes[..., 0]) >= min_size) & ((boxes[..., 3] - boxes[..., 1]) >= min_size)
    out = []
    for c in range(k):   # NMS per class, stopped at its top_k survivors (ops/nms.py): the same boxes
        b, s = boxes[c][wide[c]], scores[c][wide[c]]
        sel = nms_top_k(b, s, nms_iou, top_k)
        out.append(ScoredBoxes(b[sel], s[sel]))
    return out


def merge_proposals(parts: Sequence[ScoredBoxes], nms_iou: float, top_k: int) -> ScoredBoxes:
    """Union of inclusive-box proposal sets, NMS (+1 IoU, via continuous boxes), best ``top_k``."""
    boxes = torch.cat([p.boxes for p in parts])
    scores = torch.cat([p.scores for p in parts])
    keep = nms_top_k(inclusive_to_continuous(boxes), scores, nms_iou, top_k)
    return ScoredBoxes(boxes[keep], scores[keep])


def to_image_frame(proposals: ScoredBoxes, offset: tuple[float, float],
                   factors: tuple[float, float], image_size: tuple[int, int]) -> ScoredBoxes:
    """Continuous boxes of a network input -> inclusive boxes of the original image.

    The input is the original image resized by ``factors = (sx, sy)`` and cropped at
    ``offset = (x0, y0)`` of the resized image; ``image_size = (H, W)`` of the original.
    """
    (x0, y0), (sx, sy) = offset, factors
    b = proposals.boxes
    cont = torch.stack([(b[:, 0] + x0) / sx, (b[:, 1] + y0) / sy,
                        (b[:, 2] + x0) / sx, (b[:, 3] + y0) / sy], dim=-1)
    return ScoredBoxes(clip_inclusive(continuous_to_inclusive(cont), image_size), proposals.scores)


@MODELS.register_module()
class PerClassRPN(BaseModel):
    """Per-class RPN on a ResNet trunk; an mmengine model for the Runner.

    ``forward(inputs, data_samples, mode)``: "tensor" gives ``(logits (B, N, C), deltas
    (B, N, C, 4))`` over the ``N = h * w * A`` anchors; "loss" ``{"loss_cls", "loss_reg"}``;
    "predict" the GT class's proposals per image (inclusive boxes of the input). ``data_samples``
    hold per image ``boxes`` (inclusive, input frame), ``label`` (sorted class index) and optionally
    ``ignore_boxes`` (objects a crop cut too much of: anchors on them are not sampled as negatives).

    Args:
        backbone: a ResNet or its config; the last returned stage feeds the head.
        num_classes: C.
        anchor_scales, anchor_ratios: anchor sides (pixels of the network input) and h/w ratios.
        anchor_shapes: explicit anchor ``(width, height)`` pairs instead of the scales x ratios grid
            (the ``rpn`` stage fits them to the training boxes when the config asks for it).
        head_channels: channels of the 3x3 conv before the 1x1s (ReLU after); 0/None: no conv.
        num_samples, positive_fraction: the anchor sample per image (8, 0.5 in the paper).
        near_negative_fraction: of the sampled negatives, the fraction drawn from those overlapping
            an object (see :func:`~.sampler.sample_balanced`); 0 samples them uniformly.
        class_agnostic_reg: one box regressor per anchor for all classes (``reg`` has ``A x 4``
            outputs) instead of one per anchor and class.
        shared_objectness: add a class-agnostic 1x1 ``objectness`` logit (``A`` outputs) to every
            class's logit; it learns from every image's GT class.
        pos_iou, neg_iou, match_best: anchor labelling (see :mod:`sampler`).
        allowed_border: ignore training anchors reaching further past the input's border (Faster
            R-CNN uses 0); None keeps them all, since objects cut by a crop touch its border.
        smooth_l1_beta, reg_loss_weight: of the regression loss, normalised like the BCE by the
            number of sampled anchors in the batch.
        nms_iou, top_k, pre_nms_top_n, min_size: proposal selection at test time.
        init_cfg: ``dict(type='Classifier', checkpoint=PATH)`` loads the trunk of a ResNetClassifier
            checkpoint in :meth:`init_weights` (the Runner calls it after construction; no file is
            read in ``__init__``).
    """

    def __init__(self, backbone: dict | nn.Module, num_classes: int,
                 anchor_scales: Sequence[float] = (64, 128, 256),
                 anchor_ratios: Sequence[float] = (0.5, 1.0, 2.0), anchor_offset: float = 0.5,
                 anchor_shapes: Sequence[Sequence[float]] | None = None,
                 head_channels: int | None = 512, num_samples: int = 8,
                 positive_fraction: float = 0.5, near_negative_fraction: float = 0.0,
                 class_agnostic_reg: bool = False,
                 shared_objectness: bool = False,
                 pos_iou: float = 0.7, neg_iou: float = 0.3,
                 match_best: bool = True, allowed_border: float | None = None,
                 smooth_l1_beta: float = 1.0 / 9,
                 reg_loss_weight: float = 1.0,
                 box_coder_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
                 nms_iou: float = 0.7, top_k: int = 200, pre_nms_top_n: int | None = None,
                 min_size: float = 1.0,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = build_backbone(backbone)
        stage = self.backbone.out_indices[-1]
        channels, stride = self.backbone.out_channels[stage], self.backbone.strides[stage]
        self.num_classes = int(num_classes)
        self.anchor_generator = PerClassAnchorGenerator(anchor_scales, anchor_ratios, stride, anchor_offset,
                                                shapes=anchor_shapes)
        self.num_anchors = self.anchor_generator.num_anchors
        if head_channels:
            self.conv = nn.Conv2d(channels, head_channels, 3, padding=1)
            channels = head_channels
        else:
            self.conv = None
        self.cls = nn.Conv2d(channels, self.num_anchors * self.num_classes, 1)
        self.class_agnostic_reg = bool(class_agnostic_reg)
        reg_classes = 1 if self.class_agnostic_reg else self.num_classes
        self.reg = nn.Conv2d(channels, self.num_anchors * reg_classes * 4, 1)
        self.objectness = nn.Conv2d(channels, self.num_anchors, 1) if shared_objectness else None
        for layer in (self.conv, self.cls, self.reg, self.objectness):
            if layer is not None:
                nn.init.normal_(layer.weight, std=0.01)
                nn.init.zeros_(layer.bias)
        self.box_coder = BoxCoder(box_coder_weights)
        self.num_samples, self.positive_fraction = int(num_samples), float(positive_fraction)
        self.near_negative_fraction = float(near_negative_fraction)
        self.pos_iou, self.neg_iou, self.match_best = float(pos_iou), float(neg_iou), match_best
        self.allowed_border = allowed_border
        self.smooth_l1_beta, self.reg_loss_weight = float(smooth_l1_beta), float(reg_loss_weight)
        self.nms_iou, self.top_k = float(nms_iou), int(top_k)
        self.pre_nms_top_n, self.min_size = pre_nms_top_n, float(min_size)

    def init_weights(self) -> None:
        """``init_cfg=dict(type='Classifier', checkpoint=...)``: the trunk of a trained classifier."""
        if not init_from_classifier_cfg(self, lambda state: self.init_from_classifier(state)):
            super().init_weights()

    @property
    def stride(self) -> int:
        return self.anchor_generator.stride

    def unused_parameters(self) -> list[str]:
        """Trainable parameters a training step leaves without gradient: the trunk's stages after
        ``out_indices`` (conv5 of a conv4 RPN); DDP searches for unused ones only when there are some.
        The heads always get a gradient, zero for the classes not sampled (:meth:`loss`)."""
        return [f"backbone.{n}" for n in self.backbone.unrun_parameters()]

    def init_from_classifier(self, state_dict: Mapping[str, Tensor]) -> None:
        """Load the trunk of a trained :class:`ResNetClassifier` (its state dict)."""
        load_classifier_backbone(self.backbone, state_dict)

    # -- network ---------------------------------------------------------------------------------
    def features(self, images: Tensor) -> Tensor:
        """Head input ``(B, D, h, w)``: the trunk's last stage, then the 3x3 conv + ReLU."""
        feat = self.backbone(images)[-1]
        return F.relu(self.conv(feat)) if self.conv is not None else feat

    def head(self, feat: Tensor, classes: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, N, K)`` logits and ``(B, N, K, 4)`` deltas, anchors ordered ``(y, x, a)``.

        With ``classes`` (K indices) only those classes' 1x1 filters run, so proposing for the
        top-5 of C = 1000 costs 5 classes, not 1000.
        """
        a, c = self.num_anchors, self.num_classes
        cw, cb, rw, rb = self.cls.weight, self.cls.bias, self.reg.weight, self.reg.bias
        if classes is not None:
            d = cw.shape[1]
            cw = cw.reshape(a, c, d)[:, classes].reshape(-1, d, 1, 1)
            cb = cb.reshape(a, c)[:, classes].reshape(-1)
            if not self.class_agnostic_reg:
                rw = rw.reshape(a, c, 4, d)[:, classes].reshape(-1, d, 1, 1)
                rb = rb.reshape(a, c, 4)[:, classes].reshape(-1)
        logits, deltas = F.conv2d(feat, cw, cb), F.conv2d(feat, rw, rb)
        b, _, h, w = logits.shape
        k = logits.shape[1] // a
        logits = logits.reshape(b, a, k, h, w).permute(0, 3, 4, 1, 2).reshape(b, h * w * a, k)
        if self.objectness is not None:   # a class-agnostic term every class's logit shares
            logits = logits + self.objectness(feat).permute(0, 2, 3, 1).reshape(b, h * w * a, 1)
        deltas = deltas.reshape(b, a, -1, 4, h, w).permute(0, 4, 5, 1, 2, 3)
        if self.class_agnostic_reg:   # one regressor per anchor, shared by the classes
            deltas = deltas.expand(-1, -1, -1, -1, k, -1)
        # float32 under autocast (precision.py): scores, decoding and NMS in float32; else a no-op
        return logits.float(), deltas.reshape(b, h * w * a, k, 4).float()

    def anchors(self, feat: Tensor) -> Tensor:
        """Continuous ``(h * w * A, 4)`` anchors of a feature map, in the input frame."""
        # never below float32 (bf16/fp16 features under autocast would round anchors by pixels)
        return self.anchor_generator(tuple(feat.shape[-2:])).to(torch.promote_types(feat.dtype, torch.float32))

    # -- Runner interface ------------------------------------------------------------------------
    def forward(self, inputs: Tensor | Sequence[Tensor], data_samples=None, mode: str = "tensor"):
        images = stack_inputs(inputs)
        if mode == "tensor":
            return self.head(self.features(images))
        if mode not in ("loss", "predict"):
            raise ValueError(f"mode must be 'tensor', 'predict' or 'loss', got {mode!r}")
        if data_samples is None:
            raise ValueError(f"mode={mode!r} needs data_samples with each image's label")
        targets = targets_as_list(data_samples)
        if mode == "loss":
            return self.loss(images, targets)
        props = self.propose(images, [[int(t["label"])] for t in targets])
        size = (images.shape[-2], images.shape[-1])
        return [to_image_frame(p[int(t["label"])], (0, 0), (1.0, 1.0), size)
                for p, t in zip(props, targets)]

    def loss(self, images: Tensor, targets: Sequence[Mapping]) -> dict[str, Tensor]:
        """BCE and smooth L1 of the sampled anchors, on each image's GT class only."""
        feat = self.features(images)
        logits, deltas = self.head(feat)
        anchors = self.anchors(feat)
        size = (images.shape[-2], images.shape[-1])
        cls_terms, reg_terms, sampled = [], [], 0
        for i, t in enumerate(targets):
            gt = inclusive_to_continuous(torch.as_tensor(t["boxes"]).to(anchors).reshape(-1, 4))
            ignore = t.get("ignore_boxes")
            if ignore is not None:
                ignore = inclusive_to_continuous(torch.as_tensor(ignore).to(anchors).reshape(-1, 4))
            labels, matched = match_anchors(anchors, gt, self.pos_iou, self.neg_iou,
                                            self.match_best, ignore)
            if self.allowed_border is not None:
                labels = ignore_crossing(labels, anchors, size, self.allowed_border)
            near = None
            if self.near_negative_fraction > 0 and gt.numel():
                near = continuous_iou(anchors, gt).max(dim=1).values > 0
            pos, neg = sample_balanced(labels, self.num_samples, self.positive_fraction,
                                       near=near, near_fraction=self.near_negative_fraction)
            c = int(t["label"])
            idx = torch.cat([pos, neg])
            target = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]).to(logits.dtype)
            cls_terms.append(F.binary_cross_entropy_with_logits(logits[i, idx, c], target,
                                                                reduction="sum"))
            if pos.numel():
                reg_target = self.box_coder.encode(anchors[pos], gt[matched[pos]])
                reg_terms.append(F.smooth_l1_loss(deltas[i, pos, c], reg_target,
                                                  beta=self.smooth_l1_beta, reduction="sum"))
            sampled += idx.numel()
        denom = max(sampled, 1)
        # "* 0" terms keep every head parameter in the graph (DDP), with zero gradient
        loss_reg = sum(reg_terms) if reg_terms else deltas.sum() * 0
        return {"loss_cls": (sum(cls_terms) + logits.sum() * 0) / denom,
                "loss_reg": self.reg_loss_weight * loss_reg / denom}

    @torch.no_grad()
    def propose(self, images: Tensor, classes: Sequence[Sequence[int]]
                ) -> list[dict[int, ScoredBoxes]]:
        """Per image, ``{class: proposals}`` for its requested classes; continuous boxes of the
        input frame. One trunk pass for the batch, the 1x1 heads per image for its classes."""
        if len(classes) != images.shape[0]:
            raise ValueError(f"{len(classes)} class lists for {images.shape[0]} images")
        feat = self.features(images)
        anchors = self.anchors(feat)
        size = (images.shape[-2], images.shape[-1])
        out = []
        for i, requested in enumerate(classes):
            wanted = list(dict.fromkeys(int(c) for c in requested))
            if not wanted:
                out.append({})
                continue
            idx = torch.tensor(wanted, device=feat.device)
            logits, deltas = self.head(feat[i: i + 1], idx)
            sel = select_proposals(logits[0], deltas[0], anchors, size, self.box_coder,
                                   self.nms_iou, self.top_k, self.pre_nms_top_n, self.min_size)
            out.append(dict(zip(wanted, sel)))
        return out


# -- test modes ----------------------------------------------------------------------------------
def propose_center_crop(model: PerClassRPN, images: Sequence[Tensor],
                        classes: Sequence[Sequence[int]], scale: int = 256,
                        crop: int | None = None) -> list[dict[int, ScoredBoxes]]:
    """Shorter side resized to ``scale``, the centre ``crop`` (default ``scale``) fed as a batch;
    proposals come back as inclusive boxes of each original image."""
    crop = crop or scale
    if crop > scale:
        raise ValueError(f"crop {crop} larger than the resized shorter side {scale}")
    batch, frames = [], []
    for im in images:
        height, width = im.shape[-2:]
        resized = resize_shorter(im, scale)
        h, w = resized.shape[-2:]
        y0, x0 = crop_boxes(h, w, crop)[4]
        batch.append(resized[:, y0: y0 + crop, x0: x0 + crop])
        frames.append(((x0, y0), (w / width, h / height), (height, width)))
    with eval_mode(model):
        props = model.propose(torch.stack(batch), classes)
    return [{c: to_image_frame(p, *frame) for c, p in per_image.items()}
            for per_image, frame in zip(props, frames)]


def propose_dense(model: PerClassRPN, image: Tensor, classes: Sequence[int],
                  scales: Sequence[int] = (224, 256, 384, 480, 640)) -> dict[int, ScoredBoxes]:
    """The whole image at each scale (shorter side), fully convolutionally; each scale's top-K
    per class are mapped to the original frame, merged, NMSed and cut to ``model.top_k``."""
    height, width = image.shape[-2:]
    parts: dict[int, list[ScoredBoxes]] = {int(c): [] for c in classes}
    with eval_mode(model):
        for scale in scales:
            resized = resize_shorter(image, scale)
            h, w = resized.shape[-2:]
            props = model.propose(resized.unsqueeze(0), [list(parts)])[0]
            for c, p in props.items():
                parts[c].append(to_image_frame(p, (0, 0), (w / width, h / height), (height, width)))
    return {c: merge_proposals(p, model.nms_iou, model.top_k) for c, p in parts.items()}
