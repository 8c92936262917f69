"""The load rule of the benchmarks that time the CPU: measure only on a quiet machine.

Figures taken while another job holds the 2 cores say nothing about what is measured, so a
benchmark waits (30 s steps) until the 1-minute load average is below a limit, and records the
load at its start and end next to its figures."""
from __future__ import annotations

import time
from pathlib import Path


def load_average() -> float:
    """The 1-minute load average (``/proc/loadavg``)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_for_quiet(limit: float, max_wait: float) -> tuple[float, float]:
    """Waits, at most ``max_wait`` s, until the 1-min load is below ``limit``; returns
    ``(load at start, seconds waited)``. A machine still loaded after that ends the run (exit
    status 3) rather than producing figures that measure the other job."""
    waited = 0.0
    while load_average() >= limit:
        if waited >= max_wait:
            raise SystemExit(f"1-min load {load_average():.2f} still >= {limit} after {waited:.0f} s: "
                             "not measured (use --max-load to measure anyway)")
        print(f"load {load_average():.2f} >= {limit}: waiting 30 s", flush=True)
        time.sleep(30)
        waited += 30
    return load_average(), waited
