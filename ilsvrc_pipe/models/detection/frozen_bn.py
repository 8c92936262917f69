"""Batch norm frozen as appendix A says: statistics of the classification network, never updated.

Every ``BatchNorm2d`` becomes torchvision's ``FrozenBatchNorm2d``, whose statistics and affine
parameters are buffers: no optimizer step changes them and no ``.train()`` call can switch them
back to batch statistics (the classic trap: a parent's ``.train()`` silently unfreezes ``nn.BatchNorm2d``
kept in eval mode by hand).
"""
from __future__ import annotations

from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d


def freeze_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` below ``module`` (in place) by a ``FrozenBatchNorm2d`` holding
    its current statistics and affine parameters; returns ``module`` (or the replacement when
    ``module`` itself is a batch norm)."""
    if isinstance(module, nn.BatchNorm2d):
        frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps)
        if module.affine:
            frozen.weight.copy_(module.weight.detach())
            frozen.bias.copy_(module.bias.detach())
        if module.track_running_stats:
            frozen.running_mean.copy_(module.running_mean)
            frozen.running_var.copy_(module.running_var)
        return frozen
    for name, child in module.named_children():
        replaced = freeze_batch_norm(child)
        if replaced is not child:
            setattr(module, name, replaced)
    return module
