"""Box voting and the box-refinement merge (``ilsvrc_pipe/ops/box_voting.py``), on hand-computed boxes.

Continuous boxes: ``[0, 0, 10, 10]`` has area 100. IoUs used below:
A = [0, 0, 10, 10], B = [1, 1, 11, 11]: inter 9*9 = 81, union 119 -> 0.68
A, C = [0, 0, 10, 12]: inter 100, union 120 -> 0.83
A, E = [5, 5, 15, 15]: inter 25, union 175 -> 0.14
A, F = [0, 0, 10, 20]: inter 100, union 200 -> exactly 0.5
"""
from __future__ import annotations

import pytest
import torch

from ilsvrc_pipe.ops.box_voting import box_voting, refine_and_vote

A = [0.0, 0.0, 10.0, 10.0]
B = [1.0, 1.0, 11.0, 11.0]
C = [0.0, 0.0, 10.0, 12.0]
E = [5.0, 5.0, 15.0, 15.0]
F = [0.0, 0.0, 10.0, 20.0]


def t(x, dtype=torch.float32):
    return torch.tensor(x, dtype=dtype)


def test_three_overlapping_same_class_boxes_vote_by_score():
    pool = t([A, B, C])
    scores = t([0.9, 0.6, 0.5])  # total weight 2.0
    out = box_voting(t([A]), torch.tensor([1]), pool, scores, torch.tensor([1, 1, 1]))
    # x1 = (0*.9 + 1*.6 + 0*.5) / 2 = 0.3, x2 = (10*.9 + 11*.6 + 10*.5) / 2 = 10.3, y2 = (9 + 6.6 + 6) / 2
    torch.testing.assert_close(out, t([[0.3, 0.3, 10.3, 10.8]]))


def test_other_class_box_does_not_vote_even_when_identical_or_overlapping():
    pool = t([A, B, A, C])
    scores = t([0.5, 0.5, 1.0, 1.0])
    labels = torch.tensor([3, 3, 7, 7])  # the two class-7 boxes overlap A (one is A itself)
    out = box_voting(t([A]), torch.tensor([3]), pool, scores, labels)
    torch.testing.assert_close(out, t([[0.5, 0.5, 10.5, 10.5]]))  # mean of A and B only


def test_low_iou_box_does_not_vote_and_threshold_is_inclusive():
    pool = t([A, E, F])
    scores = t([0.5, 1.0, 0.5])
    out = box_voting(t([A]), torch.tensor([1]), pool, scores, torch.tensor([1, 1, 1]), iou_threshold=0.5)
    # E (IoU 0.14) is out; F (IoU exactly 0.5) is in: y2 = (10 + 20) / 2
    torch.testing.assert_close(out, t([[0.0, 0.0, 10.0, 15.0]]))
    # just above 0.5, F no longer votes and A stays as it is
    out = box_voting(t([A]), torch.tensor([1]), pool, scores, torch.tensor([1, 1, 1]), iou_threshold=0.5001)
    torch.testing.assert_close(out, t([A]))


def test_kept_box_without_voters_is_unchanged_and_several_kept_boxes_are_independent():
    kept = t([A, [100.0, 100.0, 120.0, 110.0], [0.0, 0.0, 10.0, 10.0]])
    kept_labels = torch.tensor([1, 1, 2])
    pool = t([A, B, [50.0, 50.0, 60.0, 60.0]])
    pool_scores = t([0.25, 0.75, 1.0])
    pool_labels = torch.tensor([1, 1, 1])
    out = box_voting(kept, kept_labels, pool, pool_scores, pool_labels)
    expected = t([[0.75, 0.75, 10.75, 10.75],        # 0.25*A + 0.75*B
                  [100.0, 100.0, 120.0, 110.0],      # nothing overlaps
                  [0.0, 0.0, 10.0, 10.0]])           # class 2 has no pool box
    torch.testing.assert_close(out, expected)


def test_zero_weight_votes_and_empty_inputs_keep_boxes():
    out = box_voting(t([A]), torch.tensor([1]), t([B]), t([0.0]), torch.tensor([1]))
    torch.testing.assert_close(out, t([A]))
    no_label = torch.zeros(0, dtype=torch.long)
    empty = box_voting(t([A]), torch.tensor([1]), torch.zeros(0, 4), torch.zeros(0), no_label)
    torch.testing.assert_close(empty, t([A]))
    assert box_voting(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), t([A]), t([1.0]),
                      torch.tensor([1])).shape == (0, 4)


def test_voting_keeps_float64_dtype_and_rejects_bad_shapes():
    out = box_voting(t([A], torch.float64), torch.tensor([1]), t([A, C], torch.float64),
                     t([0.5, 0.5], torch.float64), torch.tensor([1, 1]))
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, t([[0.0, 0.0, 10.0, 11.0]], torch.float64))
    with pytest.raises(ValueError, match="pool_scores"):
        box_voting(t([A]), torch.tensor([1]), t([A, C]), t([0.5]), torch.tensor([1, 1]))


def _refine_case():
    old_boxes = t([A, [20.0, 20.0, 30.0, 30.0], A])                       # O1, O2, O3
    old_scores = t([0.9, 0.8, 0.7])
    old_labels = torch.tensor([1, 1, 2])
    new_boxes = t([B, [20.0, 20.0, 30.0, 32.0], [40.0, 40.0, 50.0, 50.0]])  # N1, N2, N3
    new_scores = t([0.95, 0.6, 0.5])
    new_labels = torch.tensor([1, 1, 2])
    return old_boxes, old_scores, old_labels, new_boxes, new_scores, new_labels


def test_refine_and_vote_union_nms_then_voting():
    # Class 1 by score: N1 .95 (kept), O1 .9 (IoU .68 with N1 > .3: suppressed), O2 .8 (kept),
    # N2 .6 (IoU 100/120 with O2: suppressed). Class 2: O3 .7 and N3 .5 do not overlap: both kept.
    boxes, scores, labels = refine_and_vote(*_refine_case(), nms_iou=0.3, vote_iou=0.5)
    torch.testing.assert_close(scores, t([0.95, 0.8, 0.7, 0.5]))
    assert labels.tolist() == [1, 1, 2, 2]
    # N1 votes with O1 (suppressed but in the union), not with O3 (same box, class 2):
    #   x1 = .95*1 / 1.85 = 19/37, x2 = (.95*11 + .9*10) / 1.85 = 10 + 19/37
    # O2 votes with N2: y2 = (.8*30 + .6*32) / 1.4 = 30 + 6/7
    expected = t([[19 / 37, 19 / 37, 10 + 19 / 37, 10 + 19 / 37],
                  [20.0, 20.0, 30.0, 30 + 6 / 7],
                  A,
                  [40.0, 40.0, 50.0, 50.0]])
    torch.testing.assert_close(boxes, expected)


def test_refine_and_vote_max_per_image_and_sorting():
    ob, os_, ol, nb, ns, nl = _refine_case()
    # new predictions first in score order would still come out sorted
    boxes, scores, labels = refine_and_vote(nb, ns, nl, ob, os_, ol, max_per_image=2)
    torch.testing.assert_close(scores, t([0.95, 0.8]))
    assert labels.tolist() == [1, 1]
    torch.testing.assert_close(boxes[1], t([20.0, 20.0, 30.0, 30 + 6 / 7]))


def test_refine_and_vote_empty_union():
    z4, z = torch.zeros(0, 4), torch.zeros(0)
    zl = torch.zeros(0, dtype=torch.long)
    boxes, scores, labels = refine_and_vote(z4, z, zl, z4, z, zl)
    assert boxes.shape == (0, 4) and scores.shape == (0,) and labels.shape == (0,)
