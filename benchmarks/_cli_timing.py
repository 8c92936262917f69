"""Time ``tools/evaluate.py`` as a user runs it: a fresh process per call, wall clock and peak memory.

Each task is run cold (empty ground-truth cache: every XML parsed, in parallel, and the cache
written) and then warm (cache hits), each call a subprocess under ``/usr/bin/time -v`` for its peak
resident memory (the largest of the process and its parsing workers).  Every call's JSON output
is kept so the caller can check it against the in-memory scorers: a faster wrong number is a bug.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "evaluate.py"
GNU_TIME = "/usr/bin/time"


def _time_v_field(text: str, label: str) -> float | None:
    found = re.search(rf"^\s*{re.escape(label)}: (\S+)\s*$", text, re.M)
    return float(found.group(1)) if found else None


def run_cli(task: str, args: dict, cache_dir: Path, json_out: Path) -> dict:
    """One call; ``wall_seconds`` is measured here around the subprocess (start-up included)."""
    cmd = [sys.executable, str(TOOL), task, *[str(x) for kv in args.items() for x in kv],
           "--cache-dir", str(cache_dir), "--json-out", str(json_out)]
    have_time = os.access(GNU_TIME, os.X_OK)
    if have_time:
        cmd = [GNU_TIME, "-v", *cmd]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    run = {"wall_seconds": wall}
    if have_time:
        run["maxrss_bytes"] = int(_time_v_field(proc.stderr, "Maximum resident set size (kbytes)") * 1024)
        run["user_seconds"] = _time_v_field(proc.stderr, "User time (seconds)")
        run["system_seconds"] = _time_v_field(proc.stderr, "System time (seconds)")
    run["result"] = json.loads(json_out.read_text())
    return run


def time_task(task: str, args: dict, warm_runs: int = 2) -> dict:
    """Cold call into an empty cache folder, then ``warm_runs`` warm calls."""
    with tempfile.TemporaryDirectory(prefix="bench_eval_cli_") as tmp:
        cache_dir, out = Path(tmp) / "cache", Path(tmp) / "out.json"
        cold = run_cli(task, args, cache_dir, out)
        warm = [run_cli(task, args, cache_dir, out) for _ in range(warm_runs)]
        cache_bytes = sum(p.stat().st_size for p in cache_dir.rglob("*") if p.is_file())
        shutil.rmtree(cache_dir, ignore_errors=True)
    best = min(warm, key=lambda r: r["wall_seconds"])
    return {"cold": cold, "warm": warm, "warm_best_seconds": best["wall_seconds"],
            "peak_maxrss_bytes": max(r.get("maxrss_bytes", 0) for r in [cold, *warm]),
            "cache_bytes": cache_bytes, "results_identical": all(r["result"] == cold["result"] for r in warm)}


def _same(a, b) -> bool:
    """Equal numbers (NaN equals NaN): the CLI must reproduce the in-memory scorers bit for bit."""
    return a == b or (a != a and b != b)


def matches_arrays(task: str, cli: dict, arrays: dict) -> bool:
    """The CLI's JSON result equals the in-memory scorer's result on the same case."""
    if task == "loc":
        return all(_same(x, y) for key in ("cls_error", "loc_error") for x, y in zip(cli[key], arrays[key], strict=True))
    return _same(cli["mAP"], arrays["mAP"]) and len(cli["ap"]) == len(arrays["ap"]) and all(
        _same(cli["ap"][str(c)], ap) for c, ap in arrays["ap"].items())


def cli_summary(task: str, timing: dict, arrays_result: dict, warm_target: float, cold_factor: float,
                peak_target: int) -> tuple[dict, str]:
    """Report entry and one text line for a task's CLI timings."""
    cold, warm = timing["cold"]["wall_seconds"], timing["warm_best_seconds"]
    exact = timing["results_identical"] and matches_arrays(task, timing["cold"]["result"], arrays_result)
    meets = warm <= warm_target and cold <= cold_factor * warm_target and timing["peak_maxrss_bytes"] <= peak_target
    entry = {**{k: v for k, v in timing.items() if k not in ("cold", "warm")},
             "cold": {k: v for k, v in timing["cold"].items() if k != "result"},
             "warm": [{k: v for k, v in r.items() if k != "result"} for r in timing["warm"]],
             "cold_seconds": cold, "equals_in_memory_scorer": exact, "meets_targets": bool(meets and exact)}
    runs = ", ".join(f"{r['wall_seconds']:.2f}" for r in timing["warm"])
    line = (f"CLI {task.upper()}: cold {cold:.2f} s, warm {warm:.2f} s (runs {runs}), peak RSS "
            f"{timing['peak_maxrss_bytes'] / 2**20:.0f} MiB, cache {timing['cache_bytes'] / 2**20:.1f} MiB; "
            f"targets warm <= {warm_target} s, cold <= {cold_factor * warm_target} s; "
            f"equals in-memory scorer: {exact}")
    return entry, line
