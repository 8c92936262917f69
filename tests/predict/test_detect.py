"""``DetPredictor`` (``tools/predict.py --task det``) on a panorama, with random detectors standing in
for a finished run: mini's pyramid (112, 160, 224) once collapsed there and the maxout raised."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from mmengine.config import Config
from PIL import Image

from ilsvrc_pipe.data.synsets import SynsetTable
from ilsvrc_pipe.models.detection.c4 import C4FasterRCNN
from ilsvrc_pipe.predict.detect import DetPredictor

MINI = Path(__file__).resolve().parents[2] / "configs/mini/pipeline.py"


def random_run(cfg) -> SimpleNamespace:
    """What DetPredictor reads of ``RunModels``: the config, the DET classes, detectors and ``infer``."""
    synsets = SynsetTable(("n01", "n02", "n03"), ("one", "two", "three"))
    torch.manual_seed(0)
    model = C4FasterRCNN(dict(depth=18, width=0.125), num_classes=len(synsets), anchor_sizes=(24, 48),
                         anchor_ratios=(1.0,), roi_output_size=4,
                         rpn_post_nms_top_n=dict(training=20, testing=12)).eval()
    return SimpleNamespace(cfg=cfg, classes={"det": synsets}, precision="fp32",
                           detectors=lambda names: {n: model for n in names},
                           infer=lambda fn, *args, **kwargs: fn(*args, **kwargs))


def test_a_panorama_goes_through_the_multiscale_rows(tmp_path):
    cfg = Config.fromfile(str(MINI))
    path = tmp_path / "panorama.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 1000, 3), dtype=np.uint8)).save(path)
    run = random_run(cfg)
    for row in ("refine_context_multiscale", "ensemble"):
        predictor = DetPredictor(run, row)
        assert predictor.mode.multiscale
        out = predictor(path, "panorama")
        item = predictor.pack(predictor.load({"img_path": str(path), "image_id": "panorama", "image_index": 0}))
        assert [tuple(x.shape[1:]) for x in item["inputs"]["pyramid"]] == [(112, 560), (160, 800), (224, 1120)]
        assert out and all(a["score"] >= b["score"] for a, b in zip(out, out[1:]))
        for det in out:
            x1, y1, x2, y2 = det["box"]
            assert 0 <= x1 <= x2 <= 999 and 0 <= y1 <= y2 <= 199
