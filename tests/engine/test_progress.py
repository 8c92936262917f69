"""Stage progress: position, elapsed time and an ETA from the last run's stage timings."""
import json
import logging

from ilsvrc_pipe.engine.progress import StageClock, format_duration, last_timings


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_format_duration():
    assert [format_duration(s) for s in (4.4, 65, 3725)] == ["4 s", "1 min 05 s", "1 h 02 min"]


def test_eta_from_last_timings(caplog):
    clock = FakeClock()
    logger = logging.getLogger("test_progress")
    stages = StageClock(["data", "cls", "rpn"], {"data": 10.0, "cls": 100.0, "rpn": 50.0}, logger, clock)
    with caplog.at_level(logging.INFO, logger="test_progress"):
        stages.start("data")
        clock.now = 12.0
        stages.done("data")
        stages.start("cls")
    lines = [r.getMessage() for r in caplog.records]
    assert "starts (1/3), last run 10 s; elapsed 0 s, ETA 2 min 40 s" in lines[0]
    assert "finished (1/3); elapsed 12 s, ETA 2 min 30 s" in lines[1]
    assert "starts (2/3)" in lines[2]
    assert stages.eta(1, spent_in_stage=40.0) == "ETA 1 min 50 s from the last run's timings"


def test_eta_without_timings_names_the_untimed_stages():
    stages = StageClock(["a", "b"], {"b": 30.0}, logging.getLogger("x"), FakeClock())
    assert stages.eta(0) == "ETA 30 s from the last run's timings (+ a, never timed)"
    assert StageClock(["a"], {}, logging.getLogger("x"), FakeClock()).eta(0).startswith("no ETA")


def test_pipeline_logs_the_eta_of_its_second_run(tmp_path, caplog):
    from mmengine.config import Config

    from ilsvrc_pipe.engine import pipeline as pl
    from ilsvrc_pipe.engine.stage import Stage

    class Quick(Stage):
        name, reads = "a", ("a",)

        def run(self, ctx):
            return {}

    root = tmp_path / "root"
    root.mkdir()
    pipe = pl.Pipeline(Config(dict(a=dict(k=1))), root, tmp_path / "work", [Quick()])
    pipe.run(["a"])
    manifest = json.loads(pipe.manifest_path("a").read_text())
    manifest["seconds"] = 125.0
    pipe.manifest_path("a").write_text(json.dumps(manifest))
    assert last_timings(["a", "b"], pipe.read_manifest) == {"a": 125.0}
    with caplog.at_level(logging.INFO, logger="ilsvrc_pipe"):
        pipe.run(["a"], force=True)
    assert any("starts (1/1), last run 2 min 05 s; elapsed 0 s, ETA 2 min 05 s" in r.getMessage()
               for r in caplog.records)


def test_cold_xml_parse_shows_a_bar_with_the_file_count(tmp_path, write_xml, monkeypatch):
    from ilsvrc_pipe.data import file_pool
    from ilsvrc_pipe.evaluation import xml_batch

    bars = []

    class Recorder(file_pool.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.counted, self.shown = 0, not kwargs.get("disable")
            bars.append(self)

        def update(self, n=1):
            self.counted += n
            return super().update(n)

    monkeypatch.setattr(file_pool, "tqdm", Recorder)
    paths = [write_xml(tmp_path, f"x{i:05d}", [("n01", (1, 2, 3, 4))]) for i in range(1200)]
    for workers in (1, 2):
        parsed = xml_batch.parse_xml_files(paths, workers=workers)
        assert parsed.n_files == 1200 and parsed.error is None and parsed.counts.sum() == 1200
        assert (bars[-1].total, bars[-1].counted, bars[-1].shown) == (1200, 1200, True)
    xml_batch.parse_xml_files(paths[:10], workers=1)
    assert not bars[-1].shown  # short lists: no bar
