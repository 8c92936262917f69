"""C4 Faster R-CNN: frozen batch norm through a training step, shapes, losses, ignore mask, init."""
import pytest
import torch

from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
from ilsvrc_pipe.models.detection.c4 import C4FasterRCNN, fast_rcnn_loss, pad_batch

TINY = dict(depth=18, width=0.125)


def tiny_detector(**kwargs) -> C4FasterRCNN:
    torch.manual_seed(0)
    args = dict(backbone=TINY, num_classes=3, anchor_sizes=(16, 32), anchor_ratios=(1.0,), roi_output_size=4,
                rpn_batch_size=16, roi_batch_size=8, rpn_pre_nms_top_n=dict(training=50, testing=50),
                rpn_post_nms_top_n=dict(training=20, testing=10))
    return C4FasterRCNN(**{**args, **kwargs})


def samples():
    return [{"boxes": torch.tensor([[4.0, 6.0, 30.0, 40.0]]), "labels": torch.tensor([2])},
            {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]   # a negative image


def norm_state(model):
    return {k: v.clone() for k, v in model.state_dict().items()
            if any(t in k for t in ("running_mean", "running_var", ".bn", "norm"))}


def test_training_step_leaves_every_batch_norm_bit_identical():
    model = tiny_detector(frozen_stages=-1)
    # non-trivial statistics, as a trained classifier would have
    for name, buf in model.backbone.named_buffers():
        if name.endswith("running_var"):
            buf.uniform_(0.5, 2.0)
        elif name.endswith(("running_mean", "bias")):
            buf.uniform_(-0.5, 0.5)
    before = {k: v.clone() for k, v in model.backbone.named_buffers()}
    assert any(".bn" in k for k in before) and not any(
        isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    images = [torch.randn(3, 48, 64), torch.randn(3, 40, 40)]
    losses = model(images, samples(), mode="loss")
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_box", "loss_cls", "loss_box"}
    sum(losses.values()).backward()
    opt.step()
    model.train()  # a parent's .train() must not unfreeze anything either
    after = dict(model.backbone.named_buffers())
    for k, v in before.items():
        assert torch.equal(after[k], v), k
    conv = model.backbone.layer3[0].conv1.weight
    assert conv.grad is not None and conv.grad.abs().sum() > 0   # convs do learn


def test_outputs_per_image_and_padding():
    model = tiny_detector().eval()
    batch, sizes = pad_batch([torch.ones(3, 20, 33), torch.ones(3, 35, 10)], 16)
    assert batch.shape == (2, 3, 48, 48) and sizes == [(20, 33), (35, 10)]
    assert batch[1, :, 35:].abs().sum() == 0
    out = model([torch.randn(3, 48, 64), torch.randn(3, 40, 40)], mode="predict")
    assert len(out) == 2
    for o, (h, w) in zip(out, [(48, 64), (40, 40)]):
        r = o["rois"].shape[0]
        assert o["scores"].shape == (r, 4) and o["boxes"].shape == (r, 4, 4)
        torch.testing.assert_close(o["scores"].sum(1), torch.ones(r))
        assert (o["boxes"][..., 2] <= w).all() and (o["boxes"][..., 3] <= h).all()


def test_context_branch_doubles_the_predictor_input_and_trains():
    plain, ctx = tiny_detector(), tiny_detector(context=True)
    assert ctx.cls_score.in_features == 2 * plain.cls_score.in_features
    ctx.train()
    losses = ctx([torch.randn(3, 48, 64), torch.randn(3, 40, 40)], samples(), mode="loss")
    sum(losses.values()).backward()
    assert ctx.cls_score.weight.grad[:, plain.cls_score.in_features:].abs().sum() > 0   # context half learns
    feat = ctx.features(torch.randn(2, 3, 32, 48))
    assert ctx.context_features(feat, [(32, 48), (20, 30)]).shape == (2, plain.cls_score.in_features)


def test_ignored_class_is_left_out_of_background_softmax_only():
    logits = torch.tensor([[2.0, 0.0, 3.0], [0.0, 1.0, 2.0]])
    labels = torch.tensor([0, 2])
    deltas, targets = torch.zeros(2, 12), torch.zeros(2, 4)
    ignore = torch.tensor([[False, False, True], [False, False, False]])
    masked, _ = fast_rcnn_loss(logits, deltas, labels, targets, ignore)
    # RoI 0 (background): softmax over {bg, class 1} only; RoI 1 untouched
    expected = (torch.log(1 + torch.exp(torch.tensor(-2.0))) + torch.logsumexp(logits[1], 0) - 2.0) / 2
    torch.testing.assert_close(masked, expected)
    plain, _ = fast_rcnn_loss(logits, deltas, labels, targets)
    assert plain > masked


def test_ignore_labels_reach_the_loss():
    model = tiny_detector()
    model.train()
    s = samples()
    s[0]["ignore_labels"] = torch.tensor([3])
    torch.manual_seed(1)
    with_ignore = model([torch.randn(3, 48, 64), torch.randn(3, 40, 40)], s, mode="loss")["loss_cls"]
    torch.manual_seed(1)
    plain = model([torch.randn(3, 48, 64), torch.randn(3, 40, 40)], samples(), mode="loss")["loss_cls"]
    assert with_ignore < plain


def test_init_from_classifier_loads_trunk_conv5_and_statistics(tmp_path):
    clf = ResNetClassifier(TINY, num_classes=5)
    for m in clf.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
    torch.save(clf.state_dict(), tmp_path / "clf.pth")
    model = tiny_detector(init_cfg=dict(type="Classifier", checkpoint=str(tmp_path / "clf.pth")))
    model.init_weights()
    torch.testing.assert_close(model.backbone.layer4[0].conv1.weight, clf.backbone.layer4[0].conv1.weight)
    torch.testing.assert_close(model.backbone.layer2[0].bn1.running_mean, clf.backbone.layer2[0].bn1.running_mean)
    with pytest.raises(ValueError, match="roi"):
        tiny_detector(roi_pool="nope")


def test_rpn_takes_no_negatives_from_an_image_with_a_partially_boxed_class():
    model = tiny_detector()
    anchors = [torch.tensor([[0.0, 0.0, 20.0, 20.0], [30.0, 30.0, 60.0, 60.0], [1.0, 1.0, 21.0, 21.0]])] * 2
    boxes = torch.tensor([[0.0, 0.0, 20.0, 20.0]])
    targets = [{"boxes": boxes, "background_unknown": False}, {"boxes": boxes, "background_unknown": True}]
    labels, _ = model.rpn.assign_targets_to_anchors(anchors, targets)
    assert labels[0].tolist() == [1.0, 0.0, 1.0]     # anchor 1 is background on a fully boxed image
    assert labels[1].tolist() == [1.0, -1.0, 1.0]    # ...and unknown where a class is partially boxed


def test_a_batch_without_any_rpn_sample_gives_a_zero_rpn_loss():
    model = tiny_detector()
    model.train()
    s = samples()
    for sample in s:
        sample["boxes"], sample["labels"] = torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)
        sample["ignore_labels"] = torch.tensor([1])
    losses = model([torch.randn(3, 48, 64), torch.randn(3, 40, 40)], s, mode="loss")
    assert losses["loss_rpn_cls"].item() == 0.0 and torch.isfinite(sum(losses.values()))
    sum(losses.values()).backward()
