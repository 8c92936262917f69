"""The paper config at the paper's sizes, end to end, as its README section tells a user to run it.

``configs/ilsvrc2015/paper_size_smoke.py`` cuts only counts from the paper config (epochs, images,
the R-CNN's proposals, ensemble sizes, depth). Its every image size, scale, crop, pyramid, proposal
count, NMS threshold and batch size is the paper's, so this run meets what a real ImageNet run meets:
photos of 281-500 px shorter sides in both orientations (the DET pyramid up to a 1000 px shorter
side), global batches of 256 and 16 split over two processes, the devkit's own DET val2 list with
val1 derived from it. The command is the README's:

    torchrun --nproc_per_node 2 tools/run_pipeline.py --stage all --launcher pytorch \\
        --config configs/ilsvrc2015/paper_size_smoke.py --data-root ROOT
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ilsvrc_pipe.report.run_check import STAGES, check_finished_run

REPO = Path(__file__).resolve().parents[2]
CONFIG = "configs/ilsvrc2015/paper_size_smoke.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def paper_size_run(tmp_path_factory):
    from ilsvrc_pipe.synthetic import generate_mini_ilsvrc

    base = tmp_path_factory.mktemp("paper_size")
    root = generate_mini_ilsvrc(base / "root", preset="paper_size", seed=0)
    work, subs = base / "work", base / "subs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29547",
           "tools/run_pipeline.py", "--stage", "all", "--launcher", "pytorch", "--config", CONFIG,
           "--data-root", str(root), "--work-dir", str(work), "--submission-dir", str(subs)]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=2400,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    return {"root": root, "work": work, "subs": subs, "result": res}


def test_every_stage_finishes_and_every_submission_file_scores(paper_size_run):
    res, work, subs = (paper_size_run[k] for k in ("result", "work", "subs"))
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
    check = check_finished_run(work, subs)
    assert check.ok, check.problems
    assert set(STAGES) == {p.parent.name for p in work.glob("*/manifest.json")}
    # the files score as the run says they do: the eval stage re-scored the same files
    metrics = json.loads((work / "eval/metrics.json").read_text())
    assert check.scores["loc_val.txt top-5 LOC error"] == metrics["submissions"]["val"]["top5_error"]
    # (NaN when val2's two images hold no object of a detected class: the devkit's rule, as on a cut val2)
    assert same(check.scores["det_val2.txt mAP"], metrics["det"]["submission_val2_mAP"])
    assert list(metrics["det"]["rows"]) == ["floor_whole_image", "baseline", "refine", "refine_context",
                                            "refine_context_multiscale", "ensemble"]


def test_the_run_met_the_paper_sizes(paper_size_run):
    """What makes this run paper-sized, read from its own records and logs, not from the config."""
    res, work = paper_size_run["result"], paper_size_run["work"]
    assert res.returncode == 0, res.stderr[-3000:]
    for task, split in (("loc", "val"), ("det", "val")):
        images = pd.read_parquet(work / f"data/{task}_{split}_images.parquet")
        short = images[["width", "height"]].min(axis=1)
        assert short.between(281, 500).all(), (task, split)
        assert (images.width > images.height).any() and (images.width < images.height).any(), (task, split)
    log = res.stdout + res.stderr
    assert "Distributed training: True" in log
    # the global batches of 256 (cls, rpn, rcnn) and 16 (det), each split over the two processes
    assert "current batch size is 256" in log and "current batch size is 16" in log
    assert "val1" in log and "derived" in log   # no val1 list in the devkit layout: val minus val2


def test_a_user_scores_the_submissions_with_the_scorer(paper_size_run, tmp_path):
    """``tools/evaluate.py`` on the submission files, as the README's scoring section runs it."""
    res, root, subs = paper_size_run["result"], paper_size_run["root"], paper_size_run["subs"]
    assert res.returncode == 0
    check = check_finished_run(paper_size_run["work"], subs)
    for task, name, extra, key in (("loc", "loc_val.txt", (), "loc_error"),
                                   ("det", "det_val2.txt", ("--split", "val2"), "mAP")):
        out = tmp_path / f"{name}.json"
        cli = subprocess.run([sys.executable, "tools/evaluate.py", task, "--pred", str(subs / name), "--data-root",
                              str(root), *extra, "--json-out", str(out)], cwd=REPO, capture_output=True, text=True)
        assert cli.returncode == 0, cli.stderr
        result = json.loads(out.read_text())
        if task == "loc":
            assert result[key][4] == check.scores["loc_val.txt top-5 LOC error"]
        else:
            assert same(result[key], check.scores["det_val2.txt mAP"])


def same(a: float, b: float) -> bool:
    """Equal, NaN included (a NaN mAP is the official score of a val2 missing a detected class)."""
    return a == b or (math.isnan(a) and math.isnan(b))
