"""Faster R-CNN box parameterisation and the inclusive <-> continuous box conversions.

Outside a network boxes are inclusive pixel boxes ``[x1, y1, x2, y2]`` (width ``x2 - x1 + 1``).
Inside, anchors, deltas and decoded boxes live in continuous coordinates where pixel ``i`` spans
``[i, i + 1)``: the inclusive box ``[x1, x2]`` is the continuous ``[x1, x2 + 1)``, so resizing by a
factor ``s`` is plain multiplication and widths need no ``+1``. Convert at the network's edge only.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

DEFAULT_DELTA_CLIP = math.log(1000.0 / 16)


def inclusive_to_continuous(boxes: Tensor) -> Tensor:
    """``[x1, y1, x2, y2]`` inclusive pixels -> ``[x1, y1, x2 + 1, y2 + 1]`` continuous."""
    return torch.cat([boxes[..., :2], boxes[..., 2:] + 1], dim=-1)


def continuous_to_inclusive(boxes: Tensor) -> Tensor:
    """Inverse of :func:`inclusive_to_continuous` (no rounding: sub-pixel boxes stay floats)."""
    return torch.cat([boxes[..., :2], boxes[..., 2:] - 1], dim=-1)


def clip_boxes(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Clip continuous boxes to an image of ``size = (height, width)``: ``[0, w] x [0, h]``."""
    h, w = size
    x = boxes[..., 0::2].clamp(0, w)
    y = boxes[..., 1::2].clamp(0, h)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


def clip_inclusive(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Clip inclusive boxes into ``0..w-1 x 0..h-1`` and keep them at least one point wide."""
    h, w = size
    x1 = boxes[..., 0].clamp(0, w - 1)
    y1 = boxes[..., 1].clamp(0, h - 1)
    x2 = torch.maximum(boxes[..., 2].clamp(0, w - 1), x1)
    y2 = torch.maximum(boxes[..., 3].clamp(0, h - 1), y1)
    return torch.stack([x1, y1, x2, y2], dim=-1)


def box_widths_heights(boxes: Tensor) -> tuple[Tensor, Tensor]:
    """Continuous widths and heights."""
    return boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]


class BoxCoder:
    """``(dx, dy, dw, dh)`` of Girshick et al.: centre offsets in units of the reference size,
    log size ratios, each multiplied by ``weights`` (Fast R-CNN's (10, 10, 5, 5) for a second
    stage, ones for an RPN). ``dw``/``dh`` are clamped at decode time so ``exp`` cannot blow up.

    All boxes are continuous; shapes broadcast on the leading axes (e.g. ``(N, K, 4)`` deltas of K
    classes against ``(N, 1, 4)`` anchors).
    """

    def __init__(self, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
                 delta_clip: float = DEFAULT_DELTA_CLIP):
        if len(weights) != 4:
            raise ValueError(f"need 4 weights (wx, wy, ww, wh), got {weights}")
        self.weights = tuple(float(w) for w in weights)
        self.delta_clip = float(delta_clip)

    def encode(self, reference: Tensor, targets: Tensor) -> Tensor:
        """Deltas that move ``reference`` boxes onto ``targets``."""
        wx, wy, ww, wh = self.weights
        rw, rh = box_widths_heights(reference)
        tw, th = box_widths_heights(targets)
        rcx, rcy = reference[..., 0] + 0.5 * rw, reference[..., 1] + 0.5 * rh
        tcx, tcy = targets[..., 0] + 0.5 * tw, targets[..., 1] + 0.5 * th
        return torch.stack([wx * (tcx - rcx) / rw, wy * (tcy - rcy) / rh,
                            ww * torch.log(tw / rw), wh * torch.log(th / rh)], dim=-1)

    def decode(self, deltas: Tensor, reference: Tensor) -> Tensor:
        """Boxes obtained by applying ``deltas`` to ``reference`` boxes."""
        wx, wy, ww, wh = self.weights
        rw, rh = box_widths_heights(reference)
        rcx, rcy = reference[..., 0] + 0.5 * rw, reference[..., 1] + 0.5 * rh
        dx, dy = deltas[..., 0] / wx, deltas[..., 1] / wy
        dw = (deltas[..., 2] / ww).clamp(max=self.delta_clip)
        dh = (deltas[..., 3] / wh).clamp(max=self.delta_clip)
        cx, cy = rcx + dx * rw, rcy + dy * rh
        w, h = rw * torch.exp(dw), rh * torch.exp(dh)
        return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
