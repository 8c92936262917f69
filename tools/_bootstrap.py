"""Lets the tools run from a checkout without installing: puts the repo root on ``sys.path``, then
imports the package, whose ``__init__`` sets the OpenMP wait-policy default before any tool imports
torch (``ilsvrc_pipe/utils/openmp_env.py``). :func:`start_thread_governor` starts the thread governor
(``ilsvrc_pipe/utils/thread_governor.py``) with the calling tool's default; ``ILSVRC_PIPE_ADAPTIVE_THREADS``
overrides it, and a bad value ends the tool with one line."""
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import ilsvrc_pipe  # noqa: E402,F401


def start_thread_governor(default: str) -> None:
    """``thread_governor.install`` with this tool's ``default`` mode (``inference`` or ``off``)."""
    from ilsvrc_pipe.utils.thread_governor import install

    try:
        install(default=default)
    except ValueError as err:   # a bad ILSVRC_PIPE_ADAPTIVE_THREADS: a user error, as ilsvrc_pipe/config/cli.py reports them
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
