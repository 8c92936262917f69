"""Networks of the pipeline.

Importing this package registers every model in ``ilsvrc_pipe.registry.MODELS`` (the registry's
``locations``), so configs can build them by type name.
"""
from . import detection  # noqa: F401
from .backbone.resnet import BasicBlock, Bottleneck, PaddedIdentity, ResNet, make_shortcut, stage_widths
from .classification.classifier import ResNetClassifier
from .classification.view_modes import (
                              PAPER_SCALES,
                              average_probs,
                              predict_center_crop,
                              predict_dense,
                              predict_ensemble,
                              predict_ten_crop,
)
from .localization import per_class_rpn, rcnn  # noqa: F401  (register C4FasterRCNN, PerClassRPN, RoIRCNN)

__all__ = [
    "BasicBlock", "Bottleneck", "PaddedIdentity", "ResNet", "ResNetClassifier", "make_shortcut",
    "stage_widths", "PAPER_SCALES", "average_probs", "predict_center_crop", "predict_dense",
    "predict_ensemble", "predict_ten_crop",
]
