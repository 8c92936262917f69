"""OpenMP wait-policy default that keeps CPU throughput from collapsing on a busy machine.

The pip torch wheel runs its intra-op threads on libgomp. A libgomp thread that waits (at a barrier,
or for the next parallel region) spins ~300,000 iterations (~3 ms) before it sleeps. With another
busy process on the same cores the spinning thread takes the time slice its partner thread needs,
and images/s fall to a third or less (``benchmarks/results/bench_threads.txt``). ``OMP_WAIT_POLICY=
PASSIVE`` (never spin) cures that but makes an idle process slower on small back-to-back ops, where
a short spin catches the next parallel region without a futex sleep/wake. ``GOMP_SPINCOUNT`` sets
the spin length in between; :data:`DEFAULTS` holds the value the benchmark chose. Alone it leaves
a busy machine at ~0.35x; the rest of the fix is changing the thread count with the load
(``thread_governor.py``: at test time, the default of ``tools/predict.py``).

libgomp reads these variables once, when torch loads it, so :func:`apply_openmp_defaults` must run
before the first ``import torch``: ``ilsvrc_pipe/__init__.py`` calls it, which covers every tool
(``tools/_bootstrap.py`` imports the package before ``tools/train.py`` imports torch), the tests
(``tests/conftest.py``), torchrun workers (they run the tools) and every subprocess those start
(the variable is inherited). It never overrides the user: any of :data:`USER_VARIABLES` already in
the environment (even empty) leaves it untouched, and ``ILSVRC_PIPE_OPENMP_DEFAULTS=0`` turns it off.
This module imports nothing heavy: it runs on every ``import ilsvrc_pipe``.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping, MutableMapping

#: set when none of USER_VARIABLES is set: ~0.1 ms of spinning instead of ~3 ms. bench_threads_explore
#: (ResNet-18 forward / R-CNN training step, 2 reps): idle 1.01x / 0.98x of libgomp's default (unchanged
#: within noise, the issue's condition), next to one busy process 0.47x / 0.39x of the default's idle
#: (default 0.36x / 0.19x), two side by side 0.95x / 0.86x (default 0.55x / 0.38x). 3000 gives 0.46x /
#: 0.42x busy but costs 6-7 % idle (4 reps); PASSIVE 0.50x / 0.47x busy for 23 % idle.
DEFAULTS = {"GOMP_SPINCOUNT": "10000"}
#: variables that express a user's choice of wait policy; GOMP_SPINCOUNT would override the first.
USER_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
SWITCH = "ILSVRC_PIPE_OPENMP_DEFAULTS"


def apply_openmp_defaults(environ: MutableMapping[str, str] | None = None,
                          modules: Mapping[str, object] | None = None) -> dict[str, str]:
    """Puts :data:`DEFAULTS` into ``environ`` (default ``os.environ``) unless the user chose a wait
    policy, turned this off, or torch is already imported (too late: libgomp has read its
    environment, and a variable set now would only mislead the subprocesses' readers).
    ``modules`` (default ``sys.modules``) is where torch is looked for. Returns what it set."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if environ.get(SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return {}
    if any(name in environ for name in USER_VARIABLES) or "torch" in modules:
        return {}
    environ.update(DEFAULTS)
    return dict(DEFAULTS)
