"""Each trained model declares the trainable parameters its training step leaves unused
(``unused_parameters()``: DDP searches for unused parameters only when there are some); one training
step on tiny inputs checks the declaration against the gradients it actually produces."""
import pytest
import torch

from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
from ilsvrc_pipe.models.detection.c4 import C4FasterRCNN
from ilsvrc_pipe.models.localization.per_class_rpn import PerClassRPN
from ilsvrc_pipe.models.localization.rcnn import RoIRCNN

TINY = dict(depth=18, width=0.125, stem_kernel=3, stem_stride=1, stem_pool=False)


def classifier_step():
    model = ResNetClassifier(TINY, num_classes=3)
    return model, lambda: model(torch.randn(2, 3, 32, 32), torch.tensor([0, 2]), mode="loss")


def rpn_step(out_stage: int = 3, **options):
    model = PerClassRPN(backbone=dict(TINY, out_indices=(out_stage,)), num_classes=4, anchor_scales=(8, 16),
                        anchor_ratios=(1.0,), head_channels=8, num_samples=8, **options)
    samples = [dict(boxes=torch.tensor([[2.0, 2.0, 20.0, 20.0]]), label=1),
               dict(boxes=torch.tensor([[5.0, 5.0, 30.0, 25.0]]), label=3)]
    return model, lambda: model(torch.randn(2, 3, 32, 32), samples, mode="loss")


def rcnn_step():
    model = RoIRCNN(backbone=dict(TINY, stem_stride=2), num_classes=3, crop_size=16)
    targets = dict(labels=torch.tensor([0, 3, 3, 3]), deltas=torch.randn(4, 4))   # one foreground region
    return model, lambda: model(torch.randn(4, 3, 16, 16), targets, mode="loss")


def c4_step(**options):
    model = C4FasterRCNN(backbone=dict(depth=18, width=0.125), num_classes=3, anchor_sizes=(16, 32),
                         anchor_ratios=(1.0,), roi_output_size=4, rpn_batch_size=16, roi_batch_size=8,
                         rpn_pre_nms_top_n=dict(training=50, testing=50),
                         rpn_post_nms_top_n=dict(training=20, testing=10), **options)
    samples = [{"boxes": torch.tensor([[4.0, 6.0, 30.0, 40.0]]), "labels": torch.tensor([2])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]
    return model, lambda: model([torch.randn(3, 48, 64), torch.randn(3, 40, 40)], samples, mode="loss")


CASES = {
    "classifier": classifier_step,
    "rpn": rpn_step,
    "rpn_class_agnostic_reg": lambda: rpn_step(class_agnostic_reg=True),
    "rpn_shared_objectness": lambda: rpn_step(shared_objectness=True),
    "rpn_both_shared": lambda: rpn_step(class_agnostic_reg=True, shared_objectness=True),
    "rpn_conv4": lambda: rpn_step(out_stage=2, class_agnostic_reg=True, shared_objectness=True),   # the mini configs
    "rcnn": rcnn_step,
    "c4": c4_step,
    "c4_context": lambda: c4_step(context=True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_declared_unused_parameters_are_those_without_gradient(case):
    torch.manual_seed(0)
    model, loss = CASES[case]()
    model.train()
    sum(loss().values()).backward()
    without_grad = {n for n, p in model.named_parameters() if p.requires_grad and p.grad is None}
    assert set(model.unused_parameters()) == without_grad


def test_only_a_trunk_cut_before_conv5_leaves_parameters_unused():
    assert rpn_step(out_stage=2)[0].unused_parameters()[0].startswith("backbone.layer4.")
    assert not any(step()[0].unused_parameters() for step in (classifier_step, rpn_step, rcnn_step, c4_step))
