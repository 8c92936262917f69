"""Anchors: count, positions, order and the stride taken from the backbone."""
import math

import pytest
import torch

from ilsvrc_pipe.models.localization.anchors import PerClassAnchorGenerator, base_anchors
from ilsvrc_pipe.models.localization.per_class_rpn import PerClassRPN

TINY = dict(depth=18, width=0.125, stem_kernel=3, stem_stride=1, stem_pool=False)



def test_base_anchors_have_the_scale_as_side_and_ratio_as_height_over_width():
    anchors = base_anchors((16, 32), (0.5, 1.0, 2.0))
    assert anchors.shape == (6, 4)
    w, h = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    torch.testing.assert_close(w * h, torch.tensor([256.0] * 3 + [1024.0] * 3))
    torch.testing.assert_close(h / w, torch.tensor([0.5, 1.0, 2.0] * 2))
    torch.testing.assert_close(anchors[:, :2] + anchors[:, 2:], torch.zeros(6, 2))  # centred on 0


def test_grid_covers_every_position_in_y_x_a_order():
    gen = PerClassAnchorGenerator((8, 16), (0.5, 1.0, 2.0), stride=4)
    anchors = gen((3, 5))
    assert gen.num_anchors == 6
    assert anchors.shape == (3 * 5 * 6, 4)
    grid = anchors.view(3, 5, 6, 4)
    centres = (grid[..., :2] + grid[..., 2:]) / 2
    for y in range(3):
        for x in range(5):
            expected = torch.tensor([(x + 0.5) * 4, (y + 0.5) * 4]).expand(6, 2)
            torch.testing.assert_close(centres[y, x], expected)
    # every position has the same shapes: translation invariance
    torch.testing.assert_close(grid[2, 4] - grid[0, 0], torch.tensor([16.0, 8.0, 16.0, 8.0]).expand(6, 4))


def test_offset_zero_puts_centres_on_cell_corners():
    anchors = PerClassAnchorGenerator((2,), (1.0,), stride=8, offset=0.0)((1, 2))
    torch.testing.assert_close(anchors, torch.tensor([[-1.0, -1.0, 1.0, 1.0], [7.0, -1.0, 9.0, 1.0]]))


@pytest.mark.parametrize("scales, ratios", [((), (1.0,)), ((8,), ()), ((-1,), (1.0,)), ((8,), (0.0,))])
def test_bad_anchor_settings_are_refused(scales, ratios):
    with pytest.raises(ValueError):
        PerClassAnchorGenerator(scales, ratios, stride=4)


@pytest.mark.parametrize("out_index, stride", [(2, 4), (3, 8)])
def test_rpn_takes_the_stride_of_its_feature_stage(out_index, stride):
    model = PerClassRPN(dict(TINY, out_indices=(out_index,)), num_classes=3,
                        anchor_scales=(8, 16), anchor_ratios=(1.0, 2.0), head_channels=None)
    assert model.stride == stride
    logits, deltas = model(torch.zeros(2, 3, 32, 48))
    n = math.ceil(32 / stride) * math.ceil(48 / stride) * 4
    assert logits.shape == (2, n, 3) and deltas.shape == (2, n, 3, 4)
