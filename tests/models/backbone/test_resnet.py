"""ResNet backbone and classifier: paper layout, shortcut options, freezing, outputs."""
import pytest
import torch
import torchvision
from torch import nn

from ilsvrc_pipe.models.backbone.resnet import BasicBlock, PaddedIdentity, ResNet, stage_widths
from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
from ilsvrc_pipe.registry import MODELS

LIGHT = dict(stem_kernel=3, stem_stride=1, stem_pool=False)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tiny(**kwargs) -> ResNet:
    return ResNet(**{"depth": 18, "width": 0.125, **kwargs})


@pytest.mark.parametrize("depth", [18, 50, 101])
def test_option_b_parameter_count_equals_torchvision(depth):
    ours = ResNetClassifier(dict(depth=depth, shortcut="B"), num_classes=1000)
    theirs = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    assert n_params(ours) == n_params(theirs)
    assert len(ours.state_dict()) == len(theirs.state_dict())


def test_shortcut_options_a_b_c():
    def shortcuts(model):
        return [m.shortcut for m in model.modules() if isinstance(m, BasicBlock)]

    a, b, c = (ResNet(depth=34, shortcut=s) for s in "ABC")
    assert sum(isinstance(s, PaddedIdentity) for s in shortcuts(a)) == 3
    assert all(n_params(s) == 0 for s in shortcuts(a))
    assert sum(n_params(s) > 0 for s in shortcuts(b)) == 3    # conv3_1, conv4_1, conv5_1 only
    assert sum(n_params(s) > 0 for s in shortcuts(c)) == 16   # every block of ResNet-34
    assert n_params(a) < n_params(b) < n_params(c)


def test_padded_identity_subsamples_and_zero_pads():
    x = torch.randn(2, 4, 7, 9)
    y = PaddedIdentity(extra_channels=4, stride=2)(x)
    assert y.shape == (2, 8, 4, 5)
    torch.testing.assert_close(y[:, :4], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 4:]) == 0


@pytest.mark.parametrize("shortcut", "ABC")
@pytest.mark.parametrize("preact", [False, True])
@pytest.mark.parametrize("depth", [18, 50])
def test_variants_run_forward_and_backward(shortcut, preact, depth):
    model = ResNetClassifier(dict(depth=depth, shortcut=shortcut, preact=preact, width=0.125,
                                  **LIGHT), num_classes=5)
    out = model(torch.randn(2, 3, 17, 23), torch.tensor([0, 4]), mode="loss")
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("stem,size,expected,strides", [
    (dict(), 64, [16, 8, 4, 2], (4, 8, 16, 32)),
    (dict(stem_kernel=3, stem_stride=1, stem_pool=False), 32, [32, 16, 8, 4], (1, 2, 4, 8)),
    (dict(stem_kernel=3, stem_stride=2, stem_pool=False), 33, [17, 9, 5, 3], (2, 4, 8, 16)),
])
def test_out_indices_shapes_and_strides(stem, size, expected, strides):
    model = tiny(out_indices=(0, 1, 2, 3), **stem)
    outs = model(torch.randn(1, 3, size, size))
    assert [o.shape[-1] for o in outs] == expected
    assert [o.shape[1] for o in outs] == model.out_channels == [8, 16, 32, 64]
    assert model.strides == strides


def test_forward_stops_after_last_requested_stage():
    model = tiny(out_indices=(2,))
    called = []
    model.layer4.register_forward_hook(lambda *args: called.append(True))
    (c4,) = model(torch.randn(1, 3, 64, 64))
    assert c4.shape[1] == model.out_channels[2] and not called
    assert model.layer4(c4).shape[1] == model.out_channels[3]   # usable as a C4 RoI head


def test_stem_and_layer_attributes():
    model = ResNet(depth=50)
    assert isinstance(model.stem.conv, nn.Conv2d) and model.stem.conv.kernel_size == (7, 7)
    assert hasattr(model.stem, "pool")
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    light = ResNet(depth=50, **LIGHT)
    assert light.stem.conv.kernel_size == (3, 3) and not hasattr(light.stem, "pool")


def test_stride_placement_v15_and_v1():
    v15 = ResNet(depth=50).layer2[0]
    v1 = ResNet(depth=50, stride_in_1x1=True).layer2[0]
    assert v15.conv1.stride == (1, 1) and v15.conv2.stride == (2, 2)
    assert v1.conv1.stride == (2, 2) and v1.conv2.stride == (1, 1)


def test_width_multiplier():
    assert stage_widths(1.0) == (64, 128, 256, 512)
    assert stage_widths(0.25) == (16, 32, 64, 128)
    assert stage_widths(0.01) == (8, 16, 32, 64)
    assert ResNet(depth=50, width=0.25).out_channels == [64, 128, 256, 512]


def test_he_fan_out_init_and_bn_identity():
    model = ResNet(depth=18)
    w = model.layer4[0].conv2.weight            # 512 x 512 x 3 x 3
    expected_std = (2.0 / (w.shape[0] * 9)) ** 0.5
    assert abs(w.std().item() / expected_std - 1) < 0.02
    bn = model.layer4[0].bn2
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


@pytest.mark.parametrize("preact", [False, True])
def test_zero_init_residual_makes_blocks_identity(preact):
    model = tiny(zero_init_residual=True, preact=preact).eval()
    block = model.layer1[1]                    # identity shortcut
    x = torch.randn(2, 8, 9, 9)
    expected = x if preact else torch.relu(x)
    torch.testing.assert_close(block(x), expected)
    assert not torch.all(tiny().layer1[1].bn2.weight == 0)     # off by default


def test_preact_closes_with_bn_relu():
    model = tiny(preact=True)
    assert hasattr(model.layer4, "post") and not hasattr(model.layer3, "post")
    (out,) = model(torch.randn(1, 3, 64, 64))
    assert out.min() >= 0


def test_frozen_stages_stay_frozen_in_train_mode():
    model = tiny(frozen_stages=1).train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.stem.bn.training and not model.layer1[0].bn1.training
    assert model.layer2[0].bn1.training
    before = model.layer1[0].bn1.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(model.layer1[0].bn1.running_mean, before)


def test_frozen_bn_for_detection():
    model = tiny(norm_eval=True, norm_requires_grad=False).train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(not bn.training for bn in bns)
    assert all(not p.requires_grad for bn in bns for p in bn.parameters())
    assert model.stem.conv.weight.requires_grad and model.training
    stats = [bn.running_var.clone() for bn in bns]
    model(torch.randn(2, 3, 64, 64))[0].sum().backward()
    assert all(torch.equal(s, bn.running_var) for s, bn in zip(stats, bns))


def test_classifier_modes_and_registry():
    model = MODELS.build(dict(type="ResNetClassifier", num_classes=7,
                              backbone=dict(depth=18, width=0.125, **LIGHT)))
    model.eval()
    images = [torch.randn(3, 20, 20) for _ in range(3)]
    logits = model(images)
    assert logits.shape == (3, 7)
    probs = model(torch.stack(images), mode="predict")
    torch.testing.assert_close(probs.sum(1), torch.ones(3))
    loss_t = model(images, torch.tensor([1, 2, 3]), mode="loss")["loss"]
    loss_l = model(images, [1, 2, torch.tensor(3)], mode="loss")["loss"]
    torch.testing.assert_close(loss_t, loss_l)
    with pytest.raises(ValueError):
        model(images, mode="bogus")


def test_classifier_needs_last_stage():
    with pytest.raises(ValueError, match="out_indices"):
        ResNetClassifier(tiny(out_indices=(2,)), num_classes=3)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="depth"):
        ResNet(depth=20)
    with pytest.raises(ValueError, match="shortcut"):
        ResNet(depth=18, shortcut="D")
    with pytest.raises(ValueError, match="out_indices"):
        ResNet(depth=18, out_indices=(4,))
