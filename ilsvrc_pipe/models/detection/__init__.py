"""The DET detector of appendix A/B: C4 Faster R-CNN (``c4.py``), frozen batch norm, test-time modes."""
from .c4 import C4FasterRCNN, fast_rcnn_loss, pad_batch  # noqa: F401  (registers C4FasterRCNN)
