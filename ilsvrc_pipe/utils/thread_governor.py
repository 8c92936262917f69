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

Where it acts is ``ILSVRC_PIPE_ADAPTIVE_THREADS`` (:func:`mode`), and, when that is unset, the
tool's default (``tools/_bootstrap.py``):

* ``inference`` (``tools/predict.py``'s default): only in forwards run without autograd
  (``no_grad`` / ``inference_mode``); a forward with autograd (training) gets the full count back at
  once. Outputs then agree with an idle run's to float rounding, not bit for bit: oneDNN splits a
  convolution whose output is too small to share out (e.g. a 3x3 map of a stride-2 conv at batch 1)
  along its input channels among threads, so its sums follow the thread count
  (``benchmarks/results/bench_busy_predict.txt``: 31 of 100 images' scores differed by <= 7e-7
  relative next to a busy process, no class order or box changed; ``tests/utils/test_thread_invariance.py``).
* ``all`` (``1``): training too, whose weight-gradient sums also follow the thread count (three R-CNN
  training steps from the same seed differ by ~3e-5 between 1 and 2 threads).
* ``off`` (``0``; the default of ``tools/run_pipeline.py`` and ``tools/train.py``): never. A run's
  test-time outputs feed later stages' training (the RPN's train-set proposals train the R-CNN), where
  a flipped near-tie grows into different weights, so the pipeline keeps "same inputs, same numbers"
  unless the user asks otherwise.

The always-on part of the fix is the OpenMP wait policy (``openmp_env.py``), which changes no number.

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
#: the SWITCH's spellings of each mode; unset means ``inference``
MODES = {"inference": ("inference",), "all": ("all", "1", "on", "true", "yes"),
         "off": ("off", "0", "false", "no", "")}
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
    """Sets torch's intra-op thread count to 1 while other processes use this process's CPUs
    (with ``inference_only``, only in forwards without autograd).

    ``sample()`` -> the other processes' CPU use since the last sample, in cores (None on the first
    call); ``step()`` samples once ``interval`` has passed and switches the thread count with
    hysteresis (``busy_cores`` up, ``idle_cores`` down)."""

    def __init__(self, interval: float = 0.25, busy_cores: float = 0.5, idle_cores: float = 0.25,
                 clock=time.monotonic, inference_only: bool = False):
        self.interval, self.busy_cores, self.idle_cores, self.clock = interval, busy_cores, idle_cores, clock
        self.inference_only = inference_only
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

    def step(self, training: bool = False) -> None:
        """One check; ``training`` (a forward with autograd) under ``inference_only`` only gives the
        full count back."""
        if training and self.inference_only:
            if self.full is not None:
                self._restore()
            return
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
        elif self.full is not None and (current != 1 or others < self.idle_cores):
            self._restore()

    def _restore(self) -> None:
        """The count from before the switch, unless someone set another meanwhile (theirs stays)."""
        import torch

        if torch.get_num_threads() == 1:
            torch.set_num_threads(self.full)
            self.switches += 1
        self.full = None


_INSTALLED: ThreadGovernor | None = None


def mode(environ=os.environ, default: str = "inference") -> str:
    """``inference``, ``all`` or ``off``, as ``ILSVRC_PIPE_ADAPTIVE_THREADS`` says (unset: ``default``);
    ValueError naming the variable for any other value."""
    value = environ.get(SWITCH, default).strip().lower()
    for name, spellings in MODES.items():
        if value in spellings:
            return name
    raise ValueError(f"{SWITCH}={environ[SWITCH]!r}: expected inference, all (or 1) or off (or 0)")


def install(environ=os.environ, default: str = "inference", **kwargs) -> ThreadGovernor | None:
    """Drives one :class:`ThreadGovernor` from every module forward of this process (idempotent), in
    the :func:`mode` ``environ`` asks for (``default`` when it is silent); returns it, or None
    (``off``, or no ``/proc/stat``)."""
    global _INSTALLED
    if _INSTALLED is not None:
        return _INSTALLED
    where = mode(environ, default)
    if where == "off" or not Path("/proc/stat").is_file():
        return None
    import torch

    governor = ThreadGovernor(inference_only=where == "inference", **kwargs)
    main = threading.main_thread()

    def hook(module, args):
        if threading.current_thread() is main:
            governor.step(training=torch.is_grad_enabled())

    torch.nn.modules.module.register_module_forward_pre_hook(hook)
    _INSTALLED = governor
    return governor
