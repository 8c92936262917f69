"""One measured run of a command: ``/usr/bin/time -v`` around it, and a sampler of its process tree.

``/usr/bin/time -v`` gives the wall time, the CPU time (user + system) of the command and of every
descendant it waited for (torchrun waits for its ranks, a rank for its pool workers), and the peak
RSS of the largest single process. The sampler (every ``interval`` s, from ``/proc``) adds each
process's own peak RSS (``VmHWM``) by role (the ranks or the one pipeline process, torchrun, the
pool workers) and the peak of the tree's summed PSS: forked workers share their parent's pages,
which RSS counts once per process and PSS divides among them.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

GNU_TIME = "/usr/bin/time"


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return None


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat")
            if stat:
                out[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return out


def _field_kb(text: str | None, name: str) -> int:
    found = re.search(rf"^{name}:\s+(\d+) kB", text or "", re.M)
    return int(found.group(1)) if found else 0


class TreeSampler(threading.Thread):
    """Peaks of a process tree while it runs (see the module docstring)."""

    def __init__(self, root_pid: int, interval: float = 0.5):
        super().__init__(daemon=True)
        self.root_pid, self.interval = root_pid, interval
        self.stopped = threading.Event()
        self.peak_kb: dict[int, int] = {}       # pid -> VmHWM
        self.role: dict[int, str] = {}
        self.tree_pss_peak_kb = self.tree_rss_peak_kb = 0

    def _roles(self, pids: list[int], parents: dict[int, int]) -> None:
        for pid in pids:
            if pid in self.role:
                continue
            cmd = (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ")
            parent = self.role.get(parents.get(pid, -1), "")
            if pid == self.root_pid:
                self.role[pid] = "time"
            elif "torch.distributed.run" in cmd:
                self.role[pid] = "torchrun"
            elif parent in ("time", "torchrun") and "run_pipeline.py" in cmd:
                self.role[pid] = "rank"
            else:
                self.role[pid] = "worker"

    def sample(self) -> None:
        parents = _parents()
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = [], [self.root_pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))   # parents before their children
        self._roles(tree, parents)
        pss = rss = 0
        for pid in tree:
            status = _read(f"/proc/{pid}/status")
            self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), _field_kb(status, "VmHWM"))
            rss += _field_kb(status, "VmRSS")
            pss += _field_kb(_read(f"/proc/{pid}/smaps_rollup"), "Pss")
        self.tree_pss_peak_kb = max(self.tree_pss_peak_kb, pss)
        self.tree_rss_peak_kb = max(self.tree_rss_peak_kb, rss)

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.sample()

    def peaks(self) -> dict:
        """Peak RSS (MiB) of each rank, the largest worker and torchrun; the tree's summed peaks."""
        mib = lambda kb: round(kb / 1024, 1)   # noqa: E731
        by_role = lambda r: sorted(mib(v) for p, v in self.peak_kb.items() if self.role.get(p) == r)  # noqa: E731
        workers = by_role("worker")
        return {"rank_peak_rss_mib": by_role("rank"), "worker_peak_rss_mib": max(workers, default=0.0),
                "workers_seen": len(workers), "torchrun_peak_rss_mib": max(by_role("torchrun"), default=0.0),
                "tree_pss_peak_mib": mib(self.tree_pss_peak_kb), "tree_rss_peak_mib": mib(self.tree_rss_peak_kb)}


def _time_field(text: str, label: str) -> str | None:
    found = re.search(rf"^\s*{re.escape(label)}: (\S+)\s*$", text, re.M)
    return found.group(1) if found else None


def run_measured(cmd: list[str], cwd: Path, env: dict, log: Path, interval: float = 0.5) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v`` (its output to ``log``); the figures of the run."""
    report = log.with_suffix(".time")
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([GNU_TIME, "-v", "-o", str(report), *cmd], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid, interval)
        sampler.start()
        code = proc.wait()
    wall = time.perf_counter() - start
    sampler.stopped.set()
    sampler.join()
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}); see {log}:\n{log.read_text()[-2000:]}")
    text = report.read_text()
    user, system = float(_time_field(text, "User time (seconds)")), float(_time_field(text, "System time (seconds)"))
    return {"wall_s": round(wall, 2), "user_s": user, "sys_s": system, "cpu_s": round(user + system, 2),
            "maxrss_mib": round(int(_time_field(text, "Maximum resident set size (kbytes)")) / 1024, 1),
            **sampler.peaks()}
