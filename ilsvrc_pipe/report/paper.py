"""The published figures the report sets the run's own numbers against.

He, Zhang, Ren, Sun, *Deep Residual Learning for Image Recognition* (CVPR 2016, arXiv 1512.03385),
all errors in %, ImageNet val unless marked. Kept as data in one place so that every table of the
report cites the same numbers and a reader can check them against the paper's tables.
"""
from __future__ import annotations

# Table 3: single models, 10-crop testing (top-1, top-5); Table 4: single models, fully convolutional
# multi-scale ("dense") testing, the paper's best single-model figures.
TABLE3_TEN_CROP = {"ResNet-34 B": (24.52, 7.46), "ResNet-34 C": (24.19, 7.40), "ResNet-50": (22.85, 6.71),
                   "ResNet-101": (21.75, 6.05), "ResNet-152": (21.43, 5.71)}
TABLE4_DENSE = {"ResNet-34 B": (21.84, 5.71), "ResNet-34 C": (21.53, 5.60), "ResNet-50": (20.74, 5.25),
                "ResNet-101": (19.87, 4.60), "ResNet-152": (19.38, 4.49)}
TABLE5_ENSEMBLE_TOP5_TEST = 3.57   # Table 5: the ILSVRC 2015 classification ensemble, top-5 on test

# The paper's model of a given depth (option B shortcuts, the paper's default for its deeper nets).
PAPER_MODEL_OF_DEPTH = {34: "ResNet-34 B", 50: "ResNet-50", 101: "ResNet-101", 152: "ResNet-152"}

# Table 13 (LOC, val): per row of this package, the paper's row and its figures
# (LOC error on the ground-truth class, top-5 LOC error on predicted classes; None where the paper has none).
TABLE13 = {
    "rpn_center": ("RPN, ResNet-101, 1-crop", 13.3, None),
    "rpn_dense": ("RPN, ResNet-101, dense (classes: ResNet-101)", 11.7, 14.4),
    "rpn_rcnn_dense": ("RPN+RCNN, ResNet-101, dense (classes: ResNet-101)", None, 10.6),
    "rpn_rcnn_dense_ensemble": ("RPN+RCNN, ensemble, dense (classes: ensemble)", None, 8.9),
}
TABLE13_VGG_GT_CLASS = 33.1     # VGG's localization, 1-crop, LOC error on GT class (the paper's reference)
TABLE14_TOP5_LOC_TEST = 9.0     # Table 14: the ILSVRC 2015 LOC winner, top-5 LOC error on test

# Table 9 (MS COCO val, Faster R-CNN ResNet-101, mAP@.5 in %): the improvements this package's DET rows
# reproduce on ImageNet DET. The ensemble's 59.0 is on COCO test-dev (trainval training).
TABLE9_COCO = {"baseline": ("baseline Faster R-CNN (ResNet-101)", 48.4), "refine": ("+box refinement", 49.9),
               "refine_context": ("+context", 51.1), "refine_context_multiscale": ("+multi-scale testing", 53.8),
               "ensemble": ("ensemble (COCO test-dev)", 59.0)}
# Table 12 (ImageNet DET, mAP in %): the single model (all improvements) and the 3-model ensemble.
TABLE12_DET = {"refine_context_multiscale": {"val2": 60.5, "test": 58.8},
               "ensemble": {"val2": 63.6, "test": 62.1}}
TABLE12_SINGLE_ROW = "refine_context_multiscale"   # the DET row of Table 12's single model


def table12_by_split() -> dict[str, dict[str, float]]:
    """Table 12 as ``{split: {"single": mAP, "ensemble": mAP}}`` (``det/metrics.json``'s ``paper_table12``)."""
    return {split: {"single": TABLE12_DET[TABLE12_SINGLE_ROW][split], "ensemble": TABLE12_DET["ensemble"][split]}
            for split in ("val2", "test")}

CITATION = ("He, Zhang, Ren, Sun, Deep Residual Learning for Image Recognition, CVPR 2016 "
            "(arXiv 1512.03385)")
