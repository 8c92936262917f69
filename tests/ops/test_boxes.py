"""Inclusive (+1) box geometry shared by the scorers and the stages."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ilsvrc_pipe.ops import box_area, box_iou, box_iou_paired, box_iou_torch


def test_area_counts_both_end_pixels():
    np.testing.assert_array_equal(box_area([[0, 0, 99, 99], [5, 5, 5, 5], [0, 0, 1.5, 0]]), [10000, 1, 2.5])


def test_iou_values_of_the_worked_examples():
    assert box_iou([[0, 0, 99, 199]], [[0, 0, 99, 99]])[0, 0] == 0.5  # exactly 10000 / 20000
    assert box_iou([[0, 0, 99, 200]], [[0, 0, 99, 99]])[0, 0] == pytest.approx(10000 / 20100)
    assert box_iou([[100, 100, 119, 143]], [[100, 100, 119, 119]])[0, 0] == pytest.approx(400 / 880)


def test_touching_boxes_overlap_by_one_pixel_and_separate_boxes_not_at_all():
    assert box_iou([[0, 0, 9, 9]], [[9, 0, 18, 9]])[0, 0] == pytest.approx(10 / 190)
    assert box_iou([[0, 0, 9, 9]], [[10, 0, 19, 9]], no_overlap=-1.0)[0, 0] == -1.0
    assert box_iou([[0, 0, 9, 9]], [[0, 10, 9, 19]])[0, 0] == 0.0


def test_matrix_shape_and_paired_agree():
    rng = np.random.default_rng(0)
    a = np.sort(rng.integers(0, 50, (6, 2, 2)), axis=1).transpose(0, 2, 1).reshape(6, 4)[:, [0, 2, 1, 3]]
    b = np.sort(rng.integers(0, 50, (4, 2, 2)), axis=1).transpose(0, 2, 1).reshape(4, 4)[:, [0, 2, 1, 3]]
    matrix = box_iou(a, b)
    assert matrix.shape == (6, 4)
    np.testing.assert_array_equal(box_iou_paired(a[:, None], b[None]), matrix)
    assert ((matrix >= 0) & (matrix <= 1)).all()


def test_torch_variant_matches_numpy():
    rng = np.random.default_rng(1)
    xy = rng.integers(0, 80, (30, 2))
    boxes = np.concatenate([xy, xy + rng.integers(0, 40, (30, 2))], axis=1).astype(np.float64)
    expected = box_iou(boxes[:10], boxes[10:], no_overlap=-1.0)
    got = box_iou_torch(torch.from_numpy(boxes[:10]), torch.from_numpy(boxes[10:]), no_overlap=-1.0)
    np.testing.assert_array_equal(got.numpy(), expected)
