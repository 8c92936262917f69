"""Test-time modes of the C4 detector: every row's path runs and keeps its promises."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ilsvrc_pipe.data.det_pyramid import det_test_inputs
from ilsvrc_pipe.data.det_train import PackDetPyramid
from ilsvrc_pipe.models.detection.c4 import C4FasterRCNN
from ilsvrc_pipe.models.detection.inference import (
    DetectionMode,
    Detections,
    MemberView,
    detect,
    detect_image,
    per_class_predictions,
    regressed_boxes,
    to_original_image,
)

PAPER = Path(__file__).resolve().parents[3] / "configs/ilsvrc2015/ilsvrc2015.py"


def tiny(seed=0, **kw):
    torch.manual_seed(seed)
    return C4FasterRCNN(dict(depth=18, width=0.125), num_classes=3, anchor_sizes=(16, 32), anchor_ratios=(1.0,),
                        roi_output_size=4, rpn_post_nms_top_n=dict(training=20, testing=12), **kw).eval()


def pyramid():
    torch.manual_seed(5)
    return [torch.randn(3, 40, 56), torch.randn(3, 64, 90)]


def test_per_class_predictions_and_regressed_boxes():
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
    boxes = torch.arange(24, dtype=torch.float32).view(2, 3, 4)
    b, s, lab = per_class_predictions(scores, boxes, threshold=0.15)
    assert lab.tolist() == [1, 2, 2] and s.tolist() == pytest.approx([0.7, 0.2, 0.4])
    assert b[0].tolist() == [4, 5, 6, 7]
    assert regressed_boxes(scores, boxes).tolist() == [[4, 5, 6, 7], [20, 21, 22, 23]]   # best object class


def test_every_mode_gives_sorted_detections_inside_the_image():
    a, b = tiny(0), tiny(1, context=True)
    views = [MemberView(a, pyramid(), 1), MemberView(b, pyramid(), 1)]
    for members, mode in [([views[0]], DetectionMode()), ([views[0]], DetectionMode(refine=True)),
                          ([views[1]], DetectionMode(refine=True, multiscale=True, target_size=24)),
                          (views, DetectionMode(refine=True, multiscale=True, target_size=24))]:
        dets = detect(members, mode)
        assert dets.boxes.shape == (len(dets.scores), 4) and len(dets.scores) <= mode.max_per_image
        assert ((dets.labels >= 1) & (dets.labels <= 3)).all()
        assert (dets.boxes[:, 2] <= 90).all() and (dets.boxes[:, 3] <= 64).all()
        if mode.refine:
            assert torch.all(dets.scores[:-1] >= dets.scores[1:])


def test_ensemble_of_one_member_twice_equals_the_member():
    a = tiny(0)
    one = detect([MemberView(a, pyramid(), 1)], DetectionMode(refine=True))
    two = detect([MemberView(a, pyramid(), 1), MemberView(a, pyramid(), 1)], DetectionMode(refine=True))
    torch.testing.assert_close(one.scores, two.scores)
    torch.testing.assert_close(one.boxes, two.boxes)


def test_multiscale_uses_the_pyramid():
    a = tiny(0)
    single = detect([MemberView(a, pyramid(), 1)], DetectionMode(refine=False))
    multi = detect([MemberView(a, pyramid(), 1)], DetectionMode(refine=False, multiscale=True, target_size=24))
    assert not (len(single.scores) == len(multi.scores) and torch.equal(single.scores, multi.scores))


def test_an_image_without_proposals_gives_no_detections():
    a = tiny(0)
    view = MemberView(a, pyramid(), 1)
    view._proposals = torch.zeros(0, 4)
    for mode in (DetectionMode(), DetectionMode(refine=True, multiscale=True, target_size=24)):
        dets = detect([view], mode)
        assert dets.boxes.shape == (0, 4) and dets.scores.numel() == 0


def counting_features(model):
    """Count the conv4 computations of ``model``."""
    calls = []
    real = model.features

    def features(batch):
        calls.append(tuple(batch.shape[-2:]))
        return real(batch)

    model.features = features
    return calls


def test_a_primary_input_of_its_own_shares_conv4_with_the_level_of_its_size():
    a = tiny(0)
    levels = pyramid()
    calls = counting_features(a)
    view = MemberView(a, levels, levels[1])          # the packer hands the same tensor
    detect([view], DetectionMode(multiscale=True, target_size=24))
    assert len(calls) == 2                            # the primary's conv4 is the second level's
    calls.clear()
    own = torch.randn(3, 48, 70)                      # a primary input of another size than every level
    view = MemberView(a, levels, own)
    assert view.size == (48, 70) and view.uses_pyramid(DetectionMode(multiscale=True))
    dets = detect([view], DetectionMode(refine=True, multiscale=True, target_size=24))
    assert len(calls) == 3 and (dets.boxes[:, 2] <= 70).all() and (dets.boxes[:, 3] <= 48).all()
    _, factors = view.pyramid_features()
    assert factors == [40 / 48, 64 / 48]


def test_a_pyramid_merged_to_one_level_still_runs():
    a = tiny(0)
    levels = pyramid()
    mode = DetectionMode(refine=True, multiscale=True, target_size=24)
    same = MemberView(a, levels[1:], levels[1])      # the level is the primary input: single-scale pooling
    assert not same.uses_pyramid(mode)
    other = MemberView(a, levels[:1], levels[1])      # one level of another size: pooled from it
    assert other.uses_pyramid(mode)
    for view in (same, other):
        dets = detect([view], mode)
        assert (dets.boxes[:, 2] <= 90).all() and (dets.boxes[:, 3] <= 64).all()


def test_the_multiscale_row_runs_on_the_paper_pyramid_at_imagenet_aspect_ratios():
    """Under one cap of 1000 for the whole pyramid these photos' levels collapsed and the maxout raised."""
    pack = PackDetPyramid(**det_test_inputs(Config.fromfile(str(PAPER)).det["test"]))
    torch.manual_seed(0)
    model = C4FasterRCNN(dict(depth=18, width=0.25), num_classes=3, anchor_sizes=(64, 128, 256),
                         anchor_ratios=(1.0,), roi_output_size=4,
                         rpn_post_nms_top_n=dict(training=20, testing=12)).eval()
    rng = np.random.default_rng(0)
    for width, height in [(500, 281), (500, 375), (375, 500), (1000, 200)]:
        img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        item = pack({"img": img, "image_id": "x", "image_index": 1, "ori_shape": (height, width)})
        view = MemberView(model, item["inputs"]["pyramid"], item["inputs"]["primary"])
        dets = detect([view], DetectionMode(refine=True, multiscale=True))
        h, w = view.size
        assert len(view.pyramid) == 5 and len(dets.scores) > 0, (width, height)
        assert (dets.boxes[:, 0] >= 0).all() and (dets.boxes[:, 1] >= 0).all()
        assert (dets.boxes[:, 2] <= w).all() and (dets.boxes[:, 3] <= h).all()


def test_to_original_image_scales_back_converts_and_clips():
    dets = Detections(torch.tensor([[10.0, 20.0, 50.0, 40.0], [0.0, 0.0, 400.0, 300.0]]), torch.ones(2), torch.ones(2))
    meta = {"scale_factor": (2.0, 2.0), "scale_factors": [(0.5, 0.5), (2.0, 2.0)], "ori_size": (100, 150)}
    boxes = to_original_image(dets, meta)
    # continuous [5, 10, 25, 20) at scale 1 -> inclusive [5, 10, 24, 19]; the second box clips to the image
    assert boxes.tolist() == [[5, 10, 24, 19], [0, 0, 149, 99]]


def test_to_original_image_keeps_sub_pixel_boxes_ordered():
    # 0.02 px high at the top border: inclusive y2 = -0.98 would clip to 0, above y1 = 0.01
    dets = Detections(torch.tensor([[12.0, 0.01, 32.0, 0.03]]), torch.ones(1), torch.ones(1))
    x1, y1, x2, y2 = to_original_image(dets, {"scale_factor": (1.0, 1.0), "ori_size": (60, 80)})[0]
    assert 0 <= x1 <= x2 <= 79 and 0 <= y1 <= y2 <= 59


def test_detect_image_is_detect_in_the_original_frame():
    """What the det stage and tools/predict.py both call: detect's detections, on the CPU, each box
    converted by to_original_image."""
    model = tiny()
    meta = {"scale_factor": (1.5, 1.5), "ori_size": (40, 50)}
    mode = DetectionMode(refine=True)
    calls = []

    def infer(fn, *args):
        calls.append(fn)
        return fn(*args)

    final = detect_image([MemberView(model, pyramid(), 1)], mode, meta, infer)
    raw = detect([MemberView(model, pyramid(), 1)], mode)
    assert calls == [detect] and final.boxes.dtype == torch.float64
    assert torch.equal(final.scores, raw.scores) and torch.equal(final.labels, raw.labels)
    assert final.boxes.numpy().tolist() == to_original_image(raw.cpu(), meta).tolist()


class _Negate(torch.nn.Module):
    def forward(self, x):
        return -x


@pytest.mark.parametrize("maxout, expected", [("before_conv5", -40.0), ("after_conv5", -8.0)])
def test_maxout_placement_by_hand(maxout, expected):
    # conv4 = a ramp of value x at column x; the level of factor 0.5 carries 10x that ramp. The RoI
    # [0, 0, 8, 8] (target 4) pairs scale 0.5 (roi_pool over columns 0..4: max 40) with scale 1 (columns
    # 0..8: max 8). conv5 = negation: maxout before conv5 gives -max(40, 8) = -40; the paper's order,
    # conv5 on each scale then maxout, gives max(-40, -8) = -8.
    model = tiny(0)
    model.features = lambda batch: batch[:, :1]     # conv4: the image's first channel, stride 1
    model.stride = 1
    model.backbone.layer4 = _Negate()               # conv5: negation
    model.roi_pooler.kind = "roi_pool"
    model.roi_pooler.output_size = (1, 1)
    ramp = torch.arange(16.0).view(1, 1, 16).expand(3, 16, 16)
    view = MemberView(model, [10 * ramp[:, :8, :8].clone(), ramp.clone()], 1)
    view._pyramid_feats = [10 * ramp[None, :1, :16, :16].clone(), ramp[None, :1].clone()]
    seen = {}
    model.predict_regions = lambda region_feat, context=None, image_of_roi=None: (
        seen.setdefault("feat", region_feat), (torch.zeros(1, 4), torch.zeros(1, 16)))[1]
    view.outputs(torch.tensor([[0.0, 0.0, 8.0, 8.0]]), DetectionMode(multiscale=True, target_size=4, maxout=maxout))
    torch.testing.assert_close(seen["feat"], torch.tensor([[expected]]))


def test_maxout_placement_is_checked():
    with pytest.raises(ValueError, match="det.test.maxout must be one of"):
        DetectionMode(multiscale=True, maxout="between")


def test_both_placements_run_and_differ_on_a_real_conv5():
    a = tiny(0)
    after = detect([MemberView(a, pyramid(), 1)], DetectionMode(multiscale=True, target_size=24))
    before = detect([MemberView(a, pyramid(), 1)], DetectionMode(multiscale=True, target_size=24, maxout="before_conv5"))
    assert DetectionMode().maxout == "after_conv5"
    assert not (len(after.scores) == len(before.scores) and torch.equal(after.scores, before.scores))
