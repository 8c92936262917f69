"""The pipeline as a user runs it: tools/run_pipeline.py on a generated smoke dataset."""
import json
import subprocess
import sys

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_tool(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools/run_pipeline.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=900)


def test_default_root_is_generated_then_everything_resumes(tmp_path):
    root, work = tmp_path / "gen_root", tmp_path / "work"
    res = run_tool("--config", "configs/mini/smoke.py", "--work-dir", work, "--cfg-options", f"data.root={root}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert (root / ".mini_ilsvrc.json").is_file()
    metrics = json.loads((work / "eval/metrics.json").read_text())
    full, center = metrics["baselines"]["full_image"], metrics["baselines"]["center"]
    for row in (full, center):
        assert 0 <= row["gt_class_error"] <= row["top5_error"] <= 1
    for stage in ("data", "eval"):
        assert json.loads((work / stage / "manifest.json").read_text())["stage"] == stage
    assert list((work / "logs").glob("run_*.log"))
    again = run_tool("--config", "configs/mini/smoke.py", "--work-dir", work, "--cfg-options", f"data.root={root}")
    assert again.returncode == 0 and "up to date" in again.stderr and "ran nothing" in again.stderr


def test_missing_user_root_is_an_error(tmp_path):
    res = run_tool("--config", "configs/mini/smoke.py", "--work-dir", tmp_path / "w", "--data-root", tmp_path / "nope",
                   "--stage", "data")
    assert res.returncode != 0 and "does not exist" in res.stderr
