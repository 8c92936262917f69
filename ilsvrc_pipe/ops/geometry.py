"""Image geometry shared by data loading and the networks: shorter-side resizing, crops, region warps.

Train and test resize the same way: :func:`shorter_side_size` rounds the longer side to the nearest
integer, and both the training transforms (``data/transforms.py``, ``data/loc_crops.py``) and the
test-time modes (``models/classification/view_modes.py``) call it. Region warps take inclusive boxes and convert
to continuous coordinates at the edge (``ops/box_coder.py``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align

from .box_coder import inclusive_to_continuous


def shorter_side_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) with the shorter side equal to ``size`` and the aspect ratio kept."""
    if height <= width:
        return size, max(1, int(round(width * size / height)))
    return max(1, int(round(height * size / width))), size


def resize_shorter(images: Tensor, size: int) -> Tensor:
    """Bilinear (antialiased) resize of ``(B, 3, H, W)`` or ``(3, H, W)`` so the shorter side is
    ``size``."""
    batched = images.dim() == 4
    x = images if batched else images.unsqueeze(0)
    h, w = shorter_side_size(x.shape[-2], x.shape[-1], size)
    if (h, w) != tuple(x.shape[-2:]):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return x if batched else x.squeeze(0)


def crop_boxes(height: int, width: int, crop: int) -> list[tuple[int, int]]:
    """Top-left (y, x) of the 4 corner crops and the centre crop, in that order
    (top-left, top-right, bottom-left, bottom-right, centre)."""
    if crop > height or crop > width:
        raise ValueError(f"crop {crop} larger than image {height}x{width}")
    cy, cx = int(round((height - crop) / 2)), int(round((width - crop) / 2))
    return [(0, 0), (0, width - crop), (height - crop, 0), (height - crop, width - crop), (cy, cx)]


def center_crop(images: Tensor, crop: int) -> Tensor:
    """Centre ``crop`` x ``crop`` region of ``(B, 3, H, W)``."""
    y, x = crop_boxes(images.shape[-2], images.shape[-1], crop)[4]
    return images[..., y: y + crop, x: x + crop]


def ten_crop(images: Tensor, crop: int) -> Tensor:
    """``(B, 3, H, W)`` -> ``(B, 10, 3, crop, crop)``: 4 corners + centre, then their flips."""
    crops = [images[..., y: y + crop, x: x + crop]
             for y, x in crop_boxes(images.shape[-2], images.shape[-1], crop)]
    crops += [c.flip(-1) for c in crops]
    return torch.stack(crops, dim=1)


def context_boxes(boxes: Tensor, size: int, context_pad: float) -> Tensor:
    """Grow continuous boxes so that, warped to ``size``, the box fills the central
    ``size - 2 * context_pad`` pixels and ``context_pad`` pixels of context surround it (R-CNN)."""
    if context_pad <= 0:
        return boxes
    inner = size - 2 * context_pad
    if inner <= 0:
        raise ValueError(f"context_pad {context_pad} leaves nothing of a {size}-pixel crop")
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    px, py = w * context_pad / inner, h * context_pad / inner
    return torch.stack([boxes[:, 0] - px, boxes[:, 1] - py, boxes[:, 2] + px, boxes[:, 3] + py], 1)


def warp_regions(image: Tensor, boxes: Tensor, size: int, context_pad: float = 0.0,
                 sampling_ratio: int = 1) -> Tensor:
    """``(R, 3, size, size)`` crops of inclusive ``(R, 4)`` boxes of a ``(3, H, W)`` image.

    Context outside the image reads as zeros, the mean colour of a normalised image.
    """
    regions = context_boxes(inclusive_to_continuous(boxes.to(image.dtype)), size, context_pad)
    rois = torch.cat([regions.new_zeros(regions.shape[0], 1), regions], dim=1)
    return roi_align(image.unsqueeze(0), rois, (size, size), spatial_scale=1.0,
                     sampling_ratio=sampling_ratio, aligned=True)
