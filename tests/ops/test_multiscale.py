"""Two-scale selection and maxout pooling (``ilsvrc_pipe/ops/multiscale.py``), hand-computed.

Pyramid factors (1/3, 2/3, 1, 4/3, 5/3), target 224 (area 50176). For a square RoI of side ``a`` the
scaled areas are ``a**2 * f**2``:
  a = 224: 22300, 50176 (exact hit at f = 1), 89202, ... -> best 2, lower neighbour closer -> (2, 1)
  a = 600: 40000, 160000, ...                             -> best 0 (first scale)       -> (0, 1)
  a = 100: ..., 17778, 27778                              -> best 4 (last scale)        -> (4, 3)
  a = 180: 3600, 14400, 32400, 57600, 90000               -> best 3 (57600 > 50176)     -> (3, 2)
  a = 300: 10000, 40000, 90000, ...                       -> best 1 (40000 < 50176)     -> (1, 2)
"""
from __future__ import annotations

import pytest
import torch
from torchvision.ops import roi_pool

import ilsvrc_pipe.ops.multiscale as ms
from ilsvrc_pipe.ops.multiscale import (
    maxout_merge,
    pool_at_two_scales,
    scaled_roi_sizes,
    select_two_scales,
)

PYRAMID = (1 / 3, 2 / 3, 1.0, 4 / 3, 5 / 3)
ROIS = torch.tensor([
    [0.0, 0.0, 224.0, 224.0],
    [0.0, 0.0, 600.0, 600.0],
    [0.0, 0.0, 100.0, 100.0],
    [50.0, 60.0, 230.0, 240.0],   # 180 x 180 away from the origin
    [0.0, 0.0, 300.0, 300.0],
    [10.0, 0.0, 122.0, 448.0],    # 112 x 448: sqrt area 224
])
EXPECTED_PAIRS = [[2, 1], [0, 1], [4, 3], [3, 2], [1, 2], [2, 1]]


def _pool_two_scales(*args, **kwargs):
    """The before-conv5 placement: the two poolings of each RoI merged by maxout."""
    return maxout_merge(*pool_at_two_scales(*args, **kwargs))


def test_scaled_roi_sizes_is_sqrt_area_times_factor():
    rois = torch.tensor([[0.0, 0.0, 112.0, 448.0], [10.0, 10.0, 10.0, 20.0]])
    sizes = scaled_roi_sizes(rois, (0.5, 1.0, 2.0))
    torch.testing.assert_close(sizes, torch.tensor([[112.0, 224.0, 448.0], [0.0, 0.0, 0.0]]))
    assert sizes.dtype == torch.float32


def test_select_two_scales_on_the_paper_pyramid_including_both_edges():
    pairs = select_two_scales(ROIS, PYRAMID, 224)
    assert pairs.dtype == torch.long
    assert pairs.tolist() == EXPECTED_PAIRS


def test_select_two_scales_accepts_a_tensor_of_factors():
    assert select_two_scales(ROIS, torch.tensor(PYRAMID), 224).tolist() == EXPECTED_PAIRS


def test_single_scale_gives_that_scale_twice():
    assert select_two_scales(ROIS[:3], (1.0,), 224).tolist() == [[0, 0], [0, 0], [0, 0]]


def test_two_scales_pick_best_then_the_other():
    rois = torch.tensor([[0.0, 0.0, 600.0, 600.0], [0.0, 0.0, 100.0, 100.0]])
    # areas at (0.5, 1): 90000 / 360000 and 2500 / 10000 against 50176
    assert select_two_scales(rois, (0.5, 1.0), 224).tolist() == [[0, 1], [1, 0]]


def test_ties_go_to_the_smaller_index():
    # 8 x 5 RoI, factors (0.5, 1, 2), target 10: areas 10, 40, 160 vs 100 -> distances 90, 60, 60
    # best = 1 (tie with 2), still below the target -> neighbour 2
    assert select_two_scales(torch.tensor([[0.0, 0.0, 8.0, 5.0]]), (0.5, 1.0, 2.0), 10).tolist() == [[1, 2]]
    # exact hit with equally distant neighbours (size rule): sizes 5, 10, 15 vs 10 -> lower neighbour
    rois = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    assert select_two_scales(rois, (0.5, 1.0, 1.5), 10, by="size").tolist() == [[1, 0]]


def test_area_and_size_rules_can_disagree():
    # 200 x 200 RoI, factors (1, 1.23): sizes 200 / 246 (distances 24 / 22 -> size picks 1);
    # areas 40000 / 60516 vs 50176 (distances 10176 / 10340 -> area, Fast R-CNN's rule, picks 0)
    rois = torch.tensor([[0.0, 0.0, 200.0, 200.0]])
    assert select_two_scales(rois, (1.0, 1.23), 224).tolist() == [[0, 1]]
    assert select_two_scales(rois, (1.0, 1.23), 224, by="size").tolist() == [[1, 0]]


def test_select_two_scales_rejects_bad_factors():
    with pytest.raises(ValueError, match="increasing"):
        select_two_scales(ROIS, (1.0, 0.5), 224)
    with pytest.raises(ValueError, match="empty"):
        select_two_scales(ROIS, (), 224)


def test_maxout_merge_is_elementwise_max_and_checks_shapes():
    a = torch.tensor([[1.0, 5.0], [-2.0, 0.0]])
    b = torch.tensor([[3.0, 4.0], [-1.0, -7.0]])
    torch.testing.assert_close(maxout_merge(a, b), torch.tensor([[3.0, 5.0], [-1.0, 0.0]]))
    with pytest.raises(ValueError, match="same shape"):
        maxout_merge(a, torch.zeros(2, 3))


def _constant_pyramid():
    """Channel 0 holds (5, 1, 2, 9, 3) at the five scales, channel 1 holds (5, 9, 8, 1, 7);
    each map covers a 600 x 600 image at stride 16."""
    ch0, ch1 = (5.0, 1.0, 2.0, 9.0, 3.0), (5.0, 9.0, 8.0, 1.0, 7.0)
    feats = []
    for f, v0, v1 in zip(PYRAMID, ch0, ch1):
        side = int(600 * f / 16) + 2
        fm = torch.empty(1, 2, side, side)
        fm[:, 0], fm[:, 1] = v0, v1
        feats.append(fm)
    return feats


@pytest.mark.parametrize("pool", ["roi_pool", "roi_align"])
def test_pool_two_scales_on_a_constant_pyramid_takes_the_max_of_the_selected_scales(pool, monkeypatch):
    calls = []
    real = ms.roi_pool if pool == "roi_pool" else ms.roi_align

    def counting(fm, boxes, *args, **kwargs):
        calls.append(boxes[0].shape[0])
        return real(fm, boxes, *args, **kwargs)

    monkeypatch.setattr(ms, pool, counting)
    out = _pool_two_scales(_constant_pyramid(), ROIS, PYRAMID, 1 / 16, 7, 224, pool=pool)
    assert out.shape == (6, 2, 7, 7)
    # pairs (2,1) (0,1) (4,3) (3,2) (1,2) (2,1) -> channel 0: max of (2,1) (5,1) (3,9) (9,2) (1,2) (2,1)
    expected0 = torch.tensor([2.0, 5.0, 9.0, 9.0, 2.0, 2.0])
    # channel 1: max of (8,9) (5,9) (7,1) (1,8) (9,8) (8,9)
    expected1 = torch.tensor([9.0, 9.0, 7.0, 8.0, 9.0, 9.0])
    torch.testing.assert_close(out[:, 0], expected0.view(-1, 1, 1).expand(6, 7, 7))
    torch.testing.assert_close(out[:, 1], expected1.view(-1, 1, 1).expand(6, 7, 7))
    # grouped by scale: one call per scale, for all RoIs using it (scales 1 and 2 serve 4 RoIs each)
    assert calls == [1, 4, 4, 2, 1]


def _ramp_pyramid():
    """Two 16 x 16 maps: value 10 * x at scale 0 (factor 0.5) and x at scale 1 (factor 1)."""
    x = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 1, 16, 16)
    return [10 * x.clone(), x.clone()]


def test_pool_two_scales_scales_the_rois_before_pooling():
    # RoI [0, 0, 8, 8]: areas 16 / 64 vs target 4**2 -> pair (0, 1).
    rois = torch.tensor([[0.0, 0.0, 8.0, 8.0]])
    # roi_align (aligned, adaptive sampling): scale 0 box [0, 0, 4, 4] samples pixel centres x = 0..3
    # -> 10 * 1.5 = 15; scale 1 box [0, 0, 8, 8] -> mean of 0..7 = 3.5; maxout -> 15
    out = _pool_two_scales(_ramp_pyramid(), rois, (0.5, 1.0), 1.0, 1, 4, pool="roi_align")
    torch.testing.assert_close(out, torch.tensor([[[[15.0]]]]))
    # roi_pool rounds to the inclusive grid: scale 0 covers columns 0..4 -> max 40; scale 1 0..8 -> 8
    out = _pool_two_scales(_ramp_pyramid(), rois, (0.5, 1.0), 1.0, (1, 1), 4, pool="roi_pool")
    torch.testing.assert_close(out, torch.tensor([[[[40.0]]]]))


def test_pool_two_scales_checks_inputs_and_handles_no_rois():
    feats = _ramp_pyramid()
    out = _pool_two_scales(feats, torch.zeros(0, 4), (0.5, 1.0), 1.0, (2, 3), 4)
    assert out.shape == (0, 1, 2, 3)
    with pytest.raises(ValueError, match="2 feature maps for 3 scale factors"):
        _pool_two_scales(feats, torch.zeros(1, 4), (0.5, 1.0, 2.0), 1.0, 2, 4)
    with pytest.raises(ValueError, match="one image"):
        _pool_two_scales([torch.zeros(2, 1, 4, 4)], torch.zeros(1, 4), (1.0,), 1.0, 2, 4)
    with pytest.raises(ValueError, match="channels"):
        mixed = [torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 4)]
        _pool_two_scales(mixed, torch.zeros(1, 4), (0.5, 1.0), 1.0, 2, 4)


def test_pool_two_scales_on_a_pyramid_merged_to_one_level_is_plain_pooling():
    fm = torch.randn(1, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    rois = torch.tensor([[0.0, 0.0, 100.0, 80.0], [40.0, 16.0, 200.0, 150.0]])
    out = _pool_two_scales([fm], rois, (0.75,), 1 / 8, 2, 224)
    torch.testing.assert_close(out, roi_pool(fm, [rois * 0.75], 2, 1 / 8))


def test_pool_at_two_scales_gives_each_scale_before_the_merge():
    # the hand-computed RoI of test_pool_two_scales_scales_the_rois_before_pooling, unmerged:
    # roi_align at scale 0 (best) -> 15, at scale 1 (adjacent) -> 3.5
    rois = torch.tensor([[0.0, 0.0, 8.0, 8.0]])
    best, adjacent = pool_at_two_scales(_ramp_pyramid(), rois, (0.5, 1.0), 1.0, 1, 4, pool="roi_align")
    torch.testing.assert_close(best, torch.tensor([[[[15.0]]]]))
    torch.testing.assert_close(adjacent, torch.tensor([[[[3.5]]]]))
    torch.testing.assert_close(maxout_merge(best, adjacent),
                               _pool_two_scales(_ramp_pyramid(), rois, (0.5, 1.0), 1.0, 1, 4, pool="roi_align"))
