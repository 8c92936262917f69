"""LOC failure bins (wrong class / right class with IoU < 0.5 / both) on a case computed by hand."""
from __future__ import annotations

import numpy as np
import pytest

from ilsvrc_pipe.evaluation.ground_truth import LocGroundTruth
from ilsvrc_pipe.evaluation.loc import evaluate_loc
from ilsvrc_pipe.evaluation.loc_failures import (
    failure_counts,
    loc_failures,
    right_class_ious,
    top5_breakdown,
    worst_failures,
)

OBJ = [0, 0, 99, 99]
HALF = [0, 0, 99, 29]        # IoU 0.3 with OBJ
FAR = [200, 200, 249, 249]   # IoU 0 with OBJ


def case():
    """Five images of class 1, 2, 1, 1, 2, each with one object at OBJ; image 5 is blacklisted."""
    gt = LocGroundTruth(stems=[f"im{i}" for i in range(1, 6)], class_ids=np.array([1, 2, 1, 1, 2]),
                        object_image=np.arange(5), object_class=np.array([1, 2, 1, 1, 2]),
                        object_boxes=np.array([OBJ] * 5, float), blacklist=np.array([5]))
    labels = np.array([[1, 3], [3, 4], [3, 1], [3, 4], [3, 4]])
    boxes = np.array([
        [OBJ, FAR],     # im1: right class, right box: correct
        [OBJ, FAR],     # im2: class 2 never guessed, but a box covers the object: wrong class
        [OBJ, HALF],    # im3: class 1 guessed second with IoU 0.3: low IoU (the first box is right, wrong class)
        [FAR, HALF],    # im4: no class 1, no box with IoU >= 0.5: both
        [FAR, FAR],     # im5: blacklisted: not counted
    ], float)
    return labels, boxes, gt


def test_each_wrong_image_lands_in_one_bin():
    labels, boxes, gt = case()
    table = loc_failures(labels, boxes, gt, k=2)
    assert list(table.kind) == ["", "wrong_class", "low_iou", "both", ""]
    assert list(table.correct) == [True, False, False, False, False]
    assert list(table.counted) == [True, True, True, True, False]
    assert list(table.guess) == [0, 0, 1, 0, 0]
    np.testing.assert_allclose(table.iou_guess, [1.0, 1.0, 0.3, 0.0, 0.0])
    np.testing.assert_allclose(table.iou_best, [1.0, 1.0, 1.0, 0.3, 0.0])
    assert failure_counts(table) == {"wrong_class": 1, "low_iou": 1, "both": 1}


def test_the_bins_add_up_to_the_official_error():
    labels, boxes, gt = case()
    for k in (1, 2):
        table = loc_failures(labels, boxes, gt, k=k)
        official = evaluate_loc(labels, boxes, gt, max_k=k)["loc_error"][k - 1]
        assert sum(failure_counts(table).values()) / (len(gt.stems) - len(gt.blacklist)) == official
    # at top-1, im3's only guess is class 3 with a box on the object: wrong class
    assert loc_failures(labels, boxes, gt, k=1).kind[2] == "wrong_class"


def test_worst_failures_are_those_whose_shown_guess_is_farthest_from_the_object():
    labels, boxes, gt = case()   # IoU of the shown guess: im2 1.0, im3 0.3, im4 0.0
    assert list(worst_failures(loc_failures(labels, boxes, gt, k=2), 3).image) == ["im4", "im3", "im2"]


def test_loc_stage_breakdown_separates_class_and_box_failures():
    """The ``loc`` stage's summary of the bins and the IoUs of its histogram, from the same table."""
    gt = LocGroundTruth(stems=["v1", "v2"], class_ids=np.array([2, 3]), object_image=np.array([0, 1]),
                        object_class=np.array([2, 3]), object_boxes=np.array([[10., 10, 49, 49], [0, 0, 49, 39]]),
                        blacklist=np.zeros(0, np.int64))
    labels = np.array([[2, 0, 0, 0, 0], [1, 0, 0, 0, 0]])   # v1 right class, v2 wrong class
    boxes = np.zeros((2, 5, 4))
    boxes[0, 0] = [60, 60, 99, 79]                           # v1's right-class box misses
    table = loc_failures(labels, boxes, gt, k=5)
    counts, ious = top5_breakdown(table), right_class_ious(table)
    assert counts == {"wrong_top5": 2, "class_missing": 1, "box_iou_below_0_5": 1, "right_class_ious": 1}
    assert ious.tolist() == [0.0]


def test_right_class_ious_cover_correct_and_low_iou_images_only():
    labels, boxes, gt = case()
    table = loc_failures(labels, boxes, gt, k=2)
    assert right_class_ious(table).tolist() == pytest.approx([1.0, 0.3])   # im1 (correct), im3 (low IoU)
    assert top5_breakdown(table) == {"wrong_top5": 3, "class_missing": 2, "box_iou_below_0_5": 1,
                                     "right_class_ious": 2}
