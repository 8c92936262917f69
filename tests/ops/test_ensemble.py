"""Ensemble averaging and the union of proposals (``ilsvrc_pipe/ops/ensemble.py``), hand-computed."""
from __future__ import annotations

import pytest
import torch

from ilsvrc_pipe.ops.ensemble import average_member_predictions, union_of_proposals

# two RoIs, C = 2 foreground classes (+ background)
S1 = torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.2, 0.2]])
S2 = torch.tensor([[0.4, 0.3, 0.3], [0.2, 0.2, 0.6]])
B1 = torch.tensor([[[0.0, 0.0, 10.0, 10.0], [2.0, 2.0, 4.0, 4.0]],
                   [[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 0.0, 0.0]]])
B2 = torch.tensor([[[2.0, 0.0, 10.0, 14.0], [2.0, 2.0, 4.0, 4.0]],
                   [[3.0, 1.0, 3.0, 5.0], [4.0, 4.0, 4.0, 4.0]]])
MEAN_S = torch.tensor([[0.3, 0.4, 0.3], [0.4, 0.2, 0.4]])
MEAN_B = torch.tensor([[[1.0, 0.0, 10.0, 12.0], [2.0, 2.0, 4.0, 4.0]],
                       [[2.0, 1.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0]]])


def test_two_members_average_scores_and_per_class_boxes():
    scores, boxes = average_member_predictions([S1, S2], [B1, B2])
    assert scores.shape == (2, 3) and boxes.shape == (2, 2, 4)
    torch.testing.assert_close(scores, MEAN_S)
    torch.testing.assert_close(boxes, MEAN_B)


def test_three_members_and_the_flat_layout_with_a_background_slot():
    s3 = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    scores, _ = average_member_predictions([S1, S2, s3], [B1, B2, B1])
    torch.testing.assert_close(scores, torch.tensor([[0.2, 0.8 / 3, 1.6 / 3], [1.8 / 3, 0.4 / 3, 0.8 / 3]]))
    # (R, (C+1)*4): background slot of zeros first, then the two classes
    flat1 = torch.cat([torch.zeros(2, 1, 4), B1], dim=1).reshape(2, 12)
    flat2 = torch.cat([torch.full((2, 1, 4), 2.0), B2], dim=1).reshape(2, 12)
    _, boxes = average_member_predictions([S1, S2], [flat1, flat2])
    assert boxes.shape == (2, 12)
    torch.testing.assert_close(boxes.view(2, 3, 4)[:, 0], torch.ones(2, 4))
    torch.testing.assert_close(boxes.view(2, 3, 4)[:, 1:], MEAN_B)


def test_single_member_is_returned_as_is():
    scores, boxes = average_member_predictions([S1], [B1])
    torch.testing.assert_close(scores, S1)
    torch.testing.assert_close(boxes, B1)


def test_mismatches_raise_value_errors_naming_them():
    with pytest.raises(ValueError, match=r"scores\[1\] has shape \(3, 3\)"):
        average_member_predictions([S1, torch.zeros(3, 3)], [B1, B1])
    with pytest.raises(ValueError, match=r"boxes\[1\] has shape \(2, 3, 4\)"):
        average_member_predictions([S1, S2], [B1, torch.zeros(2, 3, 4)])
    with pytest.raises(ValueError, match="box classes"):
        average_member_predictions([S1, S2], [torch.zeros(2, 5, 4), torch.zeros(2, 5, 4)])
    with pytest.raises(ValueError, match="RoIs"):
        average_member_predictions([S1, S2], [torch.zeros(3, 2, 4), torch.zeros(3, 2, 4)])
    with pytest.raises(ValueError, match="2 members' scores but 1"):
        average_member_predictions([S1, S2], [B1])
    with pytest.raises(ValueError, match="at least one member"):
        average_member_predictions([], [])
    with pytest.raises(ValueError, match="dtypes"):
        average_member_predictions([S1, S2.double()], [B1, B2])


def test_union_of_proposals_drops_exact_duplicates_keeping_first_occurrences():
    p1 = torch.tensor([[0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0], [0.0, 0.0, 1.0, 1.0]])
    p2 = torch.tensor([[5.0, 5.0, 6.0, 6.0], [0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.5]])
    p3 = torch.tensor([[5.0, 5.0, 6.0, 6.0]])
    empty = torch.zeros(0, 4)
    union = union_of_proposals([p1, empty, p2, p3])
    expected = torch.tensor([[0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0],
                             [5.0, 5.0, 6.0, 6.0], [2.0, 2.0, 3.0, 3.5]])
    torch.testing.assert_close(union, expected)
    assert union_of_proposals([p1, empty, p2, p3], dedup=False).shape == (7, 4)
    torch.testing.assert_close(union_of_proposals([p1, p2], dedup=False), torch.cat([p1, p2]))


def test_union_of_proposals_edge_cases():
    assert union_of_proposals([torch.zeros(0, 4), torch.zeros(0, 4)]).shape == (0, 4)
    one = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    torch.testing.assert_close(union_of_proposals([one]), one)
    with pytest.raises(ValueError, match="at least one"):
        union_of_proposals([])
    with pytest.raises(ValueError, match=r"proposals\[1\]"):
        union_of_proposals([one, torch.zeros(3, 5)])
