"""The per-class RPN's anchors fitted to the CLS-LOC training boxes (``rpn.anchor_fit``).

With ``anchor_fit=dict(count=K, min_side=M)`` the ``rpn`` stage clusters the (width, height) of
every boxed training image's boxes, resized as training resizes them (each value of the scale
jitter's range, clipped to the crop; boxes smaller than M pixels counted at that size, see
:func:`~ilsvrc_pipe.models.localization.anchor_fit.floor_box_shapes`), into K shapes (:func:`~ilsvrc_pipe.models.localization.anchor_fit.kmeans_anchor_shapes`)
and writes them to ``<work_dir>/rpn/anchors.json``; the model configs then use them instead of
``model.anchor_scales x anchor_ratios``. Later tools rebuild the RPNs from that file.
"""
from __future__ import annotations

import numpy as np

from ...artifacts.paths import Artifacts
from ...utils.distributed import on_main
from ...utils.errors import UserInputError
from ...utils.io_utils import read_table, write_json_atomic
from .anchor_fit import fitted_anchors_summary, floor_box_shapes, kmeans_anchor_shapes, resized_box_shapes

JITTER_SAMPLES = 5   # sizes of the training's shorter-side range each box is counted at


def fit_rpn_anchors(art: Artifacts, section: dict) -> list[list[float]] | None:
    """Fit, record and return the anchor shapes; None when the config sets no ``anchor_fit``.

    The shapes are a function of the training tables and the config only, so a re-run fits the
    same ones (and the stage's manifest already covers both).
    """
    fit = section.get("anchor_fit")
    if not fit:
        stale = art.fitted_anchors("rpn")
        on_main(lambda: stale.unlink(missing_ok=True))   # no file of an earlier config misleads a tool
        return None
    images = read_table(art.records("loc", "train", "images")).set_index("image_id")
    boxes = read_table(art.records("loc", "train", "boxes"))
    boxes = boxes[boxes.image_id.isin(images.index)]
    sizes = images.loc[boxes.image_id, ["width", "height"]].to_numpy(np.float64)
    known = (sizes > 0).all(axis=1)
    if not known.any():
        raise UserInputError(f"{art.records('loc', 'train', 'boxes')}: no training box with a known image size "
                             "to fit rpn.anchor_fit to")
    train = section["train"]
    low, high = train["scale"]
    wh = resized_box_shapes(boxes.loc[known, ["x1", "y1", "x2", "y2"]].to_numpy(np.float64),
                            sizes[known].min(axis=1), np.linspace(low, high, JITTER_SAMPLES), train["crop"])
    shapes = kmeans_anchor_shapes(floor_box_shapes(wh, float(fit.get("min_side", 0))), int(fit["count"]))
    summary = fitted_anchors_summary(wh, shapes)
    write_json_atomic(art.fitted_anchors("rpn"), summary)
    return summary["shapes"]
