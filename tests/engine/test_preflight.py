"""Settings checked before any work: batch against world size, pyramid, weight files, DET lists.

Each case is one a full run would otherwise meet days in (the ``det`` stage starts after every
classifier, RPN and R-CNN has trained); here the tool must stop before its first stage, with one
line. The checks run on the stages that are about to run, so a finished stage's settings never
block a run that does not redo it.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from ilsvrc_pipe.engine.preflight import check_data_root, check_settings
from ilsvrc_pipe.utils.errors import UserInputError

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "configs/ilsvrc2015/ilsvrc2015.py"
SMOKE = REPO / "configs/mini/smoke.py"
ALL = ("data", "cls", "rpn", "rcnn", "loc", "det", "eval")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def paper():
    return Config.fromfile(str(PAPER))


@pytest.mark.parametrize("world", [1, 2, 8])
def test_paper_config_passes_on_1_2_and_8_processes(paper, world):
    check_settings(paper, ALL, world, CPU)


def test_paper_config_on_3_processes_names_the_first_batch(paper):
    with pytest.raises(UserInputError, match=r"cls\.train\.batch_size=256 does not split over 3 processes"):
        check_settings(paper, ALL, 3, CPU)
    with pytest.raises(UserInputError, match=r"det\.train\.batch_size=16 does not split over 3"):
        check_settings(paper, ["det"], 3, CPU)


def test_only_the_stages_about_to_run_are_checked(paper):
    check_settings(paper, ["loc", "eval"], 3, CPU)   # nothing trains: no batch to split


def test_the_det_batch_of_2_is_refused_on_8_processes_before_cls(paper):
    paper = Config(paper.to_dict())
    paper.det.train.batch_size = 2
    with pytest.raises(UserInputError, match=r"det\.train\.batch_size=2 does not split over 8"):
        check_settings(paper, ALL, 8, CPU)


def test_a_bad_pyramid_is_refused_only_when_det_runs(paper):
    paper = Config(paper.to_dict())
    paper.det.test.pyramid = (200, 400, 400, 800)
    with pytest.raises(UserInputError, match=r"det\.test\.pyramid"):
        check_settings(paper, ALL, 8, CPU)
    check_settings(paper, ["data", "cls", "rpn"], 8, CPU)


def test_a_missing_weight_file_is_refused_when_cls_runs(paper, tmp_path):
    paper = Config(paper.to_dict())
    paper.cls.models[0]["pretrained"] = str(tmp_path / "resnet101.pth")
    with pytest.raises(UserInputError, match="resnet101.pth"):
        check_settings(paper, ALL, 8, CPU)
    check_settings(paper, ["det"], 8, CPU)   # cls finished earlier: its weight file is not read again


def test_bad_image_caps_are_refused_when_data_runs(paper):
    paper = Config(paper.to_dict())
    paper.data["max_images"] = dict(loc_val=0)
    with pytest.raises(UserInputError, match=r"data\.max_images\.loc_val"):
        check_settings(paper, ALL, 1, CPU)
    check_settings(paper, ["cls"], 1, CPU)


def test_test_loop_settings(paper):
    paper = Config(paper.to_dict())
    paper.rpn.test.chunk_images = 0
    with pytest.raises(UserInputError, match=r"rpn\.test\.chunk_images=0"):
        check_settings(paper, ALL, 1, CPU)
    paper.rpn.test.chunk_images, paper.det.test.num_workers = 10, -1
    with pytest.raises(UserInputError, match=r"det\.test\.num_workers=-1"):
        check_settings(paper, ALL, 1, CPU)


def test_side_by_side_must_be_a_boolean_before_the_first_stage():
    smoke = Config.fromfile(str(SMOKE))
    check_settings(smoke, ALL, 1, CPU)   # rcnn and det train side by side (inherited from the mini config)
    smoke.det.side_by_side = "no"   # truthy in Python: it would silently mean yes
    with pytest.raises(UserInputError, match=r"det\.side_by_side: expected True or False, got 'no'"):
        check_settings(smoke, ALL, 1, CPU)
    check_settings(smoke, [s for s in ALL if s != "det"], 1, CPU)


def test_fp16_training_needs_a_gpu(paper):
    paper = Config(paper.to_dict())
    paper.precision.train = "fp16"
    with pytest.raises(UserInputError, match="fp16"):
        check_settings(paper, ALL, 1, CPU)


def test_a_det_root_without_val2_is_refused(devkit_val_root, paper):
    check_data_root(paper, devkit_val_root.root, ALL)   # the devkit's ilsvrc13_val2.txt is val2
    (devkit_val_root.root / "ILSVRC/devkit/data/det_lists/ilsvrc13_val2.txt").unlink()
    with pytest.raises(FileNotFoundError, match="ilsvrc13_val2.txt"):
        check_data_root(paper, devkit_val_root.root, ALL)
    check_data_root(paper, devkit_val_root.root, ["loc", "eval"])   # nothing reads the DET lists


def test_a_root_without_det_runs_loc_only_and_says_so(paper, tmp_path, caplog):
    (tmp_path / "ILSVRC" / "ImageSets" / "CLS-LOC").mkdir(parents=True)
    logger = logging.getLogger("test_preflight")
    with caplog.at_level(logging.WARNING, logger="test_preflight"):
        check_data_root(paper, tmp_path, ALL, logger)
    assert "LOC only" in caplog.text


# -- the tool stops before its first stage -------------------------------------------------------
@pytest.mark.usefixtures("restore_package_logger")
@pytest.mark.parametrize("option, needle", [
    ("det.test.pyramid=(64, 80, 80)", "det.test.pyramid"),
    ("det.train.batch_size=3", "det.train.batch_size=3"),
])
def test_run_pipeline_stops_before_any_stage(smoke_root, tmp_path, capsys, tool_module, monkeypatch, option, needle):
    tool = tool_module("run_pipeline")
    monkeypatch.setattr(tool, "world_size", lambda: 2)   # as under torchrun --nproc_per_node 2
    code = tool.main(["--config", str(SMOKE), "--work-dir", str(tmp_path / "work"), "--submission-dir",
                      str(tmp_path / "subs"), "--data-root", str(smoke_root), "--cfg-options", option])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err, err
    assert not list((tmp_path / "work").glob("*/manifest.json")) and not (tmp_path / "work" / "data").exists()
