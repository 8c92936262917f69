"""Stage runner: manifests, skip when unchanged, --force, dependency re-runs, interrupted stages,
dependency order, declared config sections."""
import json

import pytest
from mmengine.config import Config

from ilsvrc_pipe.engine import pipeline as pl
from ilsvrc_pipe.engine.stage import Stage, UndeclaredConfigSection
from ilsvrc_pipe.stages import default_stages


class StageB(Stage):
    name, requires, reads = "b", ("a",), ("b",)

    def __init__(self, calls, state):
        self.calls, self.state = calls, state

    def run(self, ctx):
        self.state["seen_partial"] = (ctx.out_dir / "partial.txt").is_file()
        (ctx.out_dir / "partial.txt").write_text("half")
        if self.state["fail"]:
            raise KeyboardInterrupt
        if self.state.get("peek"):
            ctx.cfg.get(self.state["peek"])
        self.calls.append("b")
        return {"read": (ctx.artifacts.stage_dir("a") / "a.txt").read_text(), "k": ctx.cfg.b.get("k")}


class StageA(Stage):
    name, reads = "a", ("a",)

    def __init__(self, calls):
        self.calls = calls

    def run(self, ctx):
        self.calls.append("a")
        (ctx.out_dir / "a.txt").write_text("A")
        return {"n": 1}


@pytest.fixture
def toy(tmp_path):
    calls, state = [], {"fail": False}
    root = tmp_path / "root"
    (root / "ILSVRC/ImageSets/CLS-LOC").mkdir(parents=True)
    (root / "ILSVRC/ImageSets/CLS-LOC/val.txt").write_text("x 1\n")
    cfg = Config(dict(data=dict(root=str(root)), a=dict(k=1), b=dict(k=1), other=dict(k=1)))
    # given in the wrong order on purpose: the runner orders by `requires`
    pipe = pl.Pipeline(cfg, root, tmp_path / "work", [StageB(calls, state), StageA(calls)])
    return pipe, calls, state, root


def test_runs_in_dependency_order_then_skips(toy):
    pipe, calls, _, _ = toy
    assert pipe.order == ["a", "b"]
    res = pipe.run(["a", "b"])
    assert calls == ["a", "b"] and res["b"]["figures"] == {"read": "A", "k": 1}
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


def test_only_declared_sections_enter_the_fingerprint(toy):
    pipe, calls, _, _ = toy
    pipe.run(["b"])
    pipe.cfg.other.k = 5          # read by no stage: nothing reruns
    assert pipe.plan(["b"]) == []
    pipe.cfg.b.k = 5              # read by b only: b reruns, a does not
    assert pipe.plan(["b"]) == ["b"]


def test_reading_an_undeclared_section_is_refused(toy):
    pipe, _, state, _ = toy
    state["peek"] = "other"
    with pytest.raises(UndeclaredConfigSection, match="'other'"):
        pipe.run(["b"])


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


def test_unknown_or_no_stage(toy):
    with pytest.raises(KeyError, match="unknown stage"):
        toy[0].plan(["nope"])
    with pytest.raises(KeyError, match="no stage"):
        toy[0].plan([])


def test_missing_requirement_and_cycles_are_errors(tmp_path):
    class Lonely(Stage):
        name, requires = "x", ("y",)

        def run(self, ctx):
            return {}

    class Y(Lonely):
        name, requires = "y", ("x",)

    with pytest.raises(ValueError, match="requires"):
        pl.Pipeline(Config({}), tmp_path, tmp_path / "w", [Lonely()])
    with pytest.raises(ValueError, match="circle"):
        pl.Pipeline(Config({}), tmp_path, tmp_path / "w", [Lonely(), Y()])


def test_data_root_fingerprint_ignores_how_the_path_is_spelled(tmp_path, monkeypatch):
    root = tmp_path / "r"
    (root / "ILSVRC/ImageSets/CLS-LOC").mkdir(parents=True)
    (root / "ILSVRC/ImageSets/CLS-LOC/val.txt").write_text("x 1\n")
    monkeypatch.chdir(tmp_path)
    assert pl.data_root_fingerprint(pl.Path("r")) == pl.data_root_fingerprint(root.resolve())
    before = pl.data_root_fingerprint(root)
    (root / "ILSVRC/ImageSets/CLS-LOC/val.txt").write_text("y 1\n")
    assert pl.data_root_fingerprint(root) != before


def test_the_package_stages_declare_what_they_read(tmp_path):
    """The real stages: order from `requires`, and a change of eval.seed (read by the baselines of
    `loc`) reruns `loc` and `eval` but nothing upstream."""
    cfg = Config.fromfile("configs/mini/smoke.py")
    shuffled = pl.Pipeline(cfg, tmp_path, tmp_path / "w", list(reversed(default_stages())))
    for name, stage in shuffled.stages.items():
        assert all(shuffled.order.index(r) < shuffled.order.index(name) for r in stage.requires)
    pipe = pl.Pipeline(cfg, tmp_path, tmp_path / "w", default_stages())
    assert pipe.order == ["data", "cls", "rpn", "rcnn", "loc", "det", "eval"]
    before = {name: pipe.fingerprint(name)["config"] for name in pipe.order}
    cfg.eval.seed = 1
    after = {name: pipe.fingerprint(name)["config"] for name in pipe.order}
    assert [n for n in pipe.order if before[n] != after[n]] == ["loc", "eval"]
    assert pipe.stages["loc"].submits and "submission_dir" in pipe.fingerprint("loc")["inputs"]


class StageWithWeights(Stage):
    """Reads a file outside the work dir and the data root, named by its config section."""

    name, reads = "w", ("w",)

    def __init__(self, calls):
        self.calls = calls

    def external_files(self, cfg):
        return {"w.file": pl.Path(cfg.w.file)}

    def run(self, ctx):
        self.calls.append("w")
        return {}


def test_external_files_enter_the_fingerprint_by_content(tmp_path, monkeypatch):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"first")
    calls = []
    cfg = Config(dict(w=dict(file=str(weights))))
    pipe = pl.Pipeline(cfg, tmp_path, tmp_path / "work", [StageWithWeights(calls)])
    pipe.run(["w"])
    assert pipe.plan(["w"]) == []                       # same bytes: the cache holds
    weights.write_bytes(b"other")                       # same name, new bytes: the stage reruns
    assert pl.Pipeline(cfg, tmp_path, tmp_path / "work", [StageWithWeights(calls)]).plan(["w"]) == ["w"]

    hashed = []
    real = pl.file_sha256
    monkeypatch.setattr(pl, "file_sha256", lambda path: hashed.append(path) or real(path))
    again = pl.Pipeline(cfg, tmp_path, tmp_path / "work", [StageWithWeights(calls)])
    again.plan(["w"])
    again.fingerprint("w")
    assert len(hashed) == 1                             # a file is read once per run, however often asked
