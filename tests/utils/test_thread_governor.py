"""The thread governor (``ilsvrc_pipe/utils/thread_governor.py``): one thread while other processes use the
CPUs, the previous count back once they leave; in ``inference`` mode only in forwards without autograd."""
from __future__ import annotations

import pytest
import torch

from ilsvrc_pipe.utils import thread_governor as tg


class FakeMachine:
    """Clock, this process's CPU time and the CPUs' busy ticks, advanced by hand."""

    def __init__(self, monkeypatch):
        self.now, self.own, self.ticks = 0.0, 0.0, 0
        monkeypatch.setattr(tg, "_busy_ticks", lambda cpus: self.ticks)
        monkeypatch.setattr(tg.time, "process_time", lambda: self.own)

    def run(self, seconds: float, own_cores: float, other_cores: float) -> None:
        self.now += seconds
        self.own += seconds * own_cores
        self.ticks += round(seconds * (own_cores + other_cores) * tg._TICKS)


@pytest.fixture
def threads(torch_threads):   # tests/conftest.py
    torch_threads(2)


def test_gives_way_to_another_process_and_comes_back(monkeypatch, threads):
    m = FakeMachine(monkeypatch)
    g = tg.ThreadGovernor(interval=0.25, clock=lambda: m.now)
    g.step()                                  # first sample: nothing to compare with
    m.run(0.3, own_cores=2.0, other_cores=0.0)
    g.step()
    assert torch.get_num_threads() == 2
    m.run(0.3, own_cores=1.2, other_cores=0.8)
    g.step()
    assert torch.get_num_threads() == 1
    m.run(0.3, own_cores=1.0, other_cores=0.4)   # between the thresholds: stays down
    g.step()
    assert torch.get_num_threads() == 1
    m.run(0.3, own_cores=1.0, other_cores=0.0)
    g.step()
    assert torch.get_num_threads() == 2 and g.switches == 2


def test_checks_at_most_once_per_interval(monkeypatch, threads):
    m = FakeMachine(monkeypatch)
    g = tg.ThreadGovernor(interval=0.25, clock=lambda: m.now)
    g.step()
    m.run(0.1, own_cores=1.0, other_cores=1.0)
    g.step()
    assert torch.get_num_threads() == 2      # too early to look


def test_a_count_set_by_someone_else_while_lowered_is_kept(monkeypatch, threads):
    m = FakeMachine(monkeypatch)
    g = tg.ThreadGovernor(interval=0.25, clock=lambda: m.now)
    g.step()
    m.run(0.3, own_cores=1.0, other_cores=1.0)
    g.step()
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)                 # e.g. a stage applies its config's num_threads
    m.run(0.3, own_cores=2.0, other_cores=0.0)
    g.step()
    assert torch.get_num_threads() == 2 and g.full is None


def test_inference_only_leaves_training_at_the_full_count(monkeypatch, threads):
    """Training's float order follows the thread count (weight-gradient sums), so by default a
    forward with autograd is never lowered, and gets the full count back at once."""
    m = FakeMachine(monkeypatch)
    g = tg.ThreadGovernor(interval=0.25, clock=lambda: m.now, inference_only=True)
    g.step()
    m.run(0.3, own_cores=1.0, other_cores=1.0)
    g.step(training=True)
    assert torch.get_num_threads() == 2 and g.full is None      # busy, but a training forward
    g.step(training=False)
    assert torch.get_num_threads() == 1                         # busy, inference: lowered
    g.step(training=True)
    assert torch.get_num_threads() == 2 and g.switches == 2     # training again: back at once


def test_all_lowers_training_too(monkeypatch, threads):
    m = FakeMachine(monkeypatch)
    g = tg.ThreadGovernor(interval=0.25, clock=lambda: m.now)
    g.step(training=True)
    m.run(0.3, own_cores=1.0, other_cores=1.0)
    g.step(training=True)
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("value, expected", [(None, "inference"), ("inference", "inference"), ("1", "all"),
                                             ("all", "all"), ("ON", "all"), ("0", "off"), ("off", "off"),
                                             ("", "off")])
def test_mode_spellings(value, expected):
    assert tg.mode({} if value is None else {tg.SWITCH: value}) == expected


@pytest.mark.parametrize("env", [{tg.SWITCH: "0"}, {tg.SWITCH: "off"}])
def test_off_installs_nothing(env, monkeypatch):
    monkeypatch.setattr(tg, "_INSTALLED", None)   # a tool loaded by an earlier test may have installed one
    assert tg.install(environ=env) is None


def test_a_bad_value_is_one_line_naming_the_variable():
    """What a tool prints (``tools/_bootstrap.py``), in a fresh process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, str(root / "tools" / "run_pipeline.py"), "--help"], capture_output=True,
                          text=True, env={**os.environ, tg.SWITCH: "sometimes"}, cwd=root)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"error: {tg.SWITCH}='sometimes': expected inference, all (or 1) or off (or 0)"]


def test_busy_ticks_reads_only_the_given_cpus(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 1 0 2 100 5 0 0 3 0 0\ncpu1 10 0 0 0 0 0 0 0 0 0\nintr 1\n")
    assert tg._busy_ticks({0}, stat) == 6
    assert tg._busy_ticks({0, 1}, stat) == 16


@pytest.mark.parametrize("tool, expected", [("predict", "inference"), ("run_pipeline", "off"), ("train", "off")])
def test_each_tool_starts_it_in_its_own_default_mode(tool, expected):
    """predict only makes outputs; the pipeline's test-time outputs train later stages, so it stays
    bit-exact unless ILSVRC_PIPE_ADAPTIVE_THREADS asks otherwise. In a fresh process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (f"import sys; sys.path.insert(0, 'tools'); import {tool}; from ilsvrc_pipe.utils import thread_governor as tg; "
            "g = tg._INSTALLED; print('off' if g is None else 'inference' if g.inference_only else 'all')")
    env = {k: v for k, v in os.environ.items() if k != tg.SWITCH}
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == expected
    env[tg.SWITCH] = "inference"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "inference"
