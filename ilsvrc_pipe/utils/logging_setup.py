"""One log file per run (plus the console) for the ``ilsvrc_pipe`` logger tree."""
from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_run_logging(log_dir: str | Path, name: str = "run", level: int = logging.INFO,
                      to_file: bool = True) -> Path:
    """Send ``ilsvrc_pipe.*`` records to the console and (``to_file``: rank 0 under torchrun) to
    ``log_dir/<name>_<time>.log``."""
    log_dir = Path(log_dir)
    if to_file:
        log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{name}_{_dt.datetime.now():%Y%m%d_%H%M%S}.log"
    root = logging.getLogger("ilsvrc_pipe")
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    fmt = logging.Formatter(FORMAT, datefmt="%H:%M:%S")
    handlers = [logging.StreamHandler()] + ([logging.FileHandler(path, encoding="utf-8")] if to_file else [])
    for handler in handlers:
        handler.setFormatter(fmt)
        root.addHandler(handler)
    root.propagate = False
    return path
