"""Training through mmengine: DDP with two CPU processes (gloo), and resume of an interrupted run."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ilsvrc_pipe.utils.checkpoint import allow_mmengine_checkpoint_globals

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # tools/run_pipeline.py and tools/train.py (DDP) in subprocesses


@pytest.fixture(scope="module")
def smoke_work(tmp_path_factory):
    """A smoke data root with its `data` stage done."""
    base = tmp_path_factory.mktemp("train")
    res = subprocess.run([sys.executable, "tools/run_pipeline.py", "--config", "configs/mini/smoke.py", "--stage", "data",
                          "--work-dir", str(base / "work"), "--cfg-options", f"data.root={base / 'root'}"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return base / "work"


def _train(work, *extra, launcher=None, epochs=1, train_dir=None):
    cmd = [sys.executable, "tools/train.py"] if launcher is None else [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531", "tools/train.py",
        "--launcher", launcher]
    cmd += ["--config", "configs/mini/smoke.py", "--member", "resnet18_w025", "--work-dir", str(work),
            "--train-dir", str(train_dir), "--cfg-options", f"cls.train.max_epochs={epochs}", "cls.num_threads=1", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)


def test_ddp_two_cpu_processes(smoke_work):
    out = smoke_work / "ddp"
    res = _train(smoke_work, launcher="pytorch", epochs=1, train_dir=out)
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
    assert "Distributed training: True" in log
    allow_mmengine_checkpoint_globals()
    ckpt = torch.load(out / "epoch_1.pth", map_location="cpu", weights_only=True)
    # the configured batch (16) is the global one: each of the 2 processes takes 8 of its half of
    # the train set, so an epoch has the iterations of one process
    n_train = sum(1 for _ in open(smoke_work.parent / "root/ILSVRC/ImageSets/CLS-LOC/train_cls.txt"))
    assert ckpt["meta"]["iter"] == -(-(-(-n_train // 2)) // 8) == -(-n_train // 16)


def test_resume_continues_interrupted_training(smoke_work):
    out = smoke_work / "resume"
    first = _train(smoke_work, epochs=1, train_dir=out)
    assert first.returncode == 0, first.stderr[-3000:]
    second = _train(smoke_work, "--resume", epochs=2, train_dir=out)
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert "resumed epoch: 1" in log and "Epoch(train) [1]" not in log and "Epoch(train) [2]" in log
    assert (out / "epoch_2.pth").is_file()
