"""The pipeline as a user runs it: tools/run_pipeline.py on a generated smoke dataset."""
import json
import subprocess
import sys

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_tool(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools/run_pipeline.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=900)


STAGES = ("data", "cls", "rpn", "rcnn", "loc", "eval")


def test_smoke_pipeline_end_to_end_then_resumes(tmp_path):
    """`--stage all` on the smoke preset: generated data, trained stages beating their baselines."""
    root, work, subs = tmp_path / "gen_root", tmp_path / "work", tmp_path / "subs"
    opts = ["--cfg-options", f"data.root={root}", f"loc.submission_dir={subs}"]
    res = run_tool("--config", "configs/mini/smoke.py", "--work-dir", work, *opts)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (root / ".mini_ilsvrc.json").is_file()
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
    n_test = len((root / "ILSVRC/ImageSets/CLS-LOC/test.txt").read_text().split("\n")) - 1
    assert len((subs / "loc_test.txt").read_text().splitlines()) == n_test
    for stage in STAGES:
        assert json.loads((work / stage / "manifest.json").read_text())["stage"] == stage
    assert list((work / "logs").glob("run_*.log"))
    again = run_tool("--config", "configs/mini/smoke.py", "--work-dir", work, *opts)
    assert again.returncode == 0 and "up to date" in again.stderr and "ran nothing" in again.stderr


def test_missing_user_root_is_an_error(tmp_path):
    res = run_tool("--config", "configs/mini/smoke.py", "--work-dir", tmp_path / "w", "--data-root", tmp_path / "nope",
                   "--stage", "data")
    assert res.returncode != 0 and "does not exist" in res.stderr
