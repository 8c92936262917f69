"""LOC scorer against a loop-by-loop reading of eval_clsloc.m's rules, plus its counting rules."""
from __future__ import annotations

import numpy as np
import pytest

from ilsvrc_pipe.evaluation.loc import evaluate_loc_arrays


def reference_loc(labels, boxes, gt_class, object_image, object_class, object_boxes, blacklist):
    n = len(gt_class)
    cls_error, loc_error = [], []
    for k in range(1, 6):
        cls_wrong = loc_wrong = 0
        for i in range(n):
            guesses = list(zip(labels[i][:k], boxes[i][:k]))
            cls_wrong += all(lab != gt_class[i] for lab, _ in guesses)
            if i + 1 in set(blacklist):
                continue
            right = False
            for lab, box in guesses:
                for o in range(len(object_image)):
                    if object_image[o] != i or object_class[o] != gt_class[i] or lab != gt_class[i]:
                        continue
                    g = object_boxes[o]
                    iw = min(box[2], g[2]) - max(box[0], g[0]) + 1
                    ih = min(box[3], g[3]) - max(box[1], g[1]) + 1
                    if iw > 0 and ih > 0:
                        ua = (box[2] - box[0] + 1) * (box[3] - box[1] + 1) + (g[2] - g[0] + 1) * (g[3] - g[1] + 1) - iw * ih
                        right |= iw * ih / ua >= 0.5
            loc_wrong += not right
        cls_error.append(cls_wrong / n)
        loc_error.append(loc_wrong / (n - len(blacklist)))
    return cls_error, loc_error


@pytest.mark.parametrize("seed", range(20))
def test_matches_the_literal_rules_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    n, n_classes, width = 40, 4, int(rng.integers(1, 7))
    gt_class = rng.integers(1, n_classes + 1, n)
    per_image = rng.integers(1, 4, n)
    object_image = np.repeat(np.arange(n), per_image)
    xy = rng.integers(0, 5, (len(object_image), 2)) * 10
    object_boxes = np.concatenate([xy, xy + rng.choice([10, 20, 40], (len(object_image), 2)) - 1], axis=1).astype(float)
    labels = rng.integers(0, n_classes + 1, (n, width))
    boxes = object_boxes[rng.integers(0, len(object_image), (n, width))] + rng.integers(-5, 6, (n, width, 4))
    blacklist = rng.choice(np.arange(1, n + 1), 5, replace=False)
    got = evaluate_loc_arrays(labels, boxes, gt_class, object_image, gt_class[object_image], object_boxes, blacklist)
    want_cls, want_loc = reference_loc(labels, boxes, gt_class, object_image, gt_class[object_image], object_boxes,
                                       blacklist.tolist())
    np.testing.assert_allclose(got["cls_error"], want_cls, atol=1e-12)
    np.testing.assert_allclose(got["loc_error"], want_loc, atol=1e-12)


BOX = [0, 0, 99, 99]


def test_blacklist_counts_entries_in_the_denominator_and_masks_once():
    labels, boxes = np.array([[1], [1], [2]]), np.array([[BOX], [BOX], [BOX]], float)
    args = (labels, boxes, [1, 1, 1], [0, 1, 2], [1, 1, 1], [BOX, BOX, BOX])
    assert evaluate_loc_arrays(*args)["loc_error"][0] == pytest.approx(1 / 3)
    result = evaluate_loc_arrays(*args, blacklist=[1, 1])  # duplicate: B = 2, image 1 masked once
    assert result["loc_error"][0] == pytest.approx(1 / (3 - 2))
    assert result["cls_error"][0] == pytest.approx(1 / 3)  # classification ignores the blacklist
    assert result["n_blacklisted"] == 2


def test_any_object_of_the_class_suffices_and_other_classes_are_ignored():
    labels, boxes = np.array([[1]]), np.array([[[200, 200, 299, 299]]], float)
    objects = dict(object_image=[0, 0, 0], object_class=[1, 2, 1], object_boxes=[BOX, [200, 200, 299, 299], [200, 200, 299, 299]])
    assert evaluate_loc_arrays(labels, boxes, [1], **objects)["loc_error"][0] == 0.0
    only_other = dict(object_image=[0, 0], object_class=[1, 2], object_boxes=[BOX, [200, 200, 299, 299]])
    assert evaluate_loc_arrays(labels, boxes, [1], **only_other)["loc_error"][0] == 1.0


def test_short_rows_keep_their_last_guess_for_larger_k():
    result = evaluate_loc_arrays(np.array([[2, 1]]), np.array([[BOX, BOX]], float), [1], [0], [1], [BOX])
    assert result["loc_error"] == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_guesses_beyond_five_are_not_used():
    labels = np.array([[2, 2, 2, 2, 2, 1]])
    result = evaluate_loc_arrays(labels, np.array([[BOX] * 6], float), [1], [0], [1], [BOX])
    assert result["cls_error"][4] == 1.0 and result["loc_error"][4] == 1.0


def test_row_count_must_match_and_blacklist_must_name_images():
    with pytest.raises(ValueError, match="prediction rows"):
        evaluate_loc_arrays(np.array([[1]]), np.array([[BOX]], float), [1, 1], [0, 1], [1, 1], [BOX, BOX])
    with pytest.raises(ValueError, match="blacklist"):
        evaluate_loc_arrays(np.array([[1]]), np.array([[BOX]], float), [1], [0], [1], [BOX], blacklist=[2])
