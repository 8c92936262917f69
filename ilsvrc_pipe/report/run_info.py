"""Facts about the run itself for the report: stage timings and cache reuse, config and how it departs
from the paper's, package versions, git commit.

A figure means little without knowing what produced it: a reader comparing two reports must see
which settings differ from the paper's (``configs/ilsvrc2015/ilsvrc2015.py``), which stages this
invocation really ran and which it took from an earlier run's manifest, and the exact code.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from ..artifacts.paths import REPO_ROOT

PAPER_CONFIG = REPO_ROOT / "configs" / "ilsvrc2015" / "ilsvrc2015.py"
MISSING = "(not set)"
PACKAGES = ("ilsvrc_pipe", "torch", "torchvision", "mmengine", "numpy", "pandas", "pyarrow", "matplotlib",
            "Pillow", "scipy", "tqdm")
_IMPORTED = time.time()


def process_started() -> float:
    """When this process started (epoch seconds): from ``/proc`` on Linux, else when this module was
    imported (the stage registry imports it before any stage runs)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED


def stage_rows(art, stages) -> list[dict]:
    """Per stage: its manifest's finish time and wall time, and whether this invocation ran it (a
    manifest finished before this process started was reused from the cache)."""
    started = _dt.datetime.fromtimestamp(int(process_started()))
    rows = []
    for name in stages:
        path = art.manifest(name)
        if name == "eval":
            rows.append({"stage": name, "finished": "now", "seconds": None, "status": "ran (this report)"})
            continue
        if not path.is_file():
            rows.append({"stage": name, "finished": None, "seconds": None, "status": "no manifest"})
            continue
        m = json.loads(path.read_text())
        finished = _dt.datetime.fromisoformat(m["finished"])
        rows.append({"stage": name, "finished": m["finished"], "seconds": m.get("seconds"),
                     "status": "reused from cache" if finished < started else "ran in this invocation",
                     "run_id": m.get("run_id")})
    return rows


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_state(repo: Path = REPO_ROOT) -> dict[str, str]:
    """Commit and whether the tree has uncommitted changes; "unknown" outside a git checkout."""
    def git(*args) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        changed = [line for line in git("status", "--porcelain", "--untracked-files=no").splitlines() if line]
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown (not a git checkout)", "changes": ""}
    return {"commit": commit, "changes": f"{len(changed)} tracked file(s) modified" if changed else "clean"}


def flatten(value, prefix: str = "") -> dict[str, object]:
    """``{"a.b.c": leaf}`` of nested dicts; lists and tuples are leaves (compared whole)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: list(value) if isinstance(value, tuple) else value}


def plain(value):
    """A config value as plain JSON-able data (mmengine ConfigDict -> dict, tuples -> lists)."""
    return json.loads(json.dumps(value, default=lambda o: dict(o) if hasattr(o, "items") else str(o)))


def paper_config(sections) -> dict | None:
    """The paper config's sections (``None`` when the repository's configs are not beside the package)."""
    if not PAPER_CONFIG.is_file():
        return None
    from mmengine.config import Config

    cfg = Config.fromfile(str(PAPER_CONFIG))
    return {s: plain(cfg.get(s, {})) for s in sections}


def config_differences(run: dict, paper: dict) -> list[tuple[str, object, object]]:
    """``(key, run value, paper value)`` for every leaf that differs or exists on one side only
    (:data:`MISSING` on the side that lacks it)."""
    a, b = flatten(plain(run)), flatten(plain(paper))
    keys = sorted(set(a) | set(b))
    return [(k, a.get(k, MISSING), b.get(k, MISSING)) for k in keys if a.get(k, MISSING) != b.get(k, MISSING)]
