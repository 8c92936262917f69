"""Anchors fitted to training boxes: the k-means recovers planted shapes, is deterministic, and
covers boxes better than a grid tuned to other sizes; explicit shapes reach the RPN's anchors."""
import numpy as np
import pytest
import torch

from ilsvrc_pipe.models.localization.anchor_fit import (
    floor_box_shapes,
    kmeans_anchor_shapes,
    mean_best_iou,
    resized_box_shapes,
    shape_iou,
)
from ilsvrc_pipe.models.localization.anchors import PerClassAnchorGenerator, base_anchors


def _planted(rng, centres, n=200, jitter=0.05):
    out = [np.asarray(c) * np.exp(rng.normal(0, jitter, (n, 2))) for c in centres]
    return np.concatenate(out)


def test_shape_iou_of_nested_and_equal_shapes():
    iou = shape_iou([[10, 10], [20, 5]], [[10, 10], [5, 20]])
    assert iou[0, 0] == pytest.approx(1.0)
    assert iou[1, 1] == pytest.approx(25 / 175)     # 5x5 overlap of two 100 px boxes


def test_kmeans_recovers_planted_clusters_smallest_first():
    rng = np.random.default_rng(0)
    centres = [[12, 12], [30, 18], [18, 40], [60, 60]]
    wh = _planted(rng, centres)
    got = kmeans_anchor_shapes(wh, 4)
    assert np.allclose(got, centres, rtol=0.08)
    assert np.all(np.diff(got.prod(axis=1)) > 0)
    assert np.array_equal(got, kmeans_anchor_shapes(wh, 4))   # deterministic
    assert mean_best_iou(wh, got) > 0.85


def test_fitted_anchors_cover_small_objects_better_than_a_large_grid():
    rng = np.random.default_rng(1)
    sides = np.exp(rng.uniform(np.log(12), np.log(70), 2000))
    aspect = np.exp(rng.uniform(np.log(0.6), np.log(1.65), 2000))
    wh = np.stack([sides * np.sqrt(aspect), sides / np.sqrt(aspect)], axis=1)
    grid = base_anchors((32, 48, 64, 80), (0.67, 1.0, 1.5))
    grid_wh = (grid[:, 2:] - grid[:, :2]).numpy()
    fitted = kmeans_anchor_shapes(wh, len(grid_wh))
    assert mean_best_iou(wh, fitted) > mean_best_iou(wh, grid_wh) + 0.1
    small = wh.prod(axis=1) < 20 ** 2
    assert mean_best_iou(wh[small], fitted) > 0.6 > mean_best_iou(wh[small], grid_wh)


def test_kmeans_rejects_too_few_boxes():
    with pytest.raises(ValueError, match="cannot give"):
        kmeans_anchor_shapes([[10, 10]], 2)


def test_resized_box_shapes_scale_by_shorter_side_and_clip_to_crop():
    wh = resized_box_shapes([[0, 0, 49, 99]], [100], [50, 200], crop=80)
    assert wh.tolist() == [[25.0, 50.0], [80.0, 80.0]]


def test_anchor_generator_takes_explicit_shapes():
    gen = PerClassAnchorGenerator((), (), stride=16, shapes=[(10, 20), (30, 30)])
    assert gen.num_anchors == 2
    anchors = gen((1, 1))
    assert torch.allclose(anchors, torch.tensor([[3.0, -2.0, 13.0, 18.0], [-7.0, -7.0, 23.0, 23.0]]))
    with pytest.raises(ValueError, match="positive"):
        PerClassAnchorGenerator((), (), stride=16, shapes=[(10, 0)])


def test_floor_raises_small_boxes_to_the_minimum_side_keeping_their_aspect():
    got = floor_box_shapes([[8, 32], [40, 40], [16, 16]], 32)
    assert np.allclose(got, [[16, 64], [40, 40], [32, 32]])
    fitted = kmeans_anchor_shapes(floor_box_shapes(_planted(np.random.default_rng(2), [[10, 10], [60, 60]]), 32), 2)
    assert np.sqrt(fitted.prod(axis=1)).min() >= 31
