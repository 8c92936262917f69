"""The data stage's DET part: the val halves as the ILSVRC2014 devkit ships them, and its one log line."""
from __future__ import annotations

import logging

from mmengine.config import Config

from ilsvrc_pipe.artifacts import Artifacts
from ilsvrc_pipe.stages.base import DeclaredConfig, StageContext
from ilsvrc_pipe.stages.data import DataStage


def data_context(root, tmp_path, logger) -> StageContext:
    cfg = Config(dict(data=dict(verify_images=False)))   # the XMLs give every size: no image is read
    return StageContext(DeclaredConfig(cfg, DataStage.reads, "data"), root, Artifacts(tmp_path / "work"), "data", logger)


def test_det_halves_from_the_devkit_lists_and_the_log_line(devkit_val_root, tmp_path, caplog):
    logger = logging.getLogger("test_data_stage")
    ctx = data_context(devkit_val_root.root, tmp_path, logger)
    with caplog.at_level(logging.INFO, logger="test_data_stage"):
        figures = DataStage._index_det(ctx, {})
    assert (figures["det_val_images"], figures["det_val1_images"], figures["det_val2_images"]) == (7, 3, 3)
    art = ctx.artifacts
    assert art.read_images("det", "val1")["index"].tolist() == [1, 4, 7]
    assert art.read_images("det", "val2")["index"].tolist() == [6, 2, 5]
    assert art.read_det_ground_truth("val1").image_index.tolist() == [1, 4, 7]
    notes = [r.getMessage() for r in caplog.records if "val1 is derived" in r.getMessage()]
    assert len(notes) == 1 and "\n" not in notes[0], [r.getMessage() for r in caplog.records]
    assert "ilsvrc13_val2.txt (3 images" in notes[0] and "minus 1 blacklisted image(s) outside val2" in notes[0]
    assert "3 images in val order" in notes[0]
