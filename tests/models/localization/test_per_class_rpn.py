"""Per-class RPN: per-class head layout, loss masking, proposal modes mapped back to the image,
classifier initialisation, and a short training sanity run (its crop dataset: tests/data/test_loc_crops.py)."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper

from ilsvrc_pipe.data.loc_crops import rpn_collate
from ilsvrc_pipe.models.backbone.classifier_init import classifier_backbone_state, read_state_dict
from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
from ilsvrc_pipe.models.localization.per_class_rpn import PerClassRPN, propose_center_crop, propose_dense
from ilsvrc_pipe.ops import box_iou
from ilsvrc_pipe.ops.box_coder import clip_boxes, clip_inclusive, continuous_to_inclusive
from ilsvrc_pipe.registry import MODELS

TINY = dict(depth=18, width=0.125, stem_kernel=3, stem_stride=1, stem_pool=False)



def tiny_rpn(**kwargs) -> PerClassRPN:
    torch.manual_seed(0)
    args = dict(backbone=dict(TINY, out_indices=(3,)), num_classes=4, anchor_scales=(8, 16),
                anchor_ratios=(1.0,), head_channels=8)
    return PerClassRPN(**{**args, **kwargs})


SHARED = dict(class_agnostic_reg=True, shared_objectness=True)


@pytest.mark.parametrize("shared", [{}, SHARED], ids=["per_class", "shared_reg_objectness"])
def test_registered_and_sliced_head_matches_full_head(shared):
    model = MODELS.build(dict(type="PerClassRPN", backbone=TINY, num_classes=5,
                              anchor_scales=(8, 16), anchor_ratios=(0.5, 2.0), head_channels=8, **shared))
    if shared:   # non-zero objectness, so that leaving it out of the sliced head would show
        with torch.no_grad():
            model.objectness.bias.normal_()
    feat = model.features(torch.randn(2, 3, 32, 32))
    logits, deltas = model.head(feat)
    classes = torch.tensor([3, 0])
    sub_logits, sub_deltas = model.head(feat, classes)
    torch.testing.assert_close(sub_logits, logits[:, :, classes])
    torch.testing.assert_close(sub_deltas, deltas[:, :, classes])


def test_only_the_ground_truth_class_gets_gradient():
    model = tiny_rpn(num_samples=8)
    anchors = model.anchors(torch.zeros(1, 1, 4, 4))           # 32 x 32 input, stride 8
    gt = continuous_to_inclusive(anchors[[9, 21]])             # two exact anchors -> positives
    samples = [dict(boxes=gt[:1], label=0), dict(boxes=gt[1:], label=2)]
    losses = model(torch.randn(2, 3, 32, 32), samples, mode="loss")
    assert set(losses) == {"loss_cls", "loss_reg"} and losses["loss_reg"] > 0
    sum(losses.values()).backward()
    a, d = model.num_anchors, model.cls.in_channels
    cls_grad = model.cls.weight.grad.view(a, 4, d).abs().sum(dim=(0, 2))
    reg_grad = model.reg.weight.grad.view(a, 4, 4, d).abs().sum(dim=(0, 2, 3))
    cls_bias = model.cls.bias.grad.view(a, 4).abs().sum(0)
    reg_bias = model.reg.bias.grad.view(a, 4, 4).abs().sum((0, 2))
    for grad in (cls_grad, reg_grad, cls_bias, reg_bias):
        assert grad[0] > 0 and grad[2] > 0
        assert grad[1] == 0 and grad[3] == 0
    assert model.conv.weight.grad.abs().sum() > 0 and model.backbone.stem.conv.weight.grad.abs().sum() > 0


def test_shared_regressor_and_objectness_are_the_same_for_every_class():
    model = tiny_rpn(num_classes=5, **SHARED)
    assert model.reg.out_channels == model.num_anchors * 4
    assert model.objectness.out_channels == model.num_anchors
    with torch.no_grad():
        model.objectness.bias.normal_()
    feat = model.features(torch.randn(2, 3, 32, 32))
    logits, deltas = model.head(feat)
    torch.testing.assert_close(deltas[:, :, 0], deltas[:, :, 3])      # one regressor for all classes
    objectness, model.objectness = model.objectness, None
    per_class, _ = model.head(feat)                                   # the class terms alone
    model.objectness = objectness
    shared = logits - per_class
    torch.testing.assert_close(shared, shared[..., :1].expand_as(shared))   # same term for every class
    assert shared.abs().max() > 0


def test_shared_parts_learn_from_every_class_the_class_logits_from_their_own():
    model = tiny_rpn(num_samples=8, **SHARED)
    anchors = model.anchors(torch.zeros(1, 1, 4, 4))
    gt = continuous_to_inclusive(anchors[[9, 21]])
    losses = model(torch.randn(2, 3, 32, 32), [dict(boxes=gt[:1], label=0), dict(boxes=gt[1:], label=2)],
                   mode="loss")
    sum(losses.values()).backward()
    a, d = model.num_anchors, model.cls.in_channels
    cls_grad = model.cls.weight.grad.view(a, 4, d).abs().sum(dim=(0, 2))
    assert cls_grad[0] > 0 and cls_grad[2] > 0 and cls_grad[1] == 0 and cls_grad[3] == 0
    assert model.objectness.weight.grad.abs().sum() > 0 and model.reg.weight.grad.abs().sum() > 0


def test_pseudo_collated_samples_train_through_the_runner_interface():
    model = tiny_rpn()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    items = [dict(inputs=torch.randn(3, 32, 32),
                  data_samples=dict(boxes=torch.tensor([[4.0, 4.0, 19.0, 19.0]]), label=1))] * 2
    for batch in (pseudo_collate(items), rpn_collate(items)):
        log = model.train_step(batch, wrapper)
        assert torch.isfinite(log["loss"])


def zero_regression(model: PerClassRPN) -> PerClassRPN:
    with torch.no_grad():
        model.reg.weight.zero_()
        model.reg.bias.zero_()
    return model


def anchors_in_image_frame(model, crop, offset, factor, image_size):
    """Expected proposals of a zero-regression model: the input's anchors, clipped, mapped back."""
    side = -(-crop[0] // model.stride), -(-crop[1] // model.stride)
    boxes = clip_boxes(model.anchor_generator(side), crop)
    boxes = boxes[((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)]
    factors = torch.tensor([factor, factor] * 2 if isinstance(factor, float) else list(factor) * 2)
    boxes = (boxes + torch.tensor([offset[0], offset[1]] * 2)) / factors
    return clip_inclusive(continuous_to_inclusive(boxes), image_size)


def as_set(boxes):
    return {tuple(round(v, 3) for v in row) for row in boxes.tolist()}


def test_center_crop_mode_maps_anchors_back_to_the_original_frame():
    model = zero_regression(tiny_rpn(nms_iou=1.0, top_k=10_000))
    image = torch.randn(3, 80, 120)          # resized to 32 x 48 (factor 0.4), centre crop at x = 8
    out = propose_center_crop(model, [image, image[:, :, :80]], [[1, 3], [2]], scale=32, crop=32)
    assert set(out[0]) == {1, 3} and set(out[1]) == {2}
    boxes = out[0][1].boxes
    expected = anchors_in_image_frame(model, (32, 32), (8, 0), 0.4, (80, 120))
    assert as_set(boxes) == as_set(expected) and len(boxes) == len(expected)
    # anchor [8, 8, 16, 16) of the crop -> [16, 8, 24, 16) resized -> [40, 20, 60, 40) original
    assert (40.0, 20.0, 59.0, 39.0) in as_set(boxes)
    scores = out[0][1].scores
    assert (scores[:-1] >= scores[1:]).all()
    # the square image: resized to 32 x 32 (factor 0.4), no offset
    assert as_set(out[1][2].boxes) == as_set(anchors_in_image_frame(model, (32, 32), (0, 0), 0.4, (80, 80)))


def test_several_classes_in_one_pass_equal_one_class_at_a_time():
    model = tiny_rpn(nms_iou=0.5, top_k=5)
    image = torch.randn(3, 40, 56)
    both = propose_center_crop(model, [image], [[0, 3]], scale=32)[0]
    for c in (0, 3):
        alone = propose_center_crop(model, [image], [[c]], scale=32)[0][c]
        torch.testing.assert_close(both[c].boxes, alone.boxes)
        torch.testing.assert_close(both[c].scores, alone.scores)
        assert len(alone.boxes) <= 5


def test_dense_mode_merges_scales_in_the_original_frame():
    model = zero_regression(tiny_rpn(nms_iou=1.0, top_k=10_000))
    image = torch.randn(3, 60, 90)
    out = propose_dense(model, image, [2], scales=(30, 45))[2]
    expected = torch.cat([anchors_in_image_frame(model, (30, 45), (0, 0), 0.5, (60, 90)),
                          anchors_in_image_frame(model, (45, 68), (0, 0), (68 / 90, 0.75), (60, 90))])
    assert len(out.boxes) == len(expected)
    assert as_set(out.boxes) == as_set(expected)
    model.top_k = 7
    assert len(propose_dense(model, image, [2], scales=(30, 45))[2].boxes) == 7


def test_backbone_loads_from_a_classifier_state_dict(tmp_path):
    clf = ResNetClassifier(dict(TINY), num_classes=4)
    torch.save({"meta": {}, "state_dict": clf.state_dict()}, tmp_path / "clf.pth")
    missing = tiny_rpn(init_cfg=dict(type="Classifier", checkpoint=str(tmp_path / "absent.pth")))
    with pytest.raises(FileNotFoundError):  # built without reading it: the file is read by init_weights
        missing.init_weights()
    model = tiny_rpn(init_cfg=dict(type="Classifier", checkpoint=str(tmp_path / "clf.pth")))
    model.init_weights()
    for key, value in classifier_backbone_state(clf.state_dict()).items():
        torch.testing.assert_close(model.backbone.state_dict()[key], value)
    assert "fc.weight" in read_state_dict(tmp_path / "clf.pth")
    with pytest.raises(ValueError):
        classifier_backbone_state({"fc.weight": torch.zeros(1)})


def synthetic_batch(n: int = 8, size: int = 32, seed: int = 0):
    """Noise images with one coloured square; the colour is the class."""
    g = torch.Generator().manual_seed(seed)
    images, samples = torch.randn(n, 3, size, size, generator=g) * 0.3, []
    for i in range(n):
        side = int(torch.randint(10, 20, (), generator=g))
        x, y = (int(v) for v in torch.randint(0, size - side, (2,), generator=g))
        label = i % 2
        images[i, label, y: y + side, x: x + side] += 2.0
        samples.append(dict(boxes=torch.tensor([[x, y, x + side - 1, y + side - 1]], dtype=torch.float32),
                            label=label))
    return images, samples


@pytest.mark.parametrize("shared", [False, True], ids=["per_class", "shared_reg_objectness"])
def test_rpn_loss_goes_down_on_synthetic_images(shared):
    torch.manual_seed(0)
    model = PerClassRPN(dict(TINY, out_indices=(2,)), num_classes=2, anchor_scales=(12, 20),
                        anchor_ratios=(1.0,), head_channels=16, num_samples=16,
                        class_agnostic_reg=shared, shared_objectness=shared)
    images, samples = synthetic_batch()
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(40):
        losses = model(images, samples, mode="loss")
        loss = sum(losses.values())
        optim.zero_grad()
        loss.backward()
        optim.step()
        history.append(loss.item())
    assert np.mean(history[-5:]) < 0.3 * np.mean(history[:5])
    model.eval()
    top1 = [p.boxes[:1] for p in model(images, samples, mode="predict")]
    ious = [box_iou(t.numpy(), s["boxes"].numpy())[0, 0] for t, s in zip(top1, samples)]
    assert np.mean(ious) > 0.5                      # the GT class's best proposal finds the square
