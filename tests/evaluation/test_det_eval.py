"""DET scorer: the vectorised greedy matcher against a literal, loop-by-loop reading of eval_detection.m's rules."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ilsvrc_pipe.evaluation.det import evaluate_det_arrays, object_thresholds, voc_ap


def reference_det(det_index, det_class, det_score, det_boxes, image_index, object_image, object_class,
                  object_boxes, blacklist):
    """The devkit's algorithm with plain loops (slow, obviously sequential)."""
    n_classes = max(object_class) if len(object_class) else 0
    black = {(int(i), int(c)) for i, c in blacklist}
    npos = [0] * (n_classes + 1)
    for img, cls in zip(object_image, object_class):
        if (int(image_index[img]), int(cls)) not in black:
            npos[cls] += 1
    entries = []  # (score, tp, fp, class) in concatenation order
    for pos in sorted(range(len(image_index)), key=lambda p: image_index[p]):
        idx = image_index[pos]
        mine = [d for d in range(len(det_index)) if det_index[d] == idx]
        mine.sort(key=lambda d: -det_score[d])  # Python's sort is stable
        objects = [o for o in range(len(object_image)) if object_image[o] == pos]
        matched = {o: False for o in objects}
        for d in mine:
            if (int(idx), int(det_class[d])) in black:
                entries.append((det_score[d], 0, 0, det_class[d]))
                continue
            best, best_iou = None, -math.inf
            a = det_boxes[d]
            for o in objects:
                if object_class[o] != det_class[d] or matched[o]:
                    continue
                g = object_boxes[o]
                iw = min(a[2], g[2]) - max(a[0], g[0]) + 1
                ih = min(a[3], g[3]) - max(a[1], g[1]) + 1
                if iw > 0 and ih > 0:
                    ua = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (g[2] - g[0] + 1) * (g[3] - g[1] + 1) - iw * ih
                    iou = iw * ih / ua
                    w, h = g[2] - g[0] + 1, g[3] - g[1] + 1
                    thr = min(0.5, w * h / ((w + 10) * (h + 10)))
                    if iou >= thr and iou > best_iou:
                        best, best_iou = o, iou
            if best is not None:
                matched[best] = True
            entries.append((det_score[d], int(best is not None), int(best is None), det_class[d]))
    ap = {}
    for c in range(1, n_classes + 1):
        rows = sorted([e for e in entries if e[3] == c], key=lambda e: -e[0])
        tp = fp = 0
        rec, prec = [], []
        for _, t, f, _ in rows:
            tp, fp = tp + t, fp + f
            rec.append(tp / npos[c] if npos[c] else (math.nan if tp == 0 else math.inf))
            prec.append(tp / (tp + fp) if tp + fp else math.nan)
        mrec, mpre = [0.0] + rec + [1.0], [0.0] + prec + [0.0]
        for i in range(len(mpre) - 2, -1, -1):
            if math.isnan(mpre[i]) or (not math.isnan(mpre[i + 1]) and mpre[i + 1] > mpre[i]):
                mpre[i] = mpre[i + 1]
        ap[c] = sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if not mrec[i] == mrec[i - 1])
    return ap


def random_case(seed):
    rng = np.random.default_rng(seed)
    n_images, n_classes = int(rng.integers(3, 12)), int(rng.integers(2, 5))
    image_index = rng.permutation(np.arange(1, 40))[:n_images]
    n_obj = int(rng.integers(1, 4 * n_images))
    object_image = np.sort(rng.integers(0, n_images, n_obj))
    object_class = rng.integers(1, n_classes + 1, n_obj)
    xy = rng.integers(0, 4, (n_obj, 2)) * 8  # crowded: detections often reach several objects
    wh = rng.choice([8, 15, 30, 40], (n_obj, 2))
    object_boxes = np.concatenate([xy, xy + wh - 1], axis=1).astype(float)
    n_det = int(rng.integers(0, 8 * n_images))
    src = rng.integers(0, n_obj, n_det)
    det_boxes = object_boxes[src] + rng.integers(-4, 5, (n_det, 4))
    det_class = np.where(rng.uniform(size=n_det) < 0.8, object_class[src], rng.integers(1, n_classes + 2, n_det))
    det_index = image_index[np.where(rng.uniform(size=n_det) < 0.85, object_image[src], rng.integers(0, n_images, n_det))]
    det_score = rng.integers(0, 5, n_det) / 4.0  # many ties
    blacklist = np.stack([rng.choice(image_index, 3), rng.integers(1, n_classes + 1, 3)], axis=1)
    return det_index, det_class, det_score, det_boxes, image_index, object_image, object_class, object_boxes, blacklist


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-12


@pytest.mark.parametrize("seed", range(60))
def test_matches_the_literal_algorithm_on_random_tied_cases(seed):
    case = random_case(seed)
    got = evaluate_det_arrays(*case)["ap"]
    want = reference_det(*case)
    assert sorted(got) == sorted(want)
    for c in want:
        assert same(got[c], want[c]), (c, got[c], want[c])


def det(*rows):
    """Detections as (index, class, score, x1, y1, x2, y2) rows -> the four arrays."""
    arr = np.asarray(rows, dtype=float).reshape(-1, 7)
    return arr[:, 0].astype(int), arr[:, 1].astype(int), arr[:, 2], arr[:, 3:]


BOX = [0, 0, 99, 99]


def test_class_without_ground_truth_below_c_is_nan_with_detections_and_zero_without():
    # objects of classes 1 and 3 -> C = 3; class 2 has a detection, nothing has class 2 ground truth
    result = evaluate_det_arrays(*det((1, 1, 0.9, *BOX), (1, 2, 0.5, *BOX)), [1], [0, 0], [1, 3], [BOX, BOX])
    assert result["ap"][1] == 1.0 and math.isnan(result["ap"][2]) and result["ap"][3] == 0.0
    assert math.isnan(result["mAP"])
    quiet = evaluate_det_arrays(*det((1, 1, 0.9, *BOX)), [1], [0, 0], [1, 3], [BOX, BOX])
    assert quiet["ap"] == {1: 1.0, 2: 0.0, 3: 0.0} and quiet["mAP"] == pytest.approx(1 / 3)


def test_classes_above_c_are_not_scored():
    result = evaluate_det_arrays(*det((1, 1, 0.9, *BOX), (1, 7, 0.95, *BOX)), [1], [0], [1], [BOX])
    assert result["ap"] == {1: 1.0} and result["n_classes"] == 1 and result["mAP"] == 1.0


def test_class_with_all_objects_blacklisted_is_nan_when_detected():
    result = evaluate_det_arrays(*det((1, 1, 0.9, *BOX), (2, 2, 0.9, *BOX)), [1, 2], [0, 1], [1, 2], [BOX, BOX],
                                 blacklist=[[2, 2], [2, 2]])
    assert result["npos"] == {1: 1, 2: 0}
    assert math.isnan(result["ap"][2])


def test_c_counts_blacklisted_objects():
    result = evaluate_det_arrays(*det((1, 1, 0.9, *BOX)), [1, 2], [0, 1], [1, 2], [BOX, BOX], blacklist=[[2, 2]])
    assert result["n_classes"] == 2 and result["ap"] == {1: 1.0, 2: 0.0}


def test_duplicate_blacklist_lines_and_unlisted_pairs_have_no_effect():
    args = (*det((1, 1, 0.9, *BOX), (2, 1, 0.95, 300, 300, 399, 399)), [1, 2], [0, 1], [1, 1], [BOX, BOX])
    once = evaluate_det_arrays(*args, blacklist=[[2, 1]])
    again = evaluate_det_arrays(*args, blacklist=[[2, 1], [2, 1], [99, 1]])
    assert once["ap"] == again["ap"] == {1: 1.0}


def test_detections_of_unlisted_images_fail_or_are_dropped():
    args = (*det((1, 1, 0.9, *BOX), (5, 1, 0.95, *BOX)), [1], [0], [1], [BOX])
    with pytest.raises(ValueError, match="not in the list"):
        evaluate_det_arrays(*args)
    result = evaluate_det_arrays(*args, unlisted="drop")
    assert result["ap"] == {1: 1.0} and result["n_detections"] == 1


def test_matched_object_is_never_reassigned():
    # the second, lower-scored exact duplicate finds its object taken: FP (PASCAL would agree here)
    result = evaluate_det_arrays(*det((1, 1, 0.9, *BOX), (1, 1, 0.8, *BOX)), [1], [0], [1], [BOX])
    assert result["ap"][1] == 1.0
    late = evaluate_det_arrays(*det((1, 1, 0.9, 300, 300, 399, 399), (1, 1, 0.8, *BOX)), [1], [0], [1], [BOX])
    assert late["ap"][1] == pytest.approx(0.5)


def test_object_thresholds():
    boxes = [[0, 0, 19, 19], [0, 0, 9, 9], [0, 0, 29, 29]]
    np.testing.assert_allclose(object_thresholds(boxes), [400 / 900, 100 / 400, 0.5])


def test_voc_ap_ignores_nan_precision_in_the_envelope():
    assert voc_ap(np.array([0.0, 0.5, 1.0]), np.array([np.nan, 1.0, 0.5])) == pytest.approx(0.75)
    assert voc_ap(np.array([]), np.array([])) == 0.0


@pytest.mark.parametrize("xml_order, expected_ap", [("A first", 0.5), ("B first", 1.0)])
def test_iou_tie_goes_to_the_earlier_xml_object(xml_order, expected_ap):
    # det 0.9 overlaps A and B equally (9500/10500); det 0.8 can only reach A (IoU 0.538; 0.43 with B)
    a, b = [0, 0, 99, 99], [10, 0, 109, 99]
    objects = [a, b] if xml_order == "A first" else [b, a]
    result = evaluate_det_arrays(*det((1, 1, 0.9, 5, 0, 104, 99), (1, 1, 0.8, -30, 0, 69, 99)), [1], [0, 0], [1, 1],
                                 objects)
    assert result["ap"][1] == pytest.approx(expected_ap)


def test_one_iou_threshold_for_every_object_instead_of_the_official_rule():
    # a 100x100 object and a detection shifted by 20 px: IoU 80*100 / (2*10000 - 8000) = 2/3
    obj = np.array([[0.0, 0.0, 99.0, 99.0]])
    det = np.array([[20.0, 0.0, 119.0, 99.0]])
    args = ([1], [1], [0.9], det, [1], [0], [1], obj)
    assert evaluate_det_arrays(*args)["mAP"] == 1.0                       # official: 0.5 for this size
    assert evaluate_det_arrays(*args, iou_threshold=0.6)["mAP"] == 1.0
    assert evaluate_det_arrays(*args, iou_threshold=0.7)["mAP"] == 0.0
