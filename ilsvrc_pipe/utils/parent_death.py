"""A process that must not outlive the process that started it (Linux ``PR_SET_PDEATHSIG``).

Two kinds of process write into a run's work dir on behalf of another: the trainings that
``engine/side_by_side.py`` spawns, and the ranks ``torchrun`` starts. ``torchrun`` starts each rank
in a session of its own, so a kill of the launcher's process group (a terminal closed, a job
script's ``kill -9 -PGID``) does not reach them: without this they would go on writing into the work
dir while the user's next run resumes in it, two pipelines over the same files.
"""
from __future__ import annotations

import os
import signal


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send ``sig`` to this process when ``parent_pid`` (its parent) dies; exit at once
    if that parent is already gone. Returns whether the request was made (False off Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        if libc.prctl(1, int(sig)) != 0:   # 1 = PR_SET_PDEATHSIG
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent_pid:   # the parent died before the request took effect
        os._exit(1)
    return True
