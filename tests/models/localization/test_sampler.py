"""Anchor labels (0.7 / 0.3 / best anchor) and the 1:1 sample filled with negatives."""
import torch

from ilsvrc_pipe.models.localization.sampler import (
    IGNORE,
    NEGATIVE,
    POSITIVE,
    ignore_crossing,
    match_anchors,
    sample_balanced,
)


def test_thresholds_and_best_anchor_per_ground_truth():
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    anchors = torch.tensor([
        [0.0, 0.0, 10.0, 10.0],     # IoU 1 with gt 0
        [0.0, 0.0, 10.0, 12.0],     # IoU 100/120 = 0.83 -> positive
        [0.0, 0.0, 10.0, 20.0],     # IoU 0.5 -> ignored
        [30.0, 30.0, 40.0, 40.0],   # no overlap -> negative
        [50.0, 50.0, 60.0, 80.0],   # IoU 1/3 with gt 1, its best anchor -> positive
        [54.0, 50.0, 60.0, 80.0],   # IoU 60/220 < 0.3 -> negative
    ])
    labels, matched = match_anchors(anchors, gt)
    assert labels.tolist() == [POSITIVE, POSITIVE, IGNORE, NEGATIVE, POSITIVE, NEGATIVE]
    assert matched[[0, 1, 4]].tolist() == [0, 0, 1]
    labels, _ = match_anchors(anchors, gt, match_best=False)
    assert labels[4] == IGNORE


def test_no_ground_truth_makes_every_anchor_negative():
    labels, _ = match_anchors(torch.tensor([[0.0, 0.0, 4.0, 4.0]] * 3), torch.zeros(0, 4))
    assert labels.tolist() == [NEGATIVE] * 3


def test_anchors_on_a_cut_object_are_not_negatives():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [40.0, 40.0, 50.0, 50.0]])
    labels, _ = match_anchors(anchors, torch.zeros(0, 4), ignore_boxes=torch.tensor([[0.0, 0.0, 10.0, 12.0]]))
    assert labels.tolist() == [IGNORE, NEGATIVE]


def test_one_to_one_when_positives_suffice():
    labels = torch.tensor([POSITIVE] * 10 + [NEGATIVE] * 50 + [IGNORE] * 5)
    pos, neg = sample_balanced(labels, 8, 0.5, torch.Generator().manual_seed(0))
    assert len(pos) == 4 and len(neg) == 4
    assert (labels[pos] == POSITIVE).all() and (labels[neg] == NEGATIVE).all()
    assert len(set(pos.tolist())) == 4 and len(set(neg.tolist())) == 4


def test_too_few_positives_are_filled_with_negatives():
    labels = torch.tensor([NEGATIVE] * 30 + [POSITIVE] + [IGNORE] * 3)
    pos, neg = sample_balanced(labels, 8)
    assert pos.tolist() == [30] and len(neg) == 7
    pos, neg = sample_balanced(torch.tensor([NEGATIVE] * 30), 8)
    assert len(pos) == 0 and len(neg) == 8


def test_near_negatives_take_their_fraction_of_the_negatives():
    labels = torch.tensor([POSITIVE] * 4 + [NEGATIVE] * 100)
    near = torch.zeros(104, dtype=torch.bool)
    near[4:7] = True                                   # three negatives overlap the object
    for seed in range(5):
        pos, neg = sample_balanced(labels, 8, 0.5, torch.Generator().manual_seed(seed), near, 0.5)
        assert len(pos) == 4 and len(neg) == 4 and len(set(neg.tolist())) == 4
        assert (labels[neg] == NEGATIVE).all() and int(near[neg].sum()) >= 2
    # fewer near negatives than the fraction asks: all of them, the rest from the others
    near[5:7] = False
    pos, neg = sample_balanced(labels, 8, 0.5, torch.Generator().manual_seed(0), near, 0.75)
    assert 4 in neg.tolist() and len(neg) == 4
    # uniform sampling picks the three near ones in 4 draws of 100 rarely: fraction 0 keeps it so
    hits = sum(int(near[sample_balanced(labels, 8, 0.5, torch.Generator().manual_seed(k))[1]].sum())
               for k in range(50))
    assert hits < 10


def test_too_few_negatives_gives_a_smaller_sample():
    pos, neg = sample_balanced(torch.tensor([POSITIVE] * 10 + [NEGATIVE] * 2), 8)
    assert len(pos) == 4 and len(neg) == 2


def test_anchors_crossing_the_border_can_be_ignored():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [-3.0, 0.0, 10.0, 10.0], [20.0, 20.0, 33.0, 32.0]])
    labels = torch.tensor([POSITIVE, NEGATIVE, NEGATIVE])
    assert ignore_crossing(labels, anchors, (32, 32), 0).tolist() == [POSITIVE, IGNORE, IGNORE]
    assert ignore_crossing(labels, anchors, (32, 32), 3).tolist() == [POSITIVE, NEGATIVE, NEGATIVE]
