"""Folding batch norms into convolutions changes nothing an eval-mode model computes."""
import copy

import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from ilsvrc_pipe.models.backbone.fold_bn import fold_batch_norms
from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
from ilsvrc_pipe.models.detection.c4 import C4FasterRCNN


def random_statistics(model: nn.Module) -> nn.Module:
    """Non-trivial statistics and affine parameters in every norm (fresh ones are the identity)."""
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, FrozenBatchNorm2d)):
            n = m.running_mean.numel()
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return model.eval()


def norms(model: nn.Module) -> int:
    return sum(isinstance(m, (nn.BatchNorm2d, FrozenBatchNorm2d)) for m in model.modules())


def test_classifier_outputs_unchanged_and_no_norm_left():
    torch.manual_seed(0)
    model = random_statistics(ResNetClassifier(dict(depth=18, width=0.25), num_classes=5))
    x = torch.randn(2, 3, 64, 64)
    expected = model(x, mode="tensor")
    folded = fold_batch_norms(copy.deepcopy(model))
    assert norms(model) > 0 and norms(folded) == 0
    torch.testing.assert_close(folded(x, mode="tensor"), expected, atol=1e-4, rtol=1e-4)


def test_bottleneck_and_preact_networks():
    torch.manual_seed(1)
    x = torch.randn(1, 3, 64, 64)
    for backbone in (dict(depth=50, width=0.125), dict(depth=18, width=0.25, preact=True)):
        model = random_statistics(ResNetClassifier(backbone, num_classes=4))
        expected = model(x, mode="tensor")
        folded = fold_batch_norms(copy.deepcopy(model))
        torch.testing.assert_close(folded(x, mode="tensor"), expected, atol=1e-4, rtol=1e-4)
        if backbone.get("preact"):
            assert norms(folded) > 0   # BN before its conv cannot be folded; those stay


def test_detector_with_frozen_norms_predicts_the_same():
    torch.manual_seed(2)
    model = random_statistics(C4FasterRCNN(dict(depth=18, width=0.125), num_classes=3, anchor_sizes=(16, 32),
                                           anchor_ratios=(1.0,), roi_output_size=4, context=True))
    images = [torch.randn(3, 48, 64)]
    boxes = [torch.tensor([[2.0, 3.0, 40.0, 30.0], [10.0, 5.0, 60.0, 45.0]])]
    with torch.no_grad():
        expected = model.region_outputs(model.features(torch.stack(images)), boxes, [(48, 64)])
        folded = fold_batch_norms(copy.deepcopy(model))
        got = folded.region_outputs(folded.features(torch.stack(images)), boxes, [(48, 64)])
    assert norms(folded) == 0
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
