"""DET on one image by the best Table 9 row of the run (``det/metrics.json``), as the ``det`` stage runs it.

The image goes through the stage's own test transforms (``LoadRGBImage`` + ``PackDetPyramid``: the
primary input and the pyramid, each with its own cap on the longer side), the row's detectors and test mode
(``engine/rows.py`` ``det_row_modes``: NMS, refinement with voting, multi-scale maxout, ensemble) and
``detect_image``, the stage's call, which returns the final detections as inclusive boxes of the
original image. The detectors run on the tool's ``--device`` in its ``--precision``
(``RunModels.infer``); detections come back to the CPU.
"""
from __future__ import annotations

import torch

from ..data.det_pyramid import det_test_inputs
from ..data.det_train import LoadRGBImage, PackDetPyramid
from ..engine.rows import DET_LEARNED, det_row_modes
from ..models.detection.inference import MemberView, detect_image
from ..utils.errors import UserInputError
from .run_models import RunModels


def default_row(models: RunModels) -> str:
    metrics = models.art.read_metrics("det")
    if not metrics or "best_row" not in metrics:
        raise UserInputError(f"--work-dir {models.art.work_dir}: no finished det stage "
                             f"({models.art.metrics('det')} is missing); run --stage det first")
    return metrics["best_row"]


class DetPredictor:
    """Detections of one image: (wnid, name, score, inclusive box), best first."""

    def __init__(self, models: RunModels, row: str):
        if row not in DET_LEARNED:
            raise UserInputError(f"--det-row {row!r}: choose from {', '.join(DET_LEARNED)}")
        section = models.cfg.det
        self.row, self.synsets = row, models.classes.get("det")
        self.members, self.mode = det_row_modes(section)[row]
        self.models, self.infer, self.precision = models.detectors(self.members), models.infer, models.precision
        self.load = LoadRGBImage()
        self.pack = PackDetPyramid(**det_test_inputs(section["test"]))

    @torch.no_grad()
    def __call__(self, path, name: str) -> list[dict]:
        item = self.pack(self.load({"img_path": str(path), "image_id": name, "image_index": 0}))
        inputs = item["inputs"]
        views = [MemberView(self.models[n], inputs["pyramid"], inputs["primary"]) for n in self.members]
        dets = detect_image(views, self.mode, item["data_samples"], self.infer)
        ids = self.synsets.detection_labels_to_ids(dets.labels.numpy())
        out = []
        for cid, score, box in zip(ids.tolist(), dets.scores.tolist(), dets.boxes.tolist()):
            wnid = self.synsets.wnid_of_id(int(cid))
            out.append({"wnid": wnid, "name": self.synsets.name_of(wnid), "score": float(score),
                        "box": [round(float(v), 2) for v in box]})
        return sorted(out, key=lambda b: -b["score"])
