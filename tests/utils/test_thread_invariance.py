"""Every model's test-time path gives the same outputs, to float rounding, at 1 and at 2 torch threads.

Why it matters: the thread governor (``ilsvrc_pipe/utils/thread_governor.py``; ``tools/predict.py``'s
default) drops forwards without autograd to one thread while other processes use the CPUs. Not bit
for bit: oneDNN shares a convolution with a tiny output (a 3x3 map of a stride-2 conv at batch 1, the
classifier's 96x80 input below) out along its input channels, so the sums follow the thread count;
every other path here is bit-identical, and the decisions (boxes kept, their order) are the same.
Models at the mini config's sizes (ResNet-18 width 0.5: thread partitioning is decided on real layer
shapes), loaded as the stages load them for inference (batch norms folded, ``channels_last``),
random weights.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from ilsvrc_pipe.engine.specs import for_inference
from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
from ilsvrc_pipe.models.classification.view_modes import predict_dense, predict_ten_crop
from ilsvrc_pipe.models.detection.c4 import C4FasterRCNN
from ilsvrc_pipe.models.detection.inference import DetectionMode, MemberView, detect
from ilsvrc_pipe.models.localization.per_class_rpn import PerClassRPN, propose_dense
from ilsvrc_pipe.models.localization.rcnn import RoIRCNN, refine_proposals

MINI_TRUNK = dict(depth=18, width=0.5)


def images(*sizes, seed=3):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(3, h, w, generator=gen) for h, w in sizes]


def flat(value):
    """The tensors of a nested output, in a fixed order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if dataclasses.is_dataclass(value):
        value = [getattr(value, f.name) for f in dataclasses.fields(value)]
    if isinstance(value, dict):
        value = [value[k] for k in sorted(value)]
    return [t for v in value for t in flat(v)]


def classifier():
    torch.manual_seed(0)
    model = for_inference(ResNetClassifier(dict(MINI_TRUNK), num_classes=10))
    batch = images((96, 128), (96, 128), (136, 104), (96, 80))
    return lambda: [predict_dense(model, batch, scales=(80, 112)), predict_dense(model, batch, (112,), average="probs"),
                    predict_ten_crop(model, batch[:2], scale=92, crop=80)]


def rpn():
    torch.manual_seed(0)
    model = for_inference(PerClassRPN(dict(MINI_TRUNK, out_indices=(2,)), num_classes=5, anchor_scales=(32, 48, 64),
                                  anchor_ratios=(0.67, 1.0, 1.5), head_channels=128, class_agnostic_reg=True,
                                  shared_objectness=True, top_k=200))
    image = images((112, 150))[0]
    return lambda: propose_dense(model, image, [0, 3], scales=(80, 112, 136))


def rcnn():
    torch.manual_seed(0)
    model = for_inference(RoIRCNN(backbone=dict(MINI_TRUNK), num_classes=5, crop_size=64))
    image = images((120, 136))[0]
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(300, 2, generator=gen) * 90
    boxes = torch.cat([xy, xy + 8 + torch.rand(300, 2, generator=gen) * 30], 1).floor()
    return lambda: refine_proposals(model, image, {1: boxes[:150], 4: boxes[150:]}, batch_size=256)


def detector():
    torch.manual_seed(0)
    model = for_inference(C4FasterRCNN(dict(MINI_TRUNK), num_classes=5, anchor_sizes=(24, 48, 96), context=True,
                                   rpn_post_nms_top_n=dict(training=200, testing=50)))
    pyramid = images((112, 150), (160, 214), (224, 300))
    mode = DetectionMode(refine=True, multiscale=True, target_size=64)
    return lambda: detect([MemberView(model, pyramid, 1)], mode)


@pytest.mark.parametrize("build", [classifier, rpn, rcnn, detector])
def test_test_time_outputs_agree_at_any_thread_count(build, torch_threads):
    run = build()
    outputs = []
    for threads in (1, 2):
        torch_threads(threads)
        with torch.no_grad():
            outputs.append(flat(run()))
    assert len(outputs[0]) == len(outputs[1]) > 0
    for one, two in zip(*outputs):
        assert one.shape == two.shape
        torch.testing.assert_close(one, two, rtol=1e-5, atol=1e-6)
