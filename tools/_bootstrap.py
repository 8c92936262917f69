"""Lets the tools run from a checkout without installing: puts the repo root on ``sys.path``, then
imports the package, whose ``__init__`` sets the OpenMP wait-policy default before any tool imports
torch (``ilsvrc_pipe/openmp_env.py``), and starts the opt-in thread governor
(``ILSVRC_PIPE_ADAPTIVE_THREADS=1``, ``ilsvrc_pipe/thread_governor.py``)."""
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import ilsvrc_pipe  # noqa: E402,F401
from ilsvrc_pipe.thread_governor import install as _install_thread_governor  # noqa: E402

_install_thread_governor()
