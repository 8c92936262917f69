"""The opt-in thread governor (``ilsvrc_pipe/thread_governor.py``): one thread while other processes
use the CPUs, the previous count back once they leave."""
from __future__ import annotations

import pytest
import torch

from ilsvrc_pipe import thread_governor as tg


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


@pytest.mark.parametrize("env", [{}, {tg.SWITCH: "0"}, {tg.SWITCH: "off"}])
def test_off_unless_asked_for(env):
    """It makes results depend on the machine's load (the float order follows the thread count)."""
    assert tg.install(environ=env) is None


def test_busy_ticks_reads_only_the_given_cpus(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 1 0 2 100 5 0 0 3 0 0\ncpu1 10 0 0 0 0 0 0 0 0 0\nintr 1\n")
    assert tg._busy_ticks({0}, stat) == 6
    assert tg._busy_ticks({0, 1}, stat) == 16
