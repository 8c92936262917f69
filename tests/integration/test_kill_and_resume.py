"""Kill-and-resume, for real: SIGKILL the pipeline at several points, rerun, and compare with an
uninterrupted run.

Kill points: during a classifier's training (after its second epoch checkpoint), inside the first
proposal table (some of its parts written, not all: ``artifacts/parts.py``), and inside the ``loc`` stage.
After every kill: no finished stage is recomputed later (its manifest run id never changes), no file
under an artifact's name is half written (every table and JSON reads back), the proposal parts
finished before the kill are never written again (the loop resumes at the first unfinished chunk),
and the resumed run ends with exactly the figures and submission files of the uninterrupted one. That holds because a training resumes from its last
epoch checkpoint and every sample's augmentation is drawn from (seed, epoch, position)
(``ilsvrc_pipe/data/seeded.py``), so the resumed epochs see the same samples.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
SMOKE = "configs/mini/smoke.py"
STAGES = ("data", "cls", "rpn", "rcnn", "loc", "det", "eval")


def start(work: Path, subs: Path, root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "tools/run_pipeline.py"), "--config", SMOKE,
                             "--work-dir", str(work), "--submission-dir", str(subs), "--cfg-options",
                             f"data.root={root}"], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def kill_when(proc: subprocess.Popen, ready, timeout: float = 600) -> None:
    """Poll ``ready()``; freeze the process the moment it holds, then SIGKILL it."""
    t0 = time.monotonic()
    while not ready():
        assert proc.poll() is None, f"the run ended before the kill point:\n{proc.stderr.read()[-3000:]}"
        assert time.monotonic() - t0 < timeout, "kill point never reached"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGSTOP)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def finished_run_ids(work: Path) -> dict:
    return {s: json.loads((work / s / "manifest.json").read_text())["run_id"]
            for s in STAGES if (work / s / "manifest.json").is_file()}


def assert_nothing_half_written(work: Path) -> None:
    """Every artifact under its own name reads back; leftovers of a kill carry a temporary name."""
    for path in work.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue  # `.name.xxx.tmp`: an unfinished write, never read under an artifact's name
        if path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.suffix == ".json" and "models" not in path.relative_to(work).parts:  # not mmengine's logs
            json.loads(path.read_text())
        elif path.name == "final.pth":
            torch.load(path, weights_only=True)


def parts_of(table: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of each written part of a parted result table: a part written again changes both."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(table.glob("part-*.parquet"))}


def test_killed_three_times_ends_where_an_uninterrupted_run_ends(smoke_run, tmp_path):
    assert smoke_run["result"].returncode == 0, smoke_run["result"].stderr[-3000:]
    root, work, subs = smoke_run["root"], tmp_path / "work", tmp_path / "subs"
    first_cls = "resnet18_w025"
    proposals = work / "rpn/proposals/rpn_a_dense_train"   # 32 boxed train images, parts of 4 (configs/mini/smoke.py)
    kill_points = [
        ("cls training", lambda: (work / "cls/models" / first_cls / "epoch_2.pth").is_file()),
        ("proposals", lambda: len(parts_of(proposals)) >= 2 and not (proposals / "complete.json").is_file()),
        ("loc", lambda: (work / "loc/.started.json").is_file()),
    ]
    finished: dict = {}
    for what, ready in kill_points:
        kill_when(start(work, subs, root), ready)
        assert_nothing_half_written(work)
        if what == "proposals":
            killed_inside = parts_of(proposals)
            assert 2 <= len(killed_inside) < 8 and not (proposals / "complete.json").is_file()
        now = finished_run_ids(work)
        assert {s: now[s] for s in finished} == finished, f"a finished stage was recomputed before the kill in {what}"
        finished = now
    assert "cls" not in finished or (work / "cls/manifest.json").is_file()
    assert "loc" not in finished, "the last kill was meant to land inside loc"
    assert {"data", "cls", "rpn", "rcnn"} <= set(finished)
    final = start(work, subs, root)
    _, err = final.communicate(timeout=900)
    assert final.returncode == 0, err[-3000:]
    ids = finished_run_ids(work)
    assert {s: ids[s] for s in finished} == finished and set(ids) == set(STAGES)
    # the parts finished before the kill inside the proposals were kept, not computed again
    assert {k: v for k, v in parts_of(proposals).items() if k in killed_inside} == killed_inside
    assert_nothing_half_written(work)
    # the resumed run ends exactly where the uninterrupted one ended
    ref = json.loads((smoke_run["work"] / "eval/metrics.json").read_text())
    got = json.loads((work / "eval/metrics.json").read_text())
    assert got["cls"]["models"] == ref["cls"]["models"] and got["cls"]["ensemble"] == ref["cls"]["ensemble"]
    for row, values in ref["loc"]["rows"].items():
        for key in ("gt_class_error", "top1_error", "top5_error"):
            assert got["loc"]["rows"][row][key] == values[key], (row, key)
    assert {k: v["mAP"] for k, v in got["det"]["rows"].items()} == {k: v["mAP"] for k, v in ref["det"]["rows"].items()}
    for name in ("loc_val.txt", "loc_val.csv", "loc_test.txt", "loc_test.csv", "det_val2.txt", "det_test.txt"):
        assert (subs / name).read_bytes() == (smoke_run["subs"] / name).read_bytes(), name
