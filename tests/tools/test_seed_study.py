"""tools/seed_study.py: tabulating finished runs, and a row's lead with its bootstrap interval."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ilsvrc_pipe.artifacts.paths import Artifacts
from ilsvrc_pipe.evaluation.ground_truth import DetGroundTruth


def _finished_run(work_dir):
    """A work dir with det metrics, two Table 9 row files and the val2 ground truth: the refine row
    finds all three objects (AP 1), the baseline row only the first image's (AP 1/3)."""
    art = Artifacts(work_dir)
    art.stage_dir("data").mkdir(parents=True)
    art.write_ground_truth("det", "val2", DetGroundTruth(
        stems=["a", "b", "c"], image_index=np.array([2, 5, 7]), object_image=np.arange(3),
        object_class=np.ones(3, np.int64), object_boxes=np.tile([0.0, 0.0, 19.0, 19.0], (3, 1)),
        blacklist=np.zeros((0, 2), np.int64)))
    files = art.det_row_file("refine", "val2").parent
    files.mkdir(parents=True)
    art.det_row_file("refine", "val2").write_text("2 1 0.9 0 0 19 19\n5 1 0.8 0 0 19 19\n7 1 0.7 0 0 19 19\n")
    art.det_row_file("baseline", "val2").write_text("2 1 0.9 0 0 19 19\n")
    (work_dir / "det" / "metrics.json").write_text(json.dumps({"rows": {"baseline": {"mAP": 1 / 3},
                                                                        "refine": {"mAP": 1.0}}}))


def test_collect_gives_each_compared_pair_its_bootstrap_interval(tmp_path, tool_module):
    tool = tool_module("seed_study")
    _finished_run(tmp_path)
    result = tool.collect(tmp_path, [("refine", "baseline"), ("refine", "ensemble")])
    assert result["table9"] == {"baseline": pytest.approx(1 / 3), "refine": 1.0}
    diff = result["table9_differences"]["refine-baseline"]
    assert diff["delta"] == pytest.approx(2 / 3) and 0 <= diff["low"] <= diff["delta"] <= diff["high"]
    assert result["table9_differences"]["refine-ensemble"] is None       # a row the run did not write
    text = tool.markdown([{"preset": "cluttered", "seed": 0, "wall_s": 1.0, **result}])
    assert "| refine-baseline | +0.667 [" in text and "| refine-ensemble | - |" in text


def test_compare_takes_two_row_names(tool_module):
    tool = tool_module("seed_study")
    assert tool.parse_pair("refine_context:refine") == ("refine_context", "refine")
    for bad in ("refine", ":refine", "refine:"):
        with pytest.raises(SystemExit, match="ROW_A:ROW_B"):
            tool.parse_pair(bad)
