"""The whole pipeline under torchrun: 2 CPU processes (gloo) on the smoke preset.

What may differ from one process, and why: the trained weights. The global batch and every
sample's augmentation are those of one process (``training.per_rank_loader``, ``SeededSampler``),
but the classifiers', RPNs' and R-CNNs' batch norms see each rank's half of a batch, and the
gradients are summed in another order. Everything else must not differ: with the same weights,
the sharded inference of every stage (classification, proposals, R-CNN rescoring, detection) gives
byte-identical tables and submission files. The test checks that by re-running one process on a
copy of the 2-process run's final weights.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOKE_CONFIG = "configs/mini/smoke.py"
STAGES = ("data", "cls", "rpn", "rcnn", "loc", "det", "eval")

pytestmark = pytest.mark.slow


def _run(cmd, work: Path, subs: Path, root: Path) -> subprocess.CompletedProcess:
    cmd = [*cmd, "--config", SMOKE_CONFIG, "--work-dir", str(work), "--submission-dir", str(subs),
           "--cfg-options", f"data.root={root}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200, env=env)


@pytest.fixture(scope="module")
def two_process_run(smoke_root, tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp_pipeline")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "tools/run_pipeline.py", "--launcher", "pytorch", "--stage", "all"]
    res = _run(cmd, base / "work", base / "subs", smoke_root)
    return {"base": base, "work": base / "work", "subs": base / "subs", "root": smoke_root, "result": res}


def test_two_processes_run_every_stage_and_write_once(two_process_run):
    res = two_process_run["result"]
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    work = two_process_run["work"]
    for stage in STAGES:
        assert json.loads((work / stage / "manifest.json").read_text())["stage"] == stage
    # each model trained with DDP on both ranks
    log = res.stdout + res.stderr
    assert "Distributed training: True" in log
    assert (work / "det" / "metrics.json").is_file() and (two_process_run["subs"] / "det_val2.txt").is_file()
    # no rank's scratch copies or temporary files left beside the artifacts
    assert not [p for p in work.rglob(".*.tmp")]


def test_same_weights_give_identical_files_in_one_process(two_process_run, tmp_path):
    assert two_process_run["result"].returncode == 0
    work, again = two_process_run["work"], tmp_path / "work"
    for final in work.glob("*/models/*/final.pth"):   # the trained weights only: every table is redone
        target = again / final.relative_to(work)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(final, target)
    res = _run([sys.executable, "tools/run_pipeline.py", "--stage", "all"], again, tmp_path / "subs",
               two_process_run["root"])
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert "already trained" in res.stdout + res.stderr
    files = sorted(p.name for p in two_process_run["subs"].iterdir())
    assert files == sorted(p.name for p in (tmp_path / "subs").iterdir()) and len(files) >= 4
    for name in files:
        assert (two_process_run["subs"] / name).read_bytes() == (tmp_path / "subs" / name).read_bytes(), name
    for stage, keys in (("loc", ("rows", "baselines", "top5_error")), ("det", ("rows", "mAP"))):
        one, two = (json.loads((w / stage / "metrics.json").read_text()) for w in (again, work))
        for key in keys:   # every figure equal; file paths name each run's own folder
            assert _figures(one[key]) == _figures(two[key]), (stage, key)


def _figures(obj):
    """``obj`` without the paths it holds (each run names its own folder)."""
    if isinstance(obj, dict):
        return {k: _figures(v) for k, v in obj.items() if not (isinstance(v, str) and os.sep in v) and k != "files"}
    return obj


def test_a_killed_two_process_run_resumes_where_it_stopped(two_process_run, tmp_path, processes):
    """torchrun SIGKILLed inside the first RPN's train proposals (some parts written): its ranks, which
    torchrun starts outside its process group, die with it, and the same command resumes at the first
    unfinished chunk and ends with the uninterrupted run's files."""
    import signal
    import time

    assert two_process_run["result"].returncode == 0
    work, subs, root = tmp_path / "work", tmp_path / "subs", two_process_run["root"]
    proposals = work / "rpn/proposals/rpn_a_dense_train"   # 32 boxed train images, parts of 4

    def command(port: str) -> list[str]:
        return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
                "tools/run_pipeline.py", "--launcher", "pytorch", "--stage", "all"]

    paths = ["--config", SMOKE_CONFIG, "--work-dir", str(work), "--submission-dir", str(subs),
             "--cfg-options", f"data.root={root}"]
    proc = subprocess.Popen(command("29535") + paths, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    t0 = time.monotonic()
    while not (len(list(proposals.glob("part-*.parquet"))) >= 2 and not (proposals / "complete.json").is_file()):
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.monotonic() - t0 < 900, "kill point never reached"
        time.sleep(0.002)
    ranks = processes.children(proc.pid)   # torchrun starts each rank in a session of its own
    for pid in ranks:
        os.kill(pid, signal.SIGSTOP)   # the parts on disk stay as they are
    os.killpg(proc.pid, signal.SIGKILL)   # torchrun: its process group, which the ranks are not in
    proc.wait()
    kept = {p.name: p.stat().st_mtime_ns for p in proposals.glob("part-*.parquet")}
    for pid in ranks:
        os.kill(pid, signal.SIGCONT)
    assert len(ranks) == 2 and not processes.survivors(ranks, within=60), "the ranks outlived torchrun"
    assert 2 <= len(kept) < 8
    res = _run(command("29536"), work, subs, root)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert {p: proposals.joinpath(p).stat().st_mtime_ns for p in kept} == kept   # not computed again
    for name in sorted(p.name for p in two_process_run["subs"].iterdir()):
        assert (subs / name).read_bytes() == (two_process_run["subs"] / name).read_bytes(), name
