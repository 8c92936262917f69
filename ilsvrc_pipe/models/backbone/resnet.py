"""ResNet-18..152 of He et al. (2015), one code path for the paper-size and the mini CPU models.

The paper's variants are flags of the same blocks: shortcut options A/B/C, the pre-activation
(identity-mapping) block order, a width multiplier and a configurable stem, so a 2-core CPU
configuration trains the same code as the ILSVRC one. With ``shortcut="B"``, the standard stem and
``preact=False`` the layout and parameter names match torchvision's ResNet v1.5 (stride on the
3x3 conv of a bottleneck; ``stride_in_1x1=True`` gives the original Caffe/MSRA v1 placement), so
its checkpoints load through :mod:`ilsvrc_pipe.utils.checkpoint`.

Backbone stages are exposed as ``stem`` and ``layer1``..``layer4`` so that the C4 detector can run
conv1-conv4 as a shared trunk and reuse ``layer4`` (conv5) as its RoI head.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ilsvrc_pipe.registry import MODELS

# depth -> (block type, blocks per stage), Table 1 of the paper
ARCH_SETTINGS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
SHORTCUT_OPTIONS = ("A", "B", "C")


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution without bias: every conv is followed (or preceded) by BN."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class PaddedIdentity(nn.Module):
    """Option A shortcut across a dimension change: subsample by ``stride``, zero-pad channels.

    Parameter-free; the extra output channels carry zeros, as in the paper's CIFAR and
    ImageNet option A.
    """

    def __init__(self, extra_channels: int, stride: int):
        super().__init__()
        self.extra_channels = extra_channels
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x


def make_shortcut(option: str, in_channels: int, out_channels: int, stride: int,
                  preact: bool = False) -> nn.Module:
    """Shortcut of one block for option A, B or C.

    A: parameter-free everywhere; B: 1x1 projection (+BN) only where shape changes;
    C: projection on every block. A pre-activation projection has no BN of its own (the next
    block's BN follows the sum).
    """
    if option not in SHORTCUT_OPTIONS:
        raise ValueError(f"shortcut option must be one of {SHORTCUT_OPTIONS}, got {option!r}")
    changes = in_channels != out_channels or stride != 1
    if option == "C" or (option == "B" and changes):
        layers = OrderedDict(conv=conv1x1(in_channels, out_channels, stride))
        if not preact:
            layers["bn"] = nn.BatchNorm2d(out_channels)
        return nn.Sequential(layers)
    if not changes:
        return nn.Identity()
    if out_channels < in_channels:
        raise ValueError("option A cannot shrink channels")
    return PaddedIdentity(out_channels - in_channels, stride)


class _ResidualBlock(nn.Module):
    """Common forward of the basic and bottleneck blocks.

    Sub-blocks ``conv{i}``/``bn{i}`` run as conv-BN-ReLU (original) or BN-ReLU-conv
    (pre-activation); the last ReLU of the original block comes after the sum.
    """

    expansion = 1

    def __init__(self, preact: bool):
        super().__init__()
        self.preact = preact
        self.relu = nn.ReLU(inplace=True)

    def _pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        n = 3 if hasattr(self, "conv3") else 2
        return [(getattr(self, f"conv{i}"), getattr(self, f"bn{i}")) for i in range(1, n + 1)]

    def _finish_init(self, zero_init_residual: bool) -> None:
        self.uses_projection = any(True for _ in self.shortcut.parameters())
        if zero_init_residual:
            self.zero_init_last()

    def zero_init_last(self) -> None:
        """Zero the layer that ends the residual branch, so the block starts as identity."""
        conv, bn = self._pairs()[-1]
        nn.init.zeros_(conv.weight if self.preact else bn.weight)

    def forward(self, x: Tensor) -> Tensor:
        pairs = self._pairs()
        if self.preact:
            out = x
            for i, (conv, bn) in enumerate(pairs):
                out = self.relu(bn(out))
                if i == 0:
                    # a projection sees the pre-activated input, an identity sees the raw sum
                    identity = self.shortcut(out if self.uses_projection else x)
                out = conv(out)
            return out + identity
        out = x
        for i, (conv, bn) in enumerate(pairs):
            out = bn(conv(out))
            if i < len(pairs) - 1:
                out = self.relu(out)
        return self.relu(out + self.shortcut(x))


class BasicBlock(_ResidualBlock):
    """Two 3x3 convs (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int = 1, shortcut: str = "B",
                 preact: bool = False, stride_in_1x1: bool = False,
                 zero_init_residual: bool = False):
        super().__init__(preact)
        out_channels = width * self.expansion
        self.conv1 = conv3x3(in_channels, width, stride)
        self.bn1 = nn.BatchNorm2d(in_channels if preact else width)
        self.conv2 = conv3x3(width, out_channels)
        self.bn2 = nn.BatchNorm2d(width if preact else out_channels)
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride, preact)
        self._finish_init(zero_init_residual)


class Bottleneck(_ResidualBlock):
    """1x1 reduce, 3x3, 1x1 expand by 4 (ResNet-50/101/152).

    The stride sits on the 3x3 conv (torchvision v1.5) unless ``stride_in_1x1`` (paper/Caffe v1).
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, shortcut: str = "B",
                 preact: bool = False, stride_in_1x1: bool = False,
                 zero_init_residual: bool = False):
        super().__init__(preact)
        out_channels = width * self.expansion
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(in_channels, width, s1)
        self.bn1 = nn.BatchNorm2d(in_channels if preact else width)
        self.conv2 = conv3x3(width, width, s3)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_channels)
        self.bn3 = nn.BatchNorm2d(width if preact else out_channels)
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride, preact)
        self._finish_init(zero_init_residual)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def make_stem(out_channels: int, kernel: int = 7, stride: int = 2, pool: bool = True,
              in_channels: int = 3) -> nn.Sequential:
    """conv-BN-ReLU(-maxpool) stem; ``kernel=3, stride=1 or 2, pool=False`` is the light stem."""
    layers = OrderedDict(
        conv=nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2,
                       bias=False),
        bn=nn.BatchNorm2d(out_channels),
        relu=nn.ReLU(inplace=True),
    )
    if pool:
        layers["pool"] = nn.MaxPool2d(3, stride=2, padding=1)
    return nn.Sequential(layers)


def make_stage(block: type[_ResidualBlock], in_channels: int, width: int, blocks: int,
               stride: int, final_norm: bool = False, **block_kwargs) -> nn.Sequential:
    """One stage (conv2_x .. conv5_x); the first block changes stride/width.

    ``final_norm`` appends the BN-ReLU that closes a pre-activation network, as item ``post``.
    """
    layers = OrderedDict()
    for i in range(blocks):
        layers[str(i)] = block(in_channels, width, stride if i == 0 else 1, **block_kwargs)
        in_channels = width * block.expansion
    if final_norm:
        layers["post"] = nn.Sequential(
            OrderedDict(bn=nn.BatchNorm2d(in_channels), relu=nn.ReLU(inplace=True)))
    return nn.Sequential(layers)


def stage_widths(width: float = 1.0) -> tuple[int, int, int, int]:
    """Bottleneck/basic widths of the four stages: 64*m doubling per stage, at least 8."""
    base = max(8, int(round(64 * width)))
    return tuple(base * 2 ** i for i in range(4))


@MODELS.register_module()
class ResNet(nn.Module):
    """ResNet backbone returning the feature maps of the stages in ``out_indices``.

    Args:
        depth: 18, 34, 50, 101 or 152.
        shortcut: "A" (zero-pad identity), "B" (projection where shape changes), "C" (all).
        width: multiplier of the stage widths (64, 128, 256, 512), minimum 8.
        stem_kernel, stem_stride, stem_pool: the stem; (7, 2, True) is the paper's, (3, 1 or 2,
            False) a light stem for small images.
        preact: pre-activation blocks (He et al. 2016, identity mappings).
        stride_in_1x1: put the bottleneck stride on the first 1x1 (paper v1) instead of the 3x3.
        out_indices: stages to return, 0..3 for conv2_x..conv5_x; stages after the last index
            are not run in ``forward`` (but exist, e.g. ``layer4`` as a C4 RoI head).
        frozen_stages: -1 none, 0 the stem, k the stem and layer1..layerk (eval mode, no grad).
        norm_eval: keep every BN in eval mode (running statistics fixed) during training.
        norm_requires_grad: False freezes BN's affine parameters; with ``norm_eval`` this is the
            paper's fixed BN for detection.
        zero_init_residual: start each residual branch at zero (last BN gamma, or the last conv
            for pre-activation blocks).
    """

    def __init__(self, depth: int = 50, shortcut: str = "B", width: float = 1.0,
                 stem_kernel: int = 7, stem_stride: int = 2, stem_pool: bool = True,
                 preact: bool = False, stride_in_1x1: bool = False,
                 out_indices: Sequence[int] = (3,), frozen_stages: int = -1,
                 norm_eval: bool = False, norm_requires_grad: bool = True,
                 zero_init_residual: bool = False, in_channels: int = 3):
        super().__init__()
        if depth not in ARCH_SETTINGS:
            raise ValueError(f"depth must be one of {sorted(ARCH_SETTINGS)}, got {depth}")
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(4) for i in out_indices):
            raise ValueError(f"out_indices must be a non-empty subset of 0..3, got {out_indices}")
        if frozen_stages not in range(-1, 5):
            raise ValueError(f"frozen_stages must be in -1..4, got {frozen_stages}")
        block_name, blocks = ARCH_SETTINGS[depth]
        block = BLOCKS[block_name]
        self.depth = depth
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.preact = preact

        widths = stage_widths(width)
        self.stem = make_stem(widths[0], stem_kernel, stem_stride, stem_pool, in_channels)
        in_ch = widths[0]
        self.out_channels = []
        for i, (w, n) in enumerate(zip(widths, blocks)):
            stage = make_stage(block, in_ch, w, n, 1 if i == 0 else 2,
                               final_norm=preact and i == 3, shortcut=shortcut, preact=preact,
                               stride_in_1x1=stride_in_1x1)
            self.add_module(f"layer{i + 1}", stage)
            in_ch = w * block.expansion
            self.out_channels.append(in_ch)
        self.strides = tuple(
            stem_stride * (2 if stem_pool else 1) * 2 ** i for i in range(4))

        self._init_weights(zero_init_residual)
        if not norm_requires_grad:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.requires_grad_(False)
        self._freeze_stages()

    def _init_weights(self, zero_init_residual: bool) -> None:
        """He (MSRA) init, fan_out as in the paper's Caffe models; BN starts as identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, _ResidualBlock):
                    m.zero_init_last()

    def stages(self) -> list[nn.Module]:
        """``[stem, layer1, .., layer4]``: index k is frozen when ``frozen_stages >= k``."""
        return [self.stem, self.layer1, self.layer2, self.layer3, self.layer4]

    def unrun_parameters(self) -> list[str]:
        """Names of the trainable parameters of the stages ``forward`` never runs (those after the
        last of ``out_indices``): a model that uses them elsewhere (the C4 head) says so itself;
        otherwise they get no gradient, which DDP must know (``training.searches_unused_parameters``)."""
        names = ["stem", "layer1", "layer2", "layer3", "layer4"][max(self.out_indices) + 2:]
        return [f"{stage}.{n}" for stage in names
                for n, p in getattr(self, stage).named_parameters() if p.requires_grad]

    def _freeze_stages(self) -> None:
        for stage in self.stages()[: self.frozen_stages + 1]:
            stage.eval()
            stage.requires_grad_(False)

    def train(self, mode: bool = True) -> "ResNet":
        """Switch mode, but keep frozen stages (and all BN when ``norm_eval``) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages()[1: max(self.out_indices) + 2]):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
