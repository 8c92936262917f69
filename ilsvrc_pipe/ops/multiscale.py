"""Multi-scale RoI pooling of the detection stage: each RoI pooled at two adjacent pyramid scales.

Why this exists: appendix B of He et al. tests the detector on an image pyramid: "We select two
adjacent scales from the pyramid following [ref]." and "RoI pooling and subsequent layers are
performed on the feature maps of these two scales [ref], which are merged by maxout as in [ref]."
Fast R-CNN's rule picks the one scale whose scaled RoI *area* is closest to the network's training RoI
area (224 x 224); the second scale is the adjacent one towards the target. :func:`pool_at_two_scales`
gives the two pooled features of each RoI, which the detector passes through conv5 before the maxout
(``models/detection/inference.py``, the paper's placement), or which :func:`maxout_merge` merges by
element-wise max right after pooling instead, before conv5 (the placement kept as an option).
torchvision pools one map at a time and has no such selection, so it lives here as pure tensor
operations.

RoIs are continuous ``[x1, y1, x2, y2]`` boxes in *original-image* coordinates (pixel ``i`` spans
``[i, i + 1)``, see ``ilsvrc_pipe/ops/box_coder.py``), so a RoI's box at scale ``s`` is simply
``roi * scale_factors[s]`` with ``scale_factors[s] = resized size / original size``. Scale factors are
given in increasing order.
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import Tensor
from torchvision.ops import roi_align, roi_pool

__all__ = ["scaled_roi_sizes", "select_two_scales", "maxout_merge", "pool_at_two_scales"]

Factors = Union[Sequence[float], Tensor]


def _factors(scale_factors: Factors, device: torch.device) -> Tensor:
    f = torch.as_tensor(scale_factors, dtype=torch.float64, device=device).reshape(-1)
    if f.numel() == 0:
        raise ValueError("scale_factors is empty: the pyramid needs at least one scale")
    if not bool((f > 0).all()):
        raise ValueError(f"scale factors must be positive, got {f.tolist()}")
    if f.numel() > 1 and not bool((f[1:] > f[:-1]).all()):
        raise ValueError(f"scale factors must be strictly increasing, got {f.tolist()}")
    return f


def _check_rois(rois: Tensor) -> None:
    if rois.dim() != 2 or rois.shape[1] != 4:
        raise ValueError(f"rois must have shape (R, 4), got {tuple(rois.shape)}")


def _roi_areas(rois: Tensor) -> Tensor:
    """Continuous areas ``w * h`` in float64 (negative widths/heights count as 0)."""
    r = rois.to(torch.float64)
    return (r[:, 2] - r[:, 0]).clamp_min(0) * (r[:, 3] - r[:, 1]).clamp_min(0)


def scaled_roi_sizes(rois: Tensor, scale_factors: Factors) -> Tensor:
    """``(R, S)``: each RoI's size ``sqrt(w * h) * scale_factors[s]`` at each pyramid scale.

    ``rois (R, 4)`` are continuous boxes in original-image coordinates; returned in ``rois``' dtype
    (float32 for non-floating input).
    """
    _check_rois(rois)
    f = _factors(scale_factors, rois.device)
    sizes = _roi_areas(rois).sqrt().view(-1, 1) * f.view(1, -1)
    return sizes.to(rois.dtype if rois.is_floating_point() else torch.float32)


def select_two_scales(
    rois: Tensor, scale_factors: Factors, target_size: float, *, by: str = "area"
) -> Tensor:
    """``(R, 2)`` long: per RoI, the best scale (column 0) and its adjacent neighbour (column 1).

    Best scale: with the default ``by="area"`` (Fast R-CNN's rule), the scale whose scaled RoI area
    ``w * h * f**2`` is closest to ``target_size ** 2``; with ``by="size"``, the one whose scaled size
    ``sqrt(w * h) * f`` is closest to ``target_size``. The two criteria can disagree when the target lies
    between two scales (area distances weigh the larger scale more).

    Neighbour: the adjacent scale on the side of the target -- ``best + 1`` when the best scale's RoI is
    still smaller than the target, ``best - 1`` when it is larger -- so the pair brackets the target
    whenever it can. When the best scale hits the target exactly, the neighbour closer to the target.
    At the edges (best = first or last scale) the only neighbour is used; with a single scale both
    columns are 0.

    Ties (equal distances, computed in float64 from the given factors) go to the smaller index, both for
    the best scale and for the neighbour in the exact-hit case.
    """
    _check_rois(rois)
    if by not in ("area", "size"):
        raise ValueError(f"by must be 'area' or 'size', got {by!r}")
    f = _factors(scale_factors, rois.device)
    n_scales = f.numel()
    if by == "area":
        values = _roi_areas(rois).view(-1, 1) * (f * f).view(1, -1)
        target = float(target_size) ** 2
    else:
        values = _roi_areas(rois).sqrt().view(-1, 1) * f.view(1, -1)
        target = float(target_size)
    if n_scales == 1:
        return torch.zeros(rois.shape[0], 2, dtype=torch.long, device=rois.device)

    dist = (values - target).abs()                                       # (R, S)
    best = torch.argmin(dist, dim=1)                                     # first minimum = smaller index
    lower = (best - 1).clamp_min(0)
    upper = (best + 1).clamp_max(n_scales - 1)
    at_best = values.gather(1, best.view(-1, 1)).squeeze(1)
    # Exact hit: whichever neighbour is closer, the lower one on ties.
    upper_closer = dist.gather(1, upper.view(-1, 1)).squeeze(1) < dist.gather(1, lower.view(-1, 1)).squeeze(1)
    go_up = torch.where(at_best == target, upper_closer, at_best < target)
    neighbour = torch.where(go_up, upper, lower)
    neighbour = torch.where(best == 0, torch.ones_like(best), neighbour)
    neighbour = torch.where(best == n_scales - 1, torch.full_like(best, n_scales - 2), neighbour)
    return torch.stack([best, neighbour], dim=1)


def maxout_merge(feat_a: Tensor, feat_b: Tensor) -> Tensor:
    """Element-wise max of two RoI-pooled feature tensors of the same shape (the paper's maxout)."""
    if feat_a.shape != feat_b.shape:
        raise ValueError(
            f"maxout_merge needs two RoI-pooled features of the same shape, got {tuple(feat_a.shape)} "
            f"and {tuple(feat_b.shape)}")
    return torch.maximum(feat_a, feat_b)


def pool_at_two_scales(
    features: Sequence[Tensor],
    rois: Tensor,
    scale_factors: Factors,
    spatial_scale: float,
    output_size,
    target_size: float,
    pool: str = "roi_pool",
) -> tuple[Tensor, Tensor]:
    """Two ``(R, C, h, w)``: each RoI pooled at its best scale and at the adjacent one.

    ``features`` holds one feature map per pyramid scale, each ``(1, C, H_s, W_s)`` of ONE image, in the
    order of ``scale_factors``; ``rois (R, 4)`` are continuous boxes in original-image coordinates. The
    scales come from :func:`select_two_scales` (area rule). At scale ``s`` the RoI is ``roi * f_s`` and
    is pooled with ``torchvision.ops.roi_pool`` (``pool="roi_pool"``; it rounds box corners to the
    feature grid) or ``roi_align(aligned=True)`` (``pool="roi_align"``, adaptive sampling), both with
    ``spatial_scale`` (feature stride ``1 / spatial_scale``) and ``output_size`` (int or ``(h, w)``).
    RoIs are grouped by scale: each map is pooled at most once per call, for all RoIs using it.
    """
    _check_rois(rois)
    if pool not in ("roi_pool", "roi_align"):
        raise ValueError(f"pool must be 'roi_pool' or 'roi_align', got {pool!r}")
    f = _factors(scale_factors, rois.device)
    if len(features) != f.numel():
        raise ValueError(f"{len(features)} feature maps for {f.numel()} scale factors")
    for s, fm in enumerate(features):
        if fm.dim() != 4 or fm.shape[0] != 1:
            raise ValueError(
                f"features[{s}] must have shape (1, C, H, W) of one image, got {tuple(fm.shape)}")
        if fm.shape[1] != features[0].shape[1]:
            raise ValueError(
                f"features[{s}] has {fm.shape[1]} channels, features[0] has {features[0].shape[1]}")
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    ref = features[0]
    out_a = ref.new_zeros(rois.shape[0], ref.shape[1], oh, ow)
    out_b = torch.zeros_like(out_a)
    if rois.shape[0] == 0:
        return out_a, out_b

    pick = select_two_scales(rois, f, target_size).to(rois.device)    # (R, 2)
    for s, fm in enumerate(features):
        use = (pick == s).any(dim=1)
        if not bool(use.any()):
            continue
        boxes = (rois[use].to(torch.float64) * f[s]).to(device=fm.device, dtype=fm.dtype)
        if pool == "roi_pool":
            pooled = roi_pool(fm, [boxes], (oh, ow), spatial_scale)
        else:
            pooled = roi_align(fm, [boxes], (oh, ow), spatial_scale, sampling_ratio=-1, aligned=True)
        idx = torch.nonzero(use).squeeze(1).to(fm.device)
        sel = pick[use].to(fm.device)
        a, b = sel[:, 0] == s, sel[:, 1] == s
        out_a[idx[a]] = pooled[a].to(out_a.dtype)
        out_b[idx[b]] = pooled[b].to(out_b.dtype)
    return out_a, out_b

