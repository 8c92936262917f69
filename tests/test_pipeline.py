"""Stage runner: manifests, skip when unchanged, --force, dependency re-runs, interrupted stages."""
import json

import pytest
from mmengine.config import Config

from ilsvrc_pipe import pipeline as pl


@pytest.fixture
def toy(monkeypatch, tmp_path):
    calls = []
    state = {"fail": False}

    def stage_a(ctx):
        calls.append("a")
        (ctx.out_dir / "a.txt").write_text("A")
        return {"n": 1}

    def stage_b(ctx):
        state["seen_partial"] = (ctx.out_dir / "partial.txt").is_file()
        (ctx.out_dir / "partial.txt").write_text("half")
        if state["fail"]:
            raise KeyboardInterrupt
        calls.append("b")
        return {"read": (ctx.stage_dir("a") / "a.txt").read_text()}

    stages = {"a": pl.Stage("a", (), stage_a), "b": pl.Stage("b", ("a",), stage_b)}
    monkeypatch.setattr(pl, "registered_stages", lambda: dict(stages))
    root = tmp_path / "root"
    (root / "ILSVRC/ImageSets/CLS-LOC").mkdir(parents=True)
    (root / "ILSVRC/ImageSets/CLS-LOC/val.txt").write_text("x 1\n")
    cfg = Config(dict(data=dict(root=str(root)), a=dict(k=1)))
    return pl.Pipeline(cfg, root, tmp_path / "work"), calls, state, root


def test_runs_then_skips(toy):
    pipe, calls, _, _ = toy
    res = pipe.run(["a", "b"])
    assert calls == ["a", "b"] and res["b"]["figures"] == {"read": "A"}
    m = json.loads((pipe.work_dir / "b/manifest.json").read_text())
    assert m["stage"] == "b" and "run_id" in m and m["fingerprint"]["inputs"]["a"]
    assert pipe.run(["a", "b"]) == {} and calls == ["a", "b"]


def test_force_redoes_target_and_dependents_only(toy):
    pipe, calls, _, _ = toy
    pipe.run(["b"])
    assert calls == ["a", "b"]
    pipe.run(["b"], force=True)
    assert calls == ["a", "b", "b"]
    pipe.run(["a", "b"], force=True)
    assert calls[-2:] == ["a", "b"]


def test_config_or_data_change_reruns(toy):
    pipe, calls, _, root = toy
    pipe.run(["b"])
    pipe.cfg.a.k = 2
    pipe.run(["b"])
    assert calls == ["a", "b", "a", "b"]
    (root / "ILSVRC/ImageSets/CLS-LOC/val.txt").write_text("y 1\n")
    assert pipe.plan(["b"]) == ["a", "b"]


def test_interrupted_stage_leaves_no_manifest_and_resumes(toy):
    pipe, calls, state, _ = toy
    state["fail"] = True
    with pytest.raises(KeyboardInterrupt):
        pipe.run(["b"])
    assert (pipe.work_dir / "a/manifest.json").is_file()
    assert not (pipe.work_dir / "b/manifest.json").exists()
    state["fail"] = False
    pipe.run(["b"])
    assert calls == ["a", "b"]  # `a` finished before the interruption and is not redone
    assert state["seen_partial"]  # and `b` found what the interrupted run had left


def test_outputs_of_another_config_are_cleared(toy):
    pipe, calls, state, _ = toy
    pipe.run(["b"])
    (pipe.work_dir / "a" / "stale.txt").write_text("old")
    pipe.cfg.a.k = 3
    pipe.run(["b"])
    assert not (pipe.work_dir / "a" / "stale.txt").exists()
    assert not state["seen_partial"]  # b's old outputs were cleared too: its input changed
    pipe.run(["b"], force=True)
    assert not state["seen_partial"]


def test_unknown_stage(toy):
    with pytest.raises(KeyError, match="unknown stage"):
        toy[0].plan(["nope"])


def test_data_root_fingerprint_ignores_how_the_path_is_spelled(tmp_path, monkeypatch):
    root = tmp_path / "r"
    (root / "ILSVRC/ImageSets/CLS-LOC").mkdir(parents=True)
    (root / "ILSVRC/ImageSets/CLS-LOC/val.txt").write_text("x 1\n")
    monkeypatch.chdir(tmp_path)
    assert pl.data_root_fingerprint(pl.Path("r")) == pl.data_root_fingerprint(root.resolve())
    before = pl.data_root_fingerprint(root)
    (root / "ILSVRC/ImageSets/CLS-LOC/val.txt").write_text("y 1\n")
    assert pl.data_root_fingerprint(root) != before
