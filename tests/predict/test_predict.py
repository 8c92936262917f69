"""tools/predict.py on images outside the ILSVRC layout (the smoke run's test images copied flat, a PNG
and a grayscale JPEG): one entry per image, boxes inside the image, and the very guesses the stages
wrote for the same test images."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ilsvrc_pipe.artifacts.parts import read_result_table

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
SMOKE = "configs/mini/smoke.py"


def predict(*args):
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools/predict.py"), *map(str, args)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def flat_images(folder: Path, out: Path) -> list[Path]:
    """The test images copied flat, plus a PNG (enlarged) and a grayscale JPEG of the first one."""
    out.mkdir(parents=True)
    files = [Path(shutil.copy(p, out / p.name)) for p in sorted(folder.glob("*.JPEG"))]
    first = Image.open(files[0]).convert("RGB")
    first.resize((first.width * 2, first.height * 3 // 2)).save(out / "extra_colour.png")
    first.convert("L").save(out / "extra_gray.jpg")
    return files + [out / "extra_colour.png", out / "extra_gray.jpg"]


def check_entries(entries: list[dict], files: list[Path], out: Path) -> None:
    assert sorted(Path(e["file"]).name for e in entries) == sorted(f.name for f in files)
    for e in entries:
        width, height = Image.open(e["file"]).size
        assert (e["width"], e["height"]) == (width, height)
        for b in e["boxes"]:
            x1, y1, x2, y2 = b["box"]
            assert 0 <= x1 <= x2 <= width - 1 and 0 <= y1 <= y2 <= height - 1, (e["file"], b)
            assert set(b) >= {"wnid", "name", "score", "box"}
    with open(out / "predictions.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == sum(len(e["boxes"]) for e in entries)
    assert len(list((out / "vis").glob("*.jpg"))) == len(files)


@pytest.fixture
def finished_run(smoke_run):
    """The session's smoke run, whose ``loc`` and ``det`` stages (all that predict reads) finished."""
    for stage in ("cls", "rpn", "rcnn", "loc", "det"):
        assert (smoke_run["work"] / stage / "manifest.json").is_file(), smoke_run["result"].stderr[-3000:]
    return smoke_run


def test_predict_loc_gives_the_loc_stage_guesses(finished_run, tmp_path):
    root, work = finished_run["root"], finished_run["work"]
    files = flat_images(root / "ILSVRC/Data/CLS-LOC/test", tmp_path / "in")
    out = tmp_path / "out"
    res = predict("--work-dir", work, "--images", tmp_path / "in", "--out", out, "--config", SMOKE,
                  "--cfg-options", f"data.root={root}")
    assert res.returncode == 0, res.stderr[-3000:]
    entries = json.loads((out / "predictions.json").read_text())
    check_entries(entries, files, out)
    n_classes = len(json.loads((work / "data/classes.json").read_text())["clsloc"]["wnids"])
    assert all(len(e["boxes"]) == min(5, n_classes) for e in entries)
    # the loc stage's submission guesses for the same test images (the default row is its best row)
    classes = json.loads((work / "data/classes.json").read_text())["clsloc"]["wnids"]
    lines = (finished_run["subs"] / "loc_test.txt").read_text().splitlines()
    by_name = {e["file"]: e for e in entries}
    for k, path in enumerate(files[:-2]):
        fields = lines[k].split()
        devkit_id, box = int(fields[0]), [float(v) for v in fields[1:5]]
        top1 = by_name[str(path)]["boxes"][0]
        assert classes[devkit_id - 1] == top1["wnid"], path.name
        np.testing.assert_allclose(top1["box"], box, atol=0.01)
    assert not list(work.rglob("predictions*"))  # nothing written into the work dir


def test_predict_det_gives_the_det_stage_detections_and_reports_bad_files(finished_run, tmp_path):
    root, work = finished_run["root"], finished_run["work"]
    files = flat_images(root / "ILSVRC/Data/DET/test", tmp_path / "in")
    out = tmp_path / "out"
    common = ("--config", SMOKE, "--cfg-options", f"data.root={root}")
    res = predict("--work-dir", work, "--task", "det", "--images", *files, "--out", out, "--score-thr", 0.0, *common)
    assert res.returncode == 0, res.stderr[-3000:]
    entries = json.loads((out / "predictions.json").read_text())
    check_entries(entries, files, out)
    best = json.loads((work / "det/metrics.json").read_text())["best_row"]
    table = read_result_table(work / f"det/detections/{best}_test")
    stage = table[table.image_id == files[0].stem].sort_values("score", ascending=False, kind="stable")
    mine = next(e for e in entries if e["file"] == str(files[0]))["boxes"]
    assert len(mine) == len(stage)
    np.testing.assert_allclose([b["score"] for b in mine], stage.score, atol=1e-5)
    np.testing.assert_allclose([b["box"] for b in mine], stage[["x1", "y1", "x2", "y2"]], atol=0.01)

    bad = tmp_path / "in" / "broken.jpg"
    bad.write_bytes(files[0].read_bytes()[:200])
    res = predict("--work-dir", work, "--task", "det", "--images", tmp_path / "in", "--out", tmp_path / "o2", *common)
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1].startswith(f"error: {bad}: cannot read image")
    res = predict("--work-dir", work, "--task", "det", "--images", tmp_path / "in", "--out", tmp_path / "o3",
                  "--skip-corrupt", *common)
    assert res.returncode == 0, res.stderr[-3000:]
    entry = next(e for e in json.loads((tmp_path / "o3/predictions.json").read_text()) if e["file"] == str(bad))
    assert entry["boxes"] == [] and "cannot read image" in entry["error"]
