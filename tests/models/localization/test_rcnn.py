"""R-CNN rescorer: crop-and-warp geometry, per-class loss masking, test-time rescoring/moving
(its RoI-centric region dataset: tests/data/test_loc_crops.py)."""
import pytest
import torch
import torch.nn.functional as F

from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
from ilsvrc_pipe.models.localization.rcnn import RoIRCNN, best_boxes, refine_proposals
from ilsvrc_pipe.ops.geometry import warp_regions
from ilsvrc_pipe.registry import MODELS

TINY = dict(depth=18, width=0.125, stem_kernel=3, stem_stride=2, stem_pool=False)



def tiny_rcnn(**kwargs) -> RoIRCNN:
    torch.manual_seed(0)
    return RoIRCNN(**{**dict(backbone=TINY, num_classes=3, crop_size=16), **kwargs})


def test_crop_of_a_box_of_the_output_size_is_the_exact_sub_image():
    image = torch.randn(3, 20, 30)
    boxes = torch.tensor([[4.0, 2.0, 11.0, 9.0], [22.0, 12.0, 29.0, 19.0]])   # 8 x 8 inclusive
    crops = warp_regions(image, boxes, 8)
    torch.testing.assert_close(crops[0], image[:, 2:10, 4:12], atol=1e-6, rtol=0)
    torch.testing.assert_close(crops[1], image[:, 12:20, 22:30], atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", [7, 24, 64])
def test_warp_is_a_bilinear_resize_of_the_crop(size):
    image = torch.randn(3, 20, 30)
    whole = warp_regions(image, torch.tensor([[0.0, 0.0, 29.0, 19.0]]), size)[0]
    expected = F.interpolate(image[None], (size, size), mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(whole, expected, atol=1e-5, rtol=0)
    # an interior 10 x 10 box upsampled 2x: output pixel j samples x1 + (j + 0.5) / 2
    crop = warp_regions(image, torch.tensor([[5.0, 5.0, 14.0, 14.0]]), 20)[0]
    xs = 5 + (torch.arange(20) + 0.5) / 2 - 0.5          # in pixel-centre coordinates
    grid_x = (xs + 0.5) / 30 * 2 - 1                       # grid_sample, align_corners=False
    grid_y = (xs + 0.5) / 20 * 2 - 1
    grid = torch.stack(torch.meshgrid(grid_y, grid_x, indexing="ij")[::-1], dim=-1)[None]
    sampled = F.grid_sample(image[None], grid, mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(crop, sampled, atol=1e-5, rtol=0)


def test_context_padding_surrounds_the_unpadded_warp():
    image = torch.randn(3, 40, 40)
    box = torch.tensor([[10.0, 12.0, 25.0, 23.0]])
    padded = warp_regions(image, box, 16, context_pad=4)[0]
    inner = warp_regions(image, box, 8)[0]
    torch.testing.assert_close(padded[:, 4:12, 4:12], inner, atol=1e-5, rtol=0)
    outside = warp_regions(image, torch.tensor([[-20.0, -20.0, -13.0, -13.0]]), 8)[0]
    assert outside.abs().max() == 0                      # beyond the image: zeros = mean colour


def test_only_the_ground_truth_class_regressor_learns():
    model = MODELS.build(dict(type="RoIRCNN", backbone=TINY, num_classes=4, crop_size=16))
    labels = torch.tensor([0, 2, 4, 4])                  # two foreground, two background regions
    targets = torch.randn(4, 4)
    losses = model(torch.randn(4, 3, 16, 16), dict(labels=labels, deltas=targets), mode="loss")
    sum(losses.values()).backward()
    grad = model.fc_reg.weight.grad.view(4, 4, -1).abs().sum(dim=(1, 2))
    assert grad[0] > 0 and grad[2] > 0 and grad[1] == 0 and grad[3] == 0
    assert model.fc_cls.weight.grad.abs().sum(dim=1).min() > 0     # softmax: every class row


def test_init_from_classifier_copies_trunk_and_fc():
    clf = ResNetClassifier(TINY, num_classes=3)
    torch.nn.init.normal_(clf.fc.weight)
    model = tiny_rcnn()
    model.init_from_classifier({"state_dict": clf.state_dict()})
    torch.testing.assert_close(model.fc_cls.weight[:3], clf.fc.weight)
    torch.testing.assert_close(model.backbone.stem.conv.weight, clf.backbone.stem.conv.weight)


def test_classifier_init_cfg_reads_the_file_in_init_weights_only(tmp_path):
    clf = ResNetClassifier(TINY, num_classes=3)
    torch.nn.init.normal_(clf.fc.weight)
    torch.save(clf.state_dict(), tmp_path / "clf.pth")
    model = tiny_rcnn(init_cfg=dict(type="Classifier", checkpoint=str(tmp_path / "clf.pth")))
    assert not torch.equal(model.fc_cls.weight[:3], clf.fc.weight)   # construction reads no file
    model.init_weights()                                              # the Runner calls this
    torch.testing.assert_close(model.fc_cls.weight[:3], clf.fc.weight)


def test_refine_moves_rescores_and_crops_each_distinct_box_once():
    model = tiny_rcnn()
    with torch.no_grad():
        model.fc_reg.weight.zero_()
        model.fc_reg.bias.zero_()
        model.fc_reg.bias[4:8] = torch.tensor([1.0, 0.0, 0.0, 0.0])   # class 1: dx = 0.1 width
    seen = []
    model.backbone.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    image = torch.randn(3, 40, 60)
    shared = torch.tensor([[10.0, 10.0, 29.0, 29.0]])
    proposals = {1: torch.cat([shared, torch.tensor([[0.0, 0.0, 9.0, 9.0]])]),
                 2: torch.cat([shared, shared, torch.tensor([[50.0, 30.0, 59.0, 39.0]])])}
    out = refine_proposals(model, image, proposals, batch_size=2)
    assert sum(seen) == 3                                 # 3 distinct boxes of 5 proposals
    assert set(out) == {1, 2} and len(out[1].boxes) == 2 and len(out[2].boxes) == 3
    moved = out[1].boxes.tolist()
    assert (12.0, 10.0, 31.0, 29.0) in map(tuple, moved)   # 20 px wide: dx = 0.1 -> 2 px
    assert (1.0, 0.0, 10.0, 9.0) in map(tuple, moved)      # 10 px wide: 1 px
    assert {tuple(b) for b in out[2].boxes.tolist()} == {tuple(b) for b in proposals[2].tolist()}
    with torch.no_grad():
        probs = model.eval()(warp_regions(image, shared, 16), mode="predict")[0][0]
    assert out[1].scores[moved.index([12.0, 10.0, 31.0, 29.0])] == pytest.approx(probs[1].item())
    shared_rows = (out[2].boxes == shared).all(dim=1)
    torch.testing.assert_close(out[2].scores[shared_rows], probs[2].expand(2))
    assert (out[2].scores[:-1] >= out[2].scores[1:]).all()
    best = best_boxes(out)
    assert set(best) == {1, 2} and best[1][1] == pytest.approx(out[1].scores.max().item())
