"""DET error diagnosis (Hoiem et al.): each cause checked on cases computed by hand."""
from __future__ import annotations

import numpy as np

from ilsvrc_pipe.evaluation.det import evaluate_det_arrays
from ilsvrc_pipe.evaluation.det_diagnosis import CAUSES, assign_causes, diagnose_false_positives
from ilsvrc_pipe.evaluation.ground_truth import DetGroundTruth
from ilsvrc_pipe.submission.det_file import DetSubmission


def ground_truth(blacklist=np.zeros((0, 2), np.int64)) -> DetGroundTruth:
    """Image "a" (list index 7): a class-1 object [0,0,99,99] and a class-2 object [200,200,299,299];
    image "b" (index 3): a class-1 object [0,0,49,49]. Listed in the order a, b."""
    return DetGroundTruth(stems=["a", "b"], image_index=np.array([7, 3]), object_image=np.array([0, 0, 1]),
                          object_class=np.array([1, 2, 1]),
                          object_boxes=np.array([[0, 0, 99, 99], [200, 200, 299, 299], [0, 0, 49, 49]], float),
                          blacklist=np.asarray(blacklist, np.int64).reshape(-1, 2))


# (image index, class, score, box), with what each one is, worked out by hand
DETECTIONS = [
    (7, 1, 0.90, [0, 0, 99, 99]),        # 0: true positive (IoU 1)
    (7, 1, 0.80, [0, 0, 99, 99]),        # 1: duplicate: IoU 1 with the object detection 0 took
    (7, 1, 0.70, [0, 0, 99, 29]),        # 2: localization: IoU 100*30 / 100*100 = 0.3
    (7, 1, 0.60, [200, 200, 299, 299]),  # 3: confusion: IoU 0 with class 1, 1 with the class-2 object
    (3, 1, 0.95, [300, 300, 349, 349]),  # 4: background: no object near it in image b
    (3, 1, 0.50, [0, 0, 49, 49]),        # 5: true positive in image b
    (7, 2, 0.40, [200, 200, 299, 299]),  # 6: true positive of class 2
    (7, 2, 0.30, [500, 500, 510, 510]),  # 7: background of class 2
]


def submission(rows=DETECTIONS) -> DetSubmission:
    return DetSubmission([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])


def test_each_cause_of_a_hand_built_case():
    res = diagnose_false_positives(submission(), ground_truth(), top=10)
    fps = res["false_positives"]
    assert list(fps.det_row) == [4, 1, 2, 3, 7]   # class 1 by score, then class 2
    assert list(fps.cause) == ["background", "duplicate", "localization", "confusion", "background"]
    assert list(fps.image) == ["b", "a", "a", "a", "a"]
    assert list(fps.rank_in_class) == [1, 2, 3, 4, 1]
    np.testing.assert_allclose(fps.iou_same, [0.0, 1.0, 0.3, 0.0, 0.0])
    np.testing.assert_allclose(fps.iou_other, [0.0, 0.0, 0.0, 1.0, 0.0])
    assert list(fps.other_class) == [0, 0, 0, 2, 0]
    counts = res["counts"]
    assert counts.loc[1, list(CAUSES)].tolist() == [1, 1, 1, 1]
    assert counts.loc[2, list(CAUSES)].tolist() == [0, 0, 0, 1]
    assert counts.objects.tolist() == [2, 1] and counts.analysed.tolist() == [4, 1]


def test_by_default_as_many_false_positives_as_the_class_has_objects():
    """Hoiem et al. look at the top N_j false positives, N_j the objects of class j: 2 for class 1."""
    fps = diagnose_false_positives(submission(), ground_truth())["false_positives"]
    assert list(fps.det_row) == [4, 1, 7]
    assert list(fps.cause) == ["background", "duplicate", "background"]


def test_true_positives_and_blacklisted_pairs_are_never_diagnosed():
    res = diagnose_false_positives(submission(), ground_truth(blacklist=[[3, 1]]), top=10)
    rows = set(res["false_positives"].det_row)
    assert not rows & {0, 5, 6}         # the scorer's true positives
    assert 4 not in rows                # (image 3, class 1) is blacklisted: not scored, not diagnosed
    assert res["counts"].loc[1, "objects"] == 1


def test_precedence_and_the_edges_of_the_overlap_bands():
    eligible = np.array([True, False, False, False, False, True])
    iou_same = np.array([0.6, 0.1, 0.0999, 0.0, 0.0, 0.0])
    iou_other = np.array([0.9, 0.9, 0.1, 0.0999, 0.0, 0.0])
    assert list(assign_causes(eligible, iou_same, iou_other)) == [
        "duplicate", "localization", "confusion", "background", "background", "duplicate"]


def test_a_small_object_is_matched_below_iou_0_5_so_a_second_hit_is_a_duplicate():
    """A 10x10 object's threshold is 100 / (20*20) = 0.25: a second box with IoU 0.3 (taken object) is a
    duplicate, one with IoU 0.2 is poorly localized."""
    gt = DetGroundTruth(["s"], np.array([1]), np.array([0]), np.array([1]), np.array([[0, 0, 9, 9]], float),
                        np.zeros((0, 2), np.int64))
    # IoU of [0,0,9,2] (10x3) with the object: 30/100 = 0.3; of [0,0,9,1] (10x2): 0.2
    dets = submission([(1, 1, 0.9, [0, 0, 9, 9]), (1, 1, 0.8, [0, 0, 9, 2]), (1, 1, 0.7, [0, 0, 9, 1])])
    fps = diagnose_false_positives(dets, gt, top=5)["false_positives"]
    assert list(fps.det_row) == [1, 2] and list(fps.cause) == ["duplicate", "localization"]


def test_the_scorer_reports_its_matches_in_input_order_with_dropped_rows_unscored():
    gt = ground_truth()
    res = evaluate_det_arrays([7, 99, 7], [1, 1, 1], [0.9, 0.8, 0.7], [[0, 0, 99, 99]] * 3, gt.image_index,
                              gt.object_image, gt.object_class, gt.object_boxes, unlisted="drop", matches=True)
    assert res["matched"].tolist() == [True, False, False]
    assert res["counted"].tolist() == [True, False, True]
