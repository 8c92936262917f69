"""Intra-op threads that give way when another process wants the CPUs, and come back when it leaves.

Why: with N OpenMP threads on N cores, one busy competing process makes every parallel region wait
for the thread that shares its core with the competitor, and the waiting threads spin on the time
the others need (``benchmarks/results/bench_threads.txt``: 0.1-0.4x of the idle
throughput, two pipelines side by side at 0.3-0.8x of one). No OpenMP wait policy keeps both the idle
speed of small back-to-back ops (it needs spinning) and the busy-machine speed (it needs none).
One thread per process needs no barrier at all: under contention it is the fastest choice, and on
an idle machine the full count is. So this module measures, at most every ``interval`` seconds (0.25),
how much CPU time the OTHER processes got on this process's CPUs (``/proc/stat`` for the CPUs of
the affinity mask, minus this process's own CPU time) and sets ``torch.set_num_threads`` to 1 while
that is at least ``busy_cores`` cores, back to the previous count once it falls below ``idle_cores``.

Opt-in (``ILSVRC_PIPE_ADAPTIVE_THREADS=1``), because it trades reproducibility for speed: oneDNN's
float order depends on the thread count (three R-CNN training steps from the same seed give weights that
differ by ~3e-5 between 1 and 2 threads), so with it two runs of the same config differ whenever the
machine's load differed; the README's "same inputs, same numbers" holds only without it. The
always-on part of the fix is the OpenMP wait policy (``openmp_env.py``), which changes no number.

``install()`` drives it from a global module forward pre-hook, so every training step and every
inference loop of every stage checks it without the loops knowing; the check is a clock read, and
the ``/proc`` reads (~0.1 ms) happen once per interval. It acts on the main thread only: OpenMP's
thread count is a per-thread setting. Inert where ``/proc/stat`` is missing (not Linux).
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

SWITCH = "ILSVRC_PIPE_ADAPTIVE_THREADS"
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _busy_ticks(cpus: set[int], stat: Path = Path("/proc/stat")) -> int:
    """Non-idle clock ticks of ``cpus`` since boot (user, nice, system, irq, softirq, steal)."""
    total = 0
    for line in stat.read_text().splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        if int(name[3:]) in cpus:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
            total += user + nice + system + irq + softirq + steal
    return total


class ThreadGovernor:
    """Sets torch's intra-op thread count to 1 while other processes use this process's CPUs.

    ``sample()`` -> the other processes' CPU use since the last sample, in cores (None on the first
    call); ``step()`` samples once ``interval`` has passed and switches the thread count with
    hysteresis (``busy_cores`` up, ``idle_cores`` down)."""

    def __init__(self, interval: float = 0.25, busy_cores: float = 0.5, idle_cores: float = 0.25,
                 clock=time.monotonic):
        self.interval, self.busy_cores, self.idle_cores, self.clock = interval, busy_cores, idle_cores, clock
        self.cpus = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
        self.full: int | None = None      # the count to return to while lowered
        self.switches = 0
        self._last: tuple[float, int, float] | None = None
        self._next = 0.0

    def sample(self) -> float | None:
        now, busy, own = self.clock(), _busy_ticks(self.cpus), time.process_time()
        last, self._last = self._last, (now, busy, own)
        if last is None or now <= last[0]:
            return None
        others = (busy - last[1]) / _TICKS - (own - last[2])
        return max(0.0, others) / (now - last[0])

    def step(self) -> None:
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.interval
        others = self.sample()
        if others is None:
            return
        import torch

        current = torch.get_num_threads()
        if self.full is None and others >= self.busy_cores and current > 1:
            self.full = current
            torch.set_num_threads(1)
            self.switches += 1
        elif self.full is not None and current != 1:   # someone set a count meanwhile: theirs
            self.full = None
        elif self.full is not None and others < self.idle_cores:
            torch.set_num_threads(self.full)
            self.full = None
            self.switches += 1


_INSTALLED: ThreadGovernor | None = None


def install(environ=os.environ, **kwargs) -> ThreadGovernor | None:
    """Drives one :class:`ThreadGovernor` from every module forward of this process (idempotent)
    when ``ILSVRC_PIPE_ADAPTIVE_THREADS=1``; returns it, or None (off, or no ``/proc/stat``)."""
    global _INSTALLED
    if _INSTALLED is not None:
        return _INSTALLED
    if environ.get(SWITCH, "0").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    if not Path("/proc/stat").is_file():
        return None
    import torch

    governor = ThreadGovernor(**kwargs)
    main = threading.main_thread()

    def hook(module, args):
        if threading.current_thread() is main:
            governor.step()

    torch.nn.modules.module.register_module_forward_pre_hook(hook)
    _INSTALLED = governor
    return governor
