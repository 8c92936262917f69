"""The rows of Table 13 and Table 9 as data: what answers each row, and the paths they resolve to."""
import pytest
from mmengine.config import Config

from ilsvrc_pipe.artifacts.paths import Artifacts
from ilsvrc_pipe.engine.rows import (
    DET_FLOOR_ROW,
    DET_LEARNED,
    DET_TABLE,
    LOC_ROWS,
    baseline_row,
    det_row_modes,
    loc_classifiers,
    loc_row_files,
    loc_row_inputs,
)
from ilsvrc_pipe.report.paper import TABLE9_COCO, TABLE12_DET, TABLE13

SECTION = {"rows": dict(baseline="a", refine="a", refine_context="b", refine_context_multiscale="b",
                        ensemble=["a", "b"]), "test": dict(target_size=50, max_per_image=7)}
CFG = Config(dict(cls=dict(models=[dict(name="c1"), dict(name="c2")]),
                  rpn=dict(models=[dict(name="r1"), dict(name="r2")]),
                  rcnn=dict(models=[dict(name="q1", rpn="r1"), dict(name="q2", rpn="r2")])))


def test_row_modes_follow_the_paper_table():
    plan = det_row_modes(SECTION)
    assert list(plan) == list(DET_LEARNED)
    assert plan["baseline"][0] == ["a"] and not plan["baseline"][1].refine
    assert plan["refine"][1].refine and not plan["refine"][1].multiscale
    assert plan["refine_context_multiscale"][1].multiscale and plan["ensemble"][0] == ["a", "b"]
    assert all(mode.max_per_image == 7 and mode.target_size == 50 and mode.nms_iou == 0.3 for _, mode in plan.values())
    with pytest.raises(KeyError):
        det_row_modes({"rows": {"baseline": "a"}})


def test_det_table_is_the_floor_then_the_learned_rows():
    assert DET_TABLE == (DET_FLOOR_ROW, *DET_LEARNED) == (
        "floor_whole_image", "baseline", "refine", "refine_context", "refine_context_multiscale", "ensemble")


def test_loc_rows_resolve_first_members_from_the_config(tmp_path):
    art = Artifacts(tmp_path / "w", tmp_path / "s")
    inputs = loc_row_inputs(art, CFG, "val")
    assert list(inputs) == list(LOC_ROWS)
    assert inputs["rpn_center"] == (art.proposals("r1", "center", "val"), "c1")
    assert inputs["rpn_dense"] == (art.proposals("r1", "dense", "val"), "c1")
    assert inputs["rpn_rcnn_dense"] == (art.rcnn_boxes("q1", "val"), "c1")
    assert inputs["rpn_rcnn_dense_ensemble"] == (art.rcnn_boxes("ensemble", "val"), "ensemble")
    assert loc_classifiers(CFG.cls) == ["ensemble", "c1"]


def test_loc_row_files_name_localizer_and_baseline_files(tmp_path):
    art = Artifacts(tmp_path / "w", tmp_path / "s")
    assert loc_row_files(art, "rpn_dense") == {"top5": str(art.loc_row_file("rpn_dense")),
                                               "gt_class": str(art.loc_row_file("rpn_dense", gt_class=True))}
    row = baseline_row("full-image")
    assert row == "baseline_full_image"
    assert loc_row_files(art, row) == {"top5": str(art.baseline_file("full-image", "prior_top5")),
                                       "gt_class": str(art.baseline_file("full-image", "gt_class"))}


def test_the_paper_figures_are_keyed_by_the_rows():
    assert set(TABLE13) == set(LOC_ROWS)
    assert set(TABLE9_COCO) == set(DET_LEARNED) and set(TABLE12_DET) <= set(DET_LEARNED)
