"""Translation-invariant anchors of an RPN: ``A = len(scales) * len(ratios)`` boxes per position,
or ``A = len(shapes)`` explicit ``(width, height)`` pairs (e.g. fitted by :mod:`anchor_fit`).

Anchors are continuous image coordinates (pixel ``i`` spans ``[i, i + 1)``). The anchors of
feature cell ``(y, x)`` are centred at ``((x + offset) * stride, (y + offset) * stride)``; with
the default ``offset = 0.5`` that is the centre of the ``stride x stride`` block of input pixels
the cell summarises. The flat order is ``(y, x, a)``, the order of a head output permuted to
``(B, h, w, A, ...)`` and flattened.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn


def shape_anchors(shapes: Sequence[Sequence[float]]) -> Tensor:
    """``(A, 4)`` anchors centred on 0 with the given ``(width, height)`` each."""
    return torch.tensor([[-w / 2, -h / 2, w / 2, h / 2] for w, h in shapes], dtype=torch.float32)


def base_anchors(scales: Sequence[float], ratios: Sequence[float]) -> Tensor:
    """``(A, 4)`` anchors centred on 0, scale-major, area ``scale**2``, ``ratio = height / width``."""
    rows = []
    for s in scales:
        for r in ratios:
            w, h = s / math.sqrt(r), s * math.sqrt(r)
            rows.append([-w / 2, -h / 2, w / 2, h / 2])
    return torch.tensor(rows, dtype=torch.float32)


class PerClassAnchorGenerator(nn.Module):
    """Anchors of every position of an ``(h, w)`` feature map of the given ``stride``: the grid
    ``scales x ratios``, or the explicit ``shapes`` when given."""

    def __init__(self, scales: Sequence[float], ratios: Sequence[float], stride: int,
                 offset: float = 0.5, shapes: Sequence[Sequence[float]] | None = None):
        super().__init__()
        self.stride = int(stride)
        self.offset = float(offset)
        if shapes is not None:
            if not len(shapes) or any(len(s) != 2 or min(s) <= 0 for s in shapes):
                raise ValueError(f"anchor shapes must be positive (width, height) pairs, got {shapes}")
            self.shapes = tuple((float(w), float(h)) for w, h in shapes)
            self.scales, self.ratios = (), ()
            self.register_buffer("cell_anchors", shape_anchors(self.shapes), persistent=False)
            return
        if not scales or not ratios:
            raise ValueError("need at least one anchor scale and one ratio")
        if any(s <= 0 for s in scales) or any(r <= 0 for r in ratios):
            raise ValueError(f"anchor scales and ratios must be positive, got {scales}, {ratios}")
        self.shapes = None
        self.scales = tuple(float(s) for s in scales)
        self.ratios = tuple(float(r) for r in ratios)
        self.register_buffer("cell_anchors", base_anchors(self.scales, self.ratios),
                             persistent=False)

    @property
    def num_anchors(self) -> int:
        """A, the anchors per feature-map position."""
        return self.cell_anchors.shape[0]

    def forward(self, feature_size: tuple[int, int]) -> Tensor:
        """``(h * w * A, 4)`` anchors, ordered ``(y, x, a)``."""
        h, w = int(feature_size[0]), int(feature_size[1])
        device = self.cell_anchors.device
        ys = (torch.arange(h, dtype=torch.float32, device=device) + self.offset) * self.stride
        xs = (torch.arange(w, dtype=torch.float32, device=device) + self.offset) * self.stride
        cy, cx = torch.meshgrid(ys, xs, indexing="ij")
        centres = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
        return (centres + self.cell_anchors.view(1, -1, 4)).reshape(-1, 4)

    def extra_repr(self) -> str:
        if self.shapes is not None:
            return f"shapes={self.shapes}, stride={self.stride}"
        return f"scales={self.scales}, ratios={self.ratios}, stride={self.stride}"
