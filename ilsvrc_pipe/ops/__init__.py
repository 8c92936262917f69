"""Box operations shared by the stages, all in the inclusive (+1) pixel convention of ILSVRC."""
from .boxes import box_area, box_iou, box_iou_paired, box_iou_torch

__all__ = ["box_area", "box_iou", "box_iou_paired", "box_iou_torch"]
