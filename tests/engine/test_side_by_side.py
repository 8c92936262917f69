"""Members trained side by side: each in its own process trains exactly what one process trains with
the same threads; a failing member stops the others and is named; a killed pipeline leaves no
training running; GPU and distributed runs train one member after another."""
import logging
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from ilsvrc_pipe.engine.pipeline import Pipeline
from ilsvrc_pipe.engine.side_by_side import (
    LOG_NAME,
    MemberTraining,
    MemberTrainingFailed,
    member_threads,
    train_side_by_side,
)
from ilsvrc_pipe.engine.specs import member_train_spec
from ilsvrc_pipe.engine.stage import DeclaredConfig, StageContext
from ilsvrc_pipe.engine.training import train_to_final
from ilsvrc_pipe.stages import default_stages

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke_artifacts(smoke_root, tmp_path_factory):
    """The smoke config and the artifacts of its `data` stage (the classifiers' training records)."""
    cfg = Config.fromfile(str(REPO_ROOT / "configs/mini/smoke.py"))
    cfg.data.root = str(smoke_root)
    pipe = Pipeline(cfg, smoke_root, tmp_path_factory.mktemp("side_by_side") / "work",
                    [s for s in default_stages() if s.name == "data"])
    pipe.run(["data"])
    return cfg, pipe.artifacts


def _jobs(cfg, art, out: Path, epochs: int) -> list[MemberTraining]:
    classes = len(art.read_classes()["clsloc"])
    jobs = []
    for m in cfg.cls.models:
        spec = member_train_spec(m, {**cfg.cls.train, "max_epochs": epochs}, art, classes)
        jobs.append(MemberTraining(m["name"], spec, out / m["name"], out / m["name"] / "final.pth",
                                   seed=int(m.get("seed", 0))))
    return jobs


@pytest.mark.slow   # spawned trainings
def test_each_member_trains_as_one_process_trains_it_with_the_same_threads(smoke_artifacts, tmp_path, torch_threads):
    cfg, art = smoke_artifacts
    jobs = _jobs(cfg, art, tmp_path / "side_by_side", epochs=1)
    finals = train_side_by_side(jobs, threads=1)
    assert finals == [j.final for j in jobs] and all(f.is_file() for f in finals)
    assert (jobs[0].work_dir / LOG_NAME).is_file()
    assert multiprocessing.active_children() == []

    torch_threads(1)
    alone = _jobs(cfg, art, tmp_path / "alone", epochs=1)[1]
    train_to_final(alone.spec, alone.work_dir, alone.final, seed=alone.seed)
    side, own = (torch.load(p, weights_only=True) for p in (finals[1], alone.final))
    assert side.keys() == own.keys() and all(torch.equal(side[k], own[k]) for k in side)
    first = torch.load(finals[0], weights_only=True)
    assert not torch.equal(first["fc.weight"], side["fc.weight"])   # two members, not one twice

    before = {f: f.stat().st_mtime_ns for f in finals}
    assert train_side_by_side(jobs, threads=1) == finals   # finished members are not trained again
    assert {f: f.stat().st_mtime_ns for f in finals} == before


@pytest.mark.slow
def test_a_failing_member_stops_the_others_and_is_named(smoke_artifacts, tmp_path):
    cfg, art = smoke_artifacts
    long_one, broken = _jobs(cfg, art, tmp_path, epochs=500)
    broken.spec["train_dataloader"]["dataset"]["images"] = str(tmp_path / "missing_images.parquet")
    start = time.monotonic()
    with pytest.raises(MemberTrainingFailed, match=rf"training {broken.name} failed .*{LOG_NAME}") as err:
        train_side_by_side([long_one, broken], threads=1)
    assert "missing_images.parquet" in str(err.value)   # the end of the member's log comes with it
    assert multiprocessing.active_children() == []   # the long member was stopped, not left running
    assert not long_one.final.is_file() and time.monotonic() - start < 120


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
def test_a_killed_pipeline_leaves_no_training_running(smoke_artifacts, tmp_path, processes):
    cfg, art = smoke_artifacts
    jobs = _jobs(cfg, art, tmp_path, epochs=500)
    script = tmp_path / "train.py"
    (tmp_path / "jobs.pkl").write_bytes(pickle.dumps(jobs))
    script.write_text("import pickle\nfrom ilsvrc_pipe.engine.side_by_side import train_side_by_side\n"
                      "if __name__ == '__main__':\n"
                      f"    train_side_by_side(pickle.loads(open({str(tmp_path / 'jobs.pkl')!r}, 'rb').read()), threads=1)\n")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        deadline = time.monotonic() + 180
        while not all((j.work_dir / "last_checkpoint").is_file() for j in jobs):   # both are training
            assert proc.poll() is None and time.monotonic() < deadline, "the trainings never reached a checkpoint"
            time.sleep(0.1)
        kids = [k for k in processes.children(proc.pid) if processes.alive(k)]
        assert len(kids) >= 2, kids
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not processes.survivors(kids, within=30), "a training outlived the killed pipeline"
    finally:
        if proc.poll() is None:
            proc.kill()


class _Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, name, spec, seed):
        self.calls.append(name)
        return Path(name)


@pytest.mark.parametrize("where", ["cuda", "distributed", "off"])
def test_gpu_distributed_or_unasked_runs_train_one_member_after_another(where, monkeypatch, tmp_path):
    section = {"side_by_side": where != "off", "num_threads": 2}
    ctx = StageContext(DeclaredConfig(Config({"rcnn": section}), ("rcnn",), "rcnn"), tmp_path, None, "rcnn",
                       logging.getLogger("test"))
    recorder = _Recorder()
    monkeypatch.setattr(ctx, "train", recorder)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: where == "cuda")
    monkeypatch.setattr("ilsvrc_pipe.engine.stage.is_distributed", lambda: where == "distributed")
    monkeypatch.setattr("ilsvrc_pipe.engine.stage.train_side_by_side",
                        lambda *a, **k: pytest.fail("trained side by side"))
    assert ctx.train_members([("a", {}, 0), ("b", {}, 1)]) == [Path("a"), Path("b")]
    assert recorder.calls == ["a", "b"]


def test_each_member_gets_an_equal_share_of_the_threads():
    assert member_threads(2, 2) == 1 and member_threads(8, 2) == 4 and member_threads(2, 3) == 1
    assert member_threads(1, 2) == 1 and member_threads(4, 1) == 4
