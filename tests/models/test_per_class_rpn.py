"""Per-class RPN: per-class head layout, loss masking, proposal modes mapped back to the image,
classifier initialisation, the crop dataset, and a short training sanity run."""
import numpy as np
import pandas as pd
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from PIL import Image

from ilsvrc_pipe.data.loc_crops import RPNCropDataset, rpn_collate
from ilsvrc_pipe.data.loc_dataset import LocRecords
from ilsvrc_pipe.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ilsvrc_pipe.models.box_coder import clip_boxes, clip_inclusive, continuous_to_inclusive
from ilsvrc_pipe.models.per_class_rpn import (PerClassRPN, classifier_backbone_state,
                                              propose_center_crop, propose_dense, read_state_dict)
from ilsvrc_pipe.models.resnet import ResNetClassifier
from ilsvrc_pipe.ops import box_iou
from ilsvrc_pipe.registry import MODELS

TINY = dict(depth=18, width=0.125, stem_kernel=3, stem_stride=1, stem_pool=False)



def tiny_rpn(**kwargs) -> PerClassRPN:
    torch.manual_seed(0)
    args = dict(backbone=dict(TINY, out_indices=(3,)), num_classes=4, anchor_scales=(8, 16),
                anchor_ratios=(1.0,), head_channels=8)
    return PerClassRPN(**{**args, **kwargs})


def test_registered_and_sliced_head_matches_full_head():
    model = MODELS.build(dict(type="PerClassRPN", backbone=TINY, num_classes=5,
                              anchor_scales=(8, 16), anchor_ratios=(0.5, 2.0), head_channels=8))
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
    model = tiny_rpn(init_from_classifier=str(tmp_path / "clf.pth"))
    for key, value in classifier_backbone_state(clf.state_dict()).items():
        torch.testing.assert_close(model.backbone.state_dict()[key], value)
    assert "fc.weight" in read_state_dict(tmp_path / "clf.pth")
    with pytest.raises(ValueError):
        classifier_backbone_state({"fc.weight": torch.zeros(1)})


def write_image(path, height, width, box):
    pixels = np.zeros((height, width, 3), np.uint8)
    x1, y1, x2, y2 = box
    pixels[y1: y2 + 1, x1: x2 + 1] = 255
    Image.fromarray(pixels).save(path)


def records_of(tmp_path, height, width, box, wnid="n00000002", label=1):
    write_image(tmp_path / "a.png", height, width, box)
    images = pd.DataFrame(dict(image_id=["a"], path=[str(tmp_path / "a.png")], wnid=[wnid], label=[label],
                               width=[width], height=[height]))
    boxes = pd.DataFrame(dict(image_id=["a", "a"], wnid=[wnid] * 2, x1=[box[0], 5.0], y1=[box[1], 5.0],
                              x2=[box[2], 1.0], y2=[box[3], 9.0]))   # the second box is inverted: dropped
    return LocRecords(images, boxes)


def unnormalize(x):
    return x * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)


def test_crop_boxes_sit_on_the_object_pixels_after_crop_and_flip(tmp_path):
    ds = RPNCropDataset(records=records_of(tmp_path, 48, 64, (20, 5, 39, 24)), crop_size=48,
                        scale=(48, 48), flip=True)
    assert len(ds) == 1
    torch.manual_seed(0)
    flips = set()
    for _ in range(8):
        item = ds[0]
        sample = item["data_samples"]
        assert sample["label"] == 1 and sample["boxes"].shape == (1, 4)
        x1, y1, x2, y2 = sample["boxes"][0].round().int().tolist()
        assert (x2 - x1 + 1, y2 - y1 + 1) == (20, 20)
        pix = unnormalize(item["inputs"]).mean(0)
        assert pix[y1: y2 + 1, x1: x2 + 1].min() > 0.99
        mask = torch.ones_like(pix, dtype=torch.bool)
        mask[y1: y2 + 1, x1: x2 + 1] = False
        assert pix[mask].max() < 0.01
        flips.add(x1)
    assert len(flips) > 1


def test_a_box_mostly_cut_away_becomes_an_ignore_box(tmp_path):
    ds = RPNCropDataset(records=records_of(tmp_path, 32, 96, (70, 0, 95, 31)), crop_size=32,
                        scale=(32, 32), flip=False, max_tries=1, min_visible=0.5)
    torch.manual_seed(1)
    seen = set()
    for _ in range(40):
        item = ds[0]
        visible = int((unnormalize(item["inputs"]).mean(0)[0] > 0.5).sum())   # white columns
        boxes, cut = item["data_samples"]["boxes"], item["data_samples"]["ignore_boxes"]
        if visible >= 13:                       # >= half of the 26-pixel-wide object
            assert len(boxes) == 1 and len(cut) == 0
            assert boxes[0, 2] - boxes[0, 0] + 1 == pytest.approx(visible)
            seen.add("kept")
        elif visible > 0:
            assert len(boxes) == 0 and len(cut) == 1
            seen.add("cut")
        else:
            assert len(boxes) == 0 and len(cut) == 0
            seen.add("gone")
    assert seen == {"kept", "cut", "gone"}


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


def test_rpn_loss_goes_down_on_synthetic_images():
    torch.manual_seed(0)
    model = PerClassRPN(dict(TINY, out_indices=(2,)), num_classes=2, anchor_scales=(12, 20),
                        anchor_ratios=(1.0,), head_channels=16, num_samples=16)
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
