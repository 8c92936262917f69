"""The pipeline as a user runs it: tools/run_pipeline.py on a generated smoke dataset."""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
SMOKE = "configs/mini/smoke.py"
STAGES = ("data", "cls", "rpn", "rcnn", "loc", "det", "eval")


def test_smoke_pipeline_end_to_end_then_skips(smoke_run, pipeline_tool):
    """`--stage all` on the smoke preset: trained stages beating their baselines; eval's numbers are
    those of the files on disk; a second run recomputes nothing."""
    res, work, subs, root = smoke_run["result"], smoke_run["work"], smoke_run["subs"], smoke_run["root"]
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((work / "eval/metrics.json").read_text())
    full, center = metrics["baselines"]["full_image"], metrics["baselines"]["center"]
    for row in (full, center):
        assert 0 <= row["gt_class_error"] <= row["top5_error"] <= 1
    # the classifier ensemble is far better than chance (4 smoke classes: chance top-1 error 0.75)
    assert metrics["cls"]["ensemble"]["top1_error"] < 0.4
    # the per-class RPN localizes the ground-truth class better than the whole-image box
    rows = metrics["loc"]["rows"]
    assert rows["rpn_dense"]["gt_class_error"] < full["gt_class_error"]
    assert set(rows) >= {"rpn_center", "rpn_dense", "rpn_rcnn_dense", "rpn_rcnn_dense_ensemble",
                         "baseline_full_image", "baseline_center"}
    assert metrics["loc"]["top5_error"] == min(rows[k]["top5_error"] for k in rows if not k.startswith("baseline"))
    # the submission that eval scored is the file in the submission folder, and scores as the best row
    assert metrics["submissions"]["val"]["file"] == str(subs / "loc_val.txt")
    assert metrics["submissions"]["val"]["top5_error"] == metrics["loc"]["top5_error"]
    assert metrics["submissions"]["val_kaggle"]["top5_error"] == metrics["loc"]["top5_error"]
    # detection: every Table 9 row, each the score of its val2 file; the detector clearly beats the floor
    det = metrics["det"]
    assert list(det["rows"]) == ["floor_whole_image", "baseline", "refine", "refine_context",
                                 "refine_context_multiscale", "ensemble"]
    assert det["split"] == "val2" and det["mAP"] == max(r["mAP"] for r in det["rows"].values())
    assert det["mAP"] >= det["rows"]["floor_whole_image"]["mAP"] + 0.08
    assert det["submission_val2_mAP"] == det["mAP"]
    n_det_test = len(pd.read_parquet(work / "data/det_test_images.parquet"))
    assert {int(line.split()[0]) for line in Path(det["files"]["test"]).read_text().splitlines()} <= set(range(1, n_det_test + 1))
    n_test = len((root / "ILSVRC/ImageSets/CLS-LOC/test.txt").read_text().splitlines())
    assert len((subs / "loc_test.txt").read_text().splitlines()) == n_test
    for stage in STAGES:
        assert json.loads((work / stage / "manifest.json").read_text())["stage"] == stage
    assert list((work / "logs").glob("run_*.log"))
    # the HTML report exists and the run's last line names it
    assert (work / "eval/report.html").is_file()
    assert res.stderr.strip().splitlines()[-1].endswith(f"report: {work / 'eval/report.html'}")
    again = pipeline_tool("--config", SMOKE, "--work-dir", work, "--submission-dir", subs,
                          "--cfg-options", f"data.root={root}")
    assert again.returncode == 0 and "up to date" in again.stderr and "ran nothing" in again.stderr


def test_seed_of_the_baselines_reruns_loc_only(smoke_run, pipeline_tool, tmp_path):
    """`--cfg-options eval.seed=1` (the --help example) must not reuse the baselines of seed 0."""
    work = tmp_path / "work"
    shutil.copytree(smoke_run["work"], work)
    before = {s: json.loads((work / s / "manifest.json").read_text())["run_id"] for s in STAGES}
    # the same submission folder (it is part of the fingerprint of the stages that write there); the
    # best row's files do not depend on the baselines' seed, so they are rewritten identical
    res = pipeline_tool("--config", SMOKE, "--work-dir", work, "--submission-dir", smoke_run["subs"],
                        "--cfg-options", f"data.root={smoke_run['root']}", "eval.seed=1")
    assert res.returncode == 0, res.stderr[-3000:]
    after = {s: json.loads((work / s / "manifest.json").read_text())["run_id"] for s in STAGES}
    assert [s for s in STAGES if before[s] != after[s]] == ["loc", "eval"]   # not det, not upstream


def test_default_submission_folder_is_in_the_repository(smoke_run, pipeline_tool, tmp_path):
    """Without --submission-dir the files go to <repo>/submissions/<work dir name>, wherever the
    command is started from."""
    work = tmp_path / "ilsvrc_pipe_test_default_subs"
    shutil.copytree(smoke_run["work"], work)
    target = REPO_ROOT / "submissions" / work.name
    shutil.rmtree(target, ignore_errors=True)
    try:
        res = pipeline_tool("--config", REPO_ROOT / SMOKE, "--work-dir", work, "--stage", "loc",
                            "--cfg-options", f"data.root={smoke_run['root']}", cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-3000:]
        assert (target / "loc_val.txt").is_file() and (target / "loc_test.csv").is_file()
        assert not (tmp_path / "submissions").exists()
    finally:
        shutil.rmtree(target, ignore_errors=True)


def test_corrupt_val_image_is_kept_with_a_whole_image_guess(smoke_root, pipeline_tool, tmp_path):
    """With data.skip_corrupt_images a truncated val image stays in the records (the devkit needs a
    line per image), is named in a warning, and gets whole-image guesses; without it the data stage
    fails naming the file."""
    root = tmp_path / "root"
    shutil.copytree(smoke_root, root)
    val = sorted((root / "ILSVRC/Data/CLS-LOC/val").iterdir())
    victim = val[3]
    victim.write_bytes(victim.read_bytes()[:200])
    fail = pipeline_tool("--config", SMOKE, "--work-dir", tmp_path / "w0", "--stage", "data",
                         "--cfg-options", f"data.root={root}")
    assert fail.returncode != 0 and victim.name in fail.stderr
    quick = ["cls.train.max_epochs=1", "cls.train.milestones=[1]", "rpn.train.max_epochs=1", "rpn.train.milestones=[1]",
             "rcnn.train.max_epochs=1", "rcnn.train.milestones=[1]"]
    work, subs = tmp_path / "w", tmp_path / "subs"
    res = pipeline_tool("--config", SMOKE, "--work-dir", work, "--submission-dir", subs, "--stage", "loc",
                        "--cfg-options", f"data.root={root}", "data.skip_corrupt_images=True", *quick)
    assert res.returncode == 0, res.stderr[-3000:]
    assert victim.name in res.stderr and "corrupt" in res.stderr
    images = pd.read_parquet(work / "data/loc_val_images.parquet")
    assert len(images) == len(val) and images.corrupt.sum() == 1
    row = int(images.index[images.corrupt][0])
    width, height = int(images.width[row]), int(images.height[row])
    lines = (subs / "loc_val.txt").read_text().splitlines()
    assert len(lines) == len(val)
    fields = lines[row].split()
    assert len(fields) == 20  # 4 smoke classes: 4 guesses
    for g in range(4):
        assert [float(v) for v in fields[5 * g + 1:5 * g + 5]] == [0, 0, width - 1, height - 1]


def test_missing_user_root_is_an_error(pipeline_tool, tmp_path):
    res = pipeline_tool("--config", SMOKE, "--work-dir", tmp_path / "w", "--data-root", tmp_path / "nope",
                        "--stage", "data")
    assert res.returncode != 0 and "does not exist" in res.stderr


def test_eval_refuses_a_row_file_that_scores_otherwise(smoke_run, pipeline_tool, tmp_path):
    """eval's numbers are the files' numbers: a Table 13 row file edited after `loc` is caught."""
    work = tmp_path / "work"
    shutil.copytree(smoke_run["work"], work)
    row_file = Path(json.loads((work / "loc/metrics.json").read_text())["rows"]["rpn_dense"]["files"]["top5"])
    row_file = work / "loc" / "files" / row_file.name
    lines = row_file.read_text().splitlines()
    lines = [" ".join(["0", "0", "0", "1", "1"] * (len(line.split()) // 5)) for line in lines]   # boxes that hit nothing
    row_file.write_text("\n".join(lines) + "\n")
    res = pipeline_tool("--config", SMOKE, "--work-dir", work, "--submission-dir", smoke_run["subs"], "--stage", "eval",
                        "--force", "--cfg-options", f"data.root={smoke_run['root']}")
    assert res.returncode != 0 and "score otherwise" in res.stderr


def test_an_empty_stage_list_is_an_error(pipeline_tool, tmp_path):
    res = pipeline_tool("--config", SMOKE, "--work-dir", tmp_path / "w", "--stage", "")
    assert res.returncode == 2 and "names no stage" in res.stderr and "Traceback" not in res.stderr


def test_rpn_anchors_are_fitted_to_the_training_boxes(smoke_run):
    """The RPN's anchors come from k-means over the run's own CLS-LOC training boxes (as the
    training resizes them), are recorded in rpn/anchors.json, and the trained heads use them."""
    import numpy as np
    import torch

    from ilsvrc_pipe.artifacts.paths import Artifacts
    from ilsvrc_pipe.models.localization.anchor_fit import mean_best_iou, resized_box_shapes
    from ilsvrc_pipe.utils.io_utils import read_table

    art = Artifacts(smoke_run["work"])
    fitted = json.loads(art.fitted_anchors("rpn").read_text())
    shapes = np.asarray(fitted["shapes"])
    assert len(shapes) == 12 and (shapes > 0).all() and (shapes <= 56).all()   # smoke crop: 56 px
    images = read_table(art.records("loc", "train", "images")).set_index("image_id")
    boxes = read_table(art.records("loc", "train", "boxes"))
    short = images.loc[boxes.image_id, ["width", "height"]].to_numpy().min(axis=1)
    wh = resized_box_shapes(boxes[["x1", "y1", "x2", "y2"]].to_numpy(), short, [64, 76, 88], crop=56)
    assert mean_best_iou(wh, shapes) == pytest.approx(fitted["mean_best_iou"], abs=0.03)
    assert mean_best_iou(wh, shapes) > mean_best_iou(wh, [[40, 40]]) + 0.1   # one anchor of the middle size
    weights = torch.load(art.final_weights("rpn", "rpn_a"), map_location="cpu", weights_only=False)
    state = weights.get("state_dict", weights)
    assert state["cls.weight"].shape[0] == 12 * 4   # 12 anchors x 4 smoke classes
