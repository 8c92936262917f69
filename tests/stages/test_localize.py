"""The loc stage's helpers: guesses per image, ground-truth-class boxes."""
import numpy as np
import pandas as pd

from ilsvrc_pipe.data.loc_records import LocRecords
from ilsvrc_pipe.data.synsets import SynsetTable
from ilsvrc_pipe.stages.localize import gt_class_boxes, guesses

SYN = SynsetTable(("n03", "n01", "n02"), ("c", "a", "b"))  # devkit order is not sorted order


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
