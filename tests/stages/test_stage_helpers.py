"""Pure helpers of the cls / rcnn / loc stages: top-5 tables, proposal unions, guesses, breakdown."""
import numpy as np
import pandas as pd
import torch

from ilsvrc_pipe.data.loc_dataset import LocRecords
from ilsvrc_pipe.data.synsets import SynsetTable
from ilsvrc_pipe.stages.classify import top5_table
from ilsvrc_pipe.stages.localize import error_breakdown, gt_class_boxes, guesses
from ilsvrc_pipe.stages.rcnn import union_proposals

SYN = SynsetTable(("n03", "n01", "n02"), ("c", "a", "b"))  # devkit order is not sorted order


def test_top5_table_orders_by_score_and_keeps_wnids():
    probs = pd.DataFrame([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], columns=["n01", "n02", "n03"], index=["i1", "i2"])
    t = top5_table(probs, k=3)
    assert list(t[t.image_id == "i1"].wnid) == ["n02", "n03", "n01"]
    assert list(t[t.image_id == "i2"]["rank"]) == [1, 2, 3]
    assert t.score.iloc[0] == 0.7


def test_union_proposals_marks_membership():
    a = torch.tensor([[0., 0, 9, 9], [1, 1, 5, 5]])
    b = torch.tensor([[1., 1, 5, 5], [2, 2, 8, 8]])
    boxes, member = union_proposals([a, b])
    assert boxes.shape == (3, 4)
    rows = {tuple(r): i for i, r in enumerate(boxes.tolist())}
    assert member[0, rows[(0, 0, 9, 9)]] and not member[1, rows[(0, 0, 9, 9)]]
    assert member[:, rows[(1, 1, 5, 5)]].all()
    assert member.sum() == 4


def _val():
    images = pd.DataFrame({"image_id": ["v1", "v2"], "wnid": ["n01", "n02"], "width": [100, 50], "height": [80, 40],
                           "blacklisted": [False, False]})
    boxes = pd.DataFrame({"image_id": ["v1", "v2"], "wnid": ["n01", "n02"], "x1": [10., 0], "y1": [10., 0],
                          "x2": [49., 49], "y2": [49., 39]})
    return LocRecords(images, boxes)


def test_guesses_use_devkit_ids_and_fall_back_to_whole_image():
    val = _val()
    top5 = pd.DataFrame({"image_id": ["v1", "v1", "v2"], "rank": [1, 2, 1], "wnid": ["n01", "n03", "n02"],
                         "score": [0.9, 0.1, 1.0]})
    boxes = {("v1", "n01"): np.array([10., 10, 49, 49])}
    labels, out, missing = guesses(val.images, top5, boxes, SYN)
    assert labels[0, :2].tolist() == [2, 1] and labels[1, 0] == 3 and labels[0, 2] == 0
    assert out[1, 0].tolist() == [0, 0, 49, 39] and missing == 2
    gt = gt_class_boxes(val.images, boxes, SYN)
    assert gt[(0, 2)].tolist() == [10, 10, 49, 49] and gt[(1, 3)].tolist() == [0, 0, 49, 39]


def test_error_breakdown_separates_class_and_box_failures():
    val = _val()
    labels = np.array([[2, 0, 0, 0, 0], [1, 0, 0, 0, 0]])   # v1 right class, v2 wrong class
    boxes = np.zeros((2, 5, 4))
    boxes[0, 0] = [60, 60, 99, 79]                           # v1's right-class box misses
    counts, ious = error_breakdown(labels, boxes, val, SYN)
    assert counts == {"wrong_top5": 2, "class_missing": 1, "box_iou_below_0_5": 1, "right_class_ious": 1}
    assert ious.tolist() == [0.0]
