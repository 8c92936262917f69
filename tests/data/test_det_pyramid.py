"""The DET test pyramid: every paper scale stays its own level at ImageNet's aspect ratios, a small
cap merges levels instead of failing, mini's images resize as before, and the ``det.test`` check."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

from ilsvrc_pipe.data.det_pyramid import check_test_pyramid, det_test_inputs, pyramid_levels, resized_size
from ilsvrc_pipe.data.det_train import PackDetPyramid
from ilsvrc_pipe.synthetic.plan import ASPECT_RANGE, PRESETS
from ilsvrc_pipe.utils.errors import UserInputError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PAPER = CONFIGS / "ilsvrc2015/ilsvrc2015.py"
SHIPPED = [PAPER, CONFIGS / "mini/pipeline.py", CONFIGS / "mini/smoke.py", CONFIGS / "mini/cluttered.py"]
# (width, height): photos whose pyramid collapsed under one cap of 1000, and aspect ratios 0.3 and 3.0 both ways
IMAGES = [(500, 281), (500, 375), (375, 500), (1000, 200), (300, 1000), (1000, 300), (600, 200), (200, 600)]


def det_test(path: Path) -> dict:
    return Config.fromfile(str(path)).det["test"].to_dict()


def pack(inputs: dict, width: int, height: int) -> dict:
    img = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return PackDetPyramid(**inputs)({"img": img, "image_id": "x", "image_index": 1, "ori_shape": (height, width)})


@pytest.mark.parametrize("width,height", IMAGES)
def test_the_paper_pyramid_keeps_every_scale_at_its_shorter_side(width, height):
    inputs = det_test_inputs(det_test(PAPER))
    levels = pyramid_levels(height, width, inputs["pyramid"], inputs["pyramid_max_size"])
    assert [side for side, _ in levels] == [200, 400, 600, 800, 1000]
    assert [min(size) for _, size in levels] == [200, 400, 600, 800, 1000]
    # the single-scale input is the paper's as before: shorter side 600, longer side at most 1000
    primary = resized_size(height, width, inputs["scale"], inputs["max_size"])
    assert max(primary) <= 1000 and (min(primary) == 600 or max(primary) == 1000)


@pytest.mark.parametrize("width,height", IMAGES[:4])
def test_the_packed_paper_pyramid_has_distinct_increasing_levels(width, height):
    item = pack(det_test_inputs(det_test(PAPER)), width, height)
    shapes = [tuple(x.shape[1:]) for x in item["inputs"]["pyramid"]]
    assert len(shapes) == 5 and all(a[0] < b[0] and a[1] < b[1] for a, b in zip(shapes, shapes[1:]))
    factors = [f for f, _ in item["data_samples"]["scale_factors"]]
    assert all(a < b for a, b in zip(factors, factors[1:]))
    assert item["data_samples"]["pyramid_scales"] == [200, 400, 600, 800, 1000]


def test_a_small_cap_merges_levels_instead_of_failing():
    # one cap of 1000 for the whole pyramid: 800 and 1000 are both 750 x 1000 on a 4:3 photo
    paper = (200, 400, 600, 800, 1000)
    assert pyramid_levels(375, 500, paper, 1000) == [(200, (200, 267)), (400, (400, 533)), (600, (600, 800)),
                                                      (800, (750, 1000))]
    assert [s for s, _ in pyramid_levels(281, 500, paper, 1000)] == [200, 400, 600]
    assert pyramid_levels(200, 1000, paper, 1000) == [(200, (200, 1000))]   # one level left
    for width, height in IMAGES[:4]:
        item = pack(dict(scale=600, max_size=1000, pyramid=paper, pyramid_max_size=1000), width, height)
        shapes = [tuple(x.shape[1:]) for x in item["inputs"]["pyramid"]]
        assert shapes == [size for _, size in pyramid_levels(height, width, paper, 1000)]
        assert len(item["data_samples"]["scale_factors"]) == len(shapes) == len(item["data_samples"]["pyramid_scales"])


def test_the_primary_input_is_its_own_and_shared_with_its_level_when_the_sizes_agree():
    inputs = det_test_inputs(det_test(PAPER))
    item = pack(inputs, 500, 375)   # 600 x 800 either way: the same tensor
    assert item["inputs"]["primary"] is item["inputs"]["pyramid"][2]
    assert item["data_samples"]["scale_factor"] == item["data_samples"]["scale_factors"][2]
    item = pack(inputs, 500, 281)   # primary capped at 1000 (562 x 1000); the 600 level is 600 x 1068
    assert tuple(item["inputs"]["primary"].shape[1:]) == (562, 1000)
    assert tuple(item["inputs"]["pyramid"][2].shape[1:]) == (600, 1068)
    assert all(x is not item["inputs"]["primary"] for x in item["inputs"]["pyramid"])


@pytest.mark.parametrize("config,preset", [("mini/pipeline.py", "mini"), ("mini/smoke.py", "smoke"),
                                           ("mini/cluttered.py", "cluttered")])
def test_mini_images_resize_as_under_the_single_cap(config, preset):
    """Every size the preset's generator can draw gets the same pyramid under pyramid_max_size as
    under max_size (the cap before the pyramid had its own), and its primary input is a level."""
    inputs = det_test_inputs(det_test(CONFIGS / config))
    lo, hi = PRESETS[preset]["short_side"]
    for short in range(lo, hi + 1):
        for long in range(short, int(round(short * ASPECT_RANGE[1])) + 1):
            for h, w in ((short, long), (long, short)):
                levels = pyramid_levels(h, w, inputs["pyramid"], inputs["pyramid_max_size"])
                assert levels == pyramid_levels(h, w, inputs["pyramid"], inputs["max_size"]), (h, w)
                assert len(levels) == len(inputs["pyramid"])
                assert resized_size(h, w, inputs["scale"], inputs["max_size"]) in [s for _, s in levels]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_shipped_configs_pass_the_check(path):
    check_test_pyramid(det_test(path))


def test_defaults_without_a_pyramid():
    assert det_test_inputs({"scale": 600, "max_size": 1000}) == dict(scale=600, max_size=1000, pyramid=(600,),
                                                                    pyramid_max_size=1000)


GOOD = dict(scale=600, max_size=1000, pyramid=(200, 400, 600, 800, 1000), pyramid_max_size=4000, target_size=224)


@pytest.mark.parametrize("change,match", [
    (dict(scale=0), "det.test.scale: expected a positive integer"),
    (dict(scale=True), "det.test.scale: expected a positive integer"),
    (dict(scale=500), "det.test.scale: 500 is not one of the pyramid"),
    (dict(pyramid=()), "det.test.pyramid: expected a non-empty list"),
    (dict(pyramid=(200, -400, 600)), "det.test.pyramid: expected positive integers"),
    (dict(pyramid=(200, 600, 600)), "det.test.pyramid: 600 is listed twice"),
    (dict(pyramid=(600, 200)), "det.test.pyramid: expected increasing"),
    (dict(max_size=500), "det.test.max_size: 500 is below the scale 600"),
    (dict(max_size=-1), "det.test.max_size: expected a positive integer or None"),
    (dict(pyramid_max_size=900), "det.test.pyramid_max_size: 900 is below the largest pyramid scale 1000"),
    (dict(pyramid_max_size="4000"), "det.test.pyramid_max_size: expected a positive integer or None"),
    (dict(target_size=0), "det.test.target_size: expected a positive"),
    (dict(nms_iou=1.5), r"det.test.nms_iou: expected an overlap in \(0, 1\]"),
    (dict(vote_iou=0), r"det.test.vote_iou: expected an overlap in \(0, 1\]"),
    (dict(max_per_image=0), "det.test.max_per_image: expected a positive integer"),
])
def test_bad_settings_are_one_line_naming_the_key(change, match):
    with pytest.raises(UserInputError, match=match) as err:
        check_test_pyramid({**GOOD, **change})
    assert "\n" not in str(err.value)


def test_a_missing_pyramid_cap_falls_back_to_max_size_and_is_checked_against_the_pyramid():
    settings = {k: v for k, v in GOOD.items() if k != "pyramid_max_size"}
    assert det_test_inputs(settings)["pyramid_max_size"] == 1000
    with pytest.raises(UserInputError, match="det.test.pyramid_max_size: not set, so it is max_size 800"):
        check_test_pyramid({**settings, "pyramid": (200, 400, 600, 800, 1000), "max_size": 800, "scale": 600})
    with pytest.raises(UserInputError, match="det.test.scale: missing"):
        check_test_pyramid({"pyramid": (600,)})
    with pytest.raises(UserInputError, match="det.test: expected a dict"):
        check_test_pyramid([600])
