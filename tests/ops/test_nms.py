"""``nms_top_k`` equals torchvision's ``nms(...)[:k]``, ties and short lists included."""
import pytest
import torch
from torchvision.ops import nms

from ilsvrc_pipe.ops.nms import nms_top_k


def clustered(seed: int, n: int, levels: int | None = None):
    """Boxes around a few centres (much suppression) and scores, rounded to ``levels`` values
    when given (many ties)."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(6, 2, generator=gen) * 200
    xy = centres[torch.randint(0, 6, (n,), generator=gen)] + torch.randn(n, 2, generator=gen) * 12
    wh = 10 + torch.rand(n, 2, generator=gen) * 50
    scores = torch.rand(n, generator=gen)
    if levels:
        scores = (scores * levels).floor() / levels
    return torch.cat([xy, xy + wh], 1), scores


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("levels", [None, 7])
@pytest.mark.parametrize("k", [0, 1, 5, 40, 200, 5000])
def test_equals_the_full_nms_cut_to_k(seed, levels, k):
    boxes, scores = clustered(seed, 900, levels)
    for iou in (0.3, 0.7):
        expected = nms(boxes, scores, iou)[:k]
        assert torch.equal(nms_top_k(boxes, scores, iou, k), expected)
        assert torch.equal(nms_top_k(boxes, scores, iou, k, first=3), expected)   # many growing prefixes


def test_fewer_boxes_than_the_first_prefix():
    boxes, scores = clustered(0, 10)
    assert torch.equal(nms_top_k(boxes, scores, 0.5, 200), nms(boxes, scores, 0.5))
    assert nms_top_k(boxes[:0], scores[:0], 0.5, 200).numel() == 0
