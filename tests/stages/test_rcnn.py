"""The rcnn stage's union of the localizers' proposals."""
import torch

from ilsvrc_pipe.models.localization.rescoring import union_proposals


def test_union_proposals_marks_membership():
    a = torch.tensor([[0., 0, 9, 9], [1, 1, 5, 5]])
    b = torch.tensor([[1., 1, 5, 5], [2, 2, 8, 8]])
    boxes, member = union_proposals([a, b])
    assert boxes.shape == (3, 4)
    rows = {tuple(r): i for i, r in enumerate(boxes.tolist())}
    assert member[0, rows[(0, 0, 9, 9)]] and not member[1, rows[(0, 0, 9, 9)]]
    assert member[:, rows[(1, 1, 5, 5)]].all()
    assert member.sum() == 4
