"""The paired bootstrap of two DET submissions' mAP difference (evaluation/det_bootstrap.py)."""
from __future__ import annotations

import numpy as np
import pytest

from ilsvrc_pipe.evaluation.det import evaluate_det
from ilsvrc_pipe.evaluation.det_bootstrap import _Resampler, paired_map_bootstrap
from ilsvrc_pipe.evaluation.ground_truth import DetGroundTruth
from ilsvrc_pipe.submission.det_file import DetSubmission


def _gt(n_images=3, blacklist=()):
    """One 20x20 object of class 1 per image; image indices 11, 12, ... (not positions)."""
    return DetGroundTruth(stems=[f"im{i}" for i in range(n_images)], image_index=np.arange(11, 11 + n_images),
                          object_image=np.arange(n_images), object_class=np.ones(n_images, np.int64),
                          object_boxes=np.tile([10.0, 10.0, 29.0, 29.0], (n_images, 1)),
                          blacklist=np.asarray(blacklist, np.int64).reshape(-1, 2))


def _sub(images, scores=None):
    images = np.asarray(images, np.int64)
    scores = np.ones(len(images)) if scores is None else np.asarray(scores, float)
    return DetSubmission(images, np.ones(len(images), np.int64), scores, np.tile([10.0, 10.0, 29.0, 29.0], (len(images), 1)))


def test_identical_submissions_differ_by_nothing_on_every_draw():
    gt, sub = _gt(), _sub([11, 12, 13], [0.9, 0.8, 0.7])
    boot = paired_map_bootstrap(sub, sub, gt, draws=50)
    assert boot["delta"] == boot["low"] == boot["high"] == 0.0 and boot["share_positive"] == 0.0


def test_difference_by_hand_and_never_behind():
    # a finds all three objects (AP 1); b only the first image's (AP 1/3): delta 2/3. On a draw of
    # copies of the first image alone both are 1, so b is never ahead and the interval starts at 0.
    gt = _gt()
    boot = paired_map_bootstrap(_sub([11, 12, 13]), _sub([11]), gt, draws=400, seed=3)
    assert boot["delta"] == pytest.approx(2 / 3)
    assert 0.0 <= boot["low"] < boot["delta"] < boot["high"] <= 1.0
    assert 0.9 < boot["share_positive"] < 1.0


def test_the_whole_list_scores_as_the_official_scorer_does():
    rng = np.random.default_rng(0)
    n = 7
    gt = DetGroundTruth(stems=[str(i) for i in range(n)], image_index=np.arange(1, n + 1) * 3,
                        object_image=np.repeat(np.arange(n), 2), object_class=np.tile([1, 2], n),
                        object_boxes=np.tile([[5.0, 5.0, 40.0, 40.0], [50.0, 50.0, 90.0, 80.0]], (n, 1)),
                        blacklist=np.array([[6, 2], [12, 1]]))
    m = 40
    sub = DetSubmission(rng.choice(gt.image_index, m), rng.integers(1, 3, m), rng.random(m),
                        np.tile([5.0, 5.0, 40.0, 40.0], (m, 1)) + rng.normal(0, 8, (m, 4)).clip(-4, 50))
    official = evaluate_det(sub, gt)["mAP"]
    assert _Resampler(sub, gt).map(np.arange(n)) == pytest.approx(official, abs=1e-12)
    # a blacklisted (image, class) pair stays blacklisted in its copies: drawing image 1 (index 6, class 2
    # blacklisted) twice scores class 2 over no objects of it there
    picks = np.array([1, 1, 0])
    copy = DetGroundTruth(stems=["a", "b", "c"], image_index=np.array([1, 2, 3]), object_image=np.repeat([0, 1, 2], 2),
                          object_class=np.tile([1, 2], 3), object_boxes=gt.object_boxes[:6],
                          blacklist=np.array([[1, 2], [2, 2]]))
    rows = [np.flatnonzero(sub.image_index == gt.image_index[p]) for p in picks]
    copied = DetSubmission(np.concatenate([np.full(len(r), k + 1) for k, r in enumerate(rows)]),
                           np.concatenate([sub.class_id[r] for r in rows]), np.concatenate([sub.score[r] for r in rows]),
                           np.concatenate([sub.boxes[r] for r in rows]))
    assert _Resampler(sub, gt).map(picks) == pytest.approx(evaluate_det(copied, copy)["mAP"], abs=1e-12)
