"""Trivial baselines, checked against a direct computation of their boxes' IoU with the ground truth."""
import numpy as np

from ilsvrc_pipe.data.loc_records import load_loc_records, mean_relative_box_size
from ilsvrc_pipe.evaluation.baselines import baseline_boxes, draw_prior_guesses, evaluate_baselines
from ilsvrc_pipe.ops.boxes import box_iou


def _direct_gt_class_error(val, boxes):
    wrong = []
    for i, row in enumerate(val.images.itertuples()):
        if row.blacklisted:
            continue
        gt = val.boxes[(val.boxes.image_id == row.image_id) & (val.boxes.wnid == row.wnid)]
        iou = box_iou(boxes[i:i + 1], gt[["x1", "y1", "x2", "y2"]].to_numpy())
        wrong.append(iou.max() < 0.5)
    return float(np.mean(wrong))


def test_baselines_match_direct_iou(smoke_root):
    res = evaluate_baselines(smoke_root)
    train, val = load_loc_records(smoke_root, "train"), load_loc_records(smoke_root, "val")
    full = baseline_boxes("full-image", val.images)
    assert (full[:, 2] == val.images.width - 1).all() and (full[:, :2] == 0).all()
    assert abs(res["full-image"]["gt_class_error"] - _direct_gt_class_error(val, full)) < 1e-12
    center = baseline_boxes("center", val.images, mean_relative_box_size(train))
    assert abs(res["center"]["gt_class_error"] - _direct_gt_class_error(val, center)) < 1e-12
    for row in res.values():
        assert row["gt_class_error"] <= row["top5_error"] <= row["top1_error"] <= 1


def test_prior_draw_is_distinct_and_follows_prior():
    prior = np.array([0.7, 0.2, 0.1, 0.0, 0.0, 0.0])
    g = draw_prior_guesses(prior, 20000, 5, seed=0)
    assert g.shape == (20000, 3)  # only 3 classes have mass
    assert all(len(set(r)) == 3 for r in g[:100])
    first = np.bincount(g[:, 0], minlength=6) / len(g)
    np.testing.assert_allclose(first[:3], prior[:3], atol=0.02)
