"""Official-exact ILSVRC metrics: top-k CLS/LOC error (``eval_clsloc.m``) and DET AP (``eval_detection.m``)."""
from .det import evaluate_det, evaluate_det_arrays, object_thresholds, voc_ap
from .ground_truth import DetGroundTruth, LocGroundTruth, load_det_ground_truth, load_loc_ground_truth
from .loc import evaluate_loc, evaluate_loc_arrays, evaluate_loc_file, read_loc_predictions

__all__ = [
    "evaluate_det", "evaluate_det_arrays", "object_thresholds", "voc_ap",
    "DetGroundTruth", "LocGroundTruth", "load_det_ground_truth", "load_loc_ground_truth",
    "evaluate_loc", "evaluate_loc_arrays", "evaluate_loc_file", "read_loc_predictions",
]
