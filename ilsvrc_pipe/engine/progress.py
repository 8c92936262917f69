"""Stage-level progress of a pipeline run: "stage i/N", the time elapsed and an ETA.

A run of all stages takes minutes to hours and its stages differ a hundredfold in length, so a
count of stages says little about the time left. Each stage's manifest records how long its last
run took (``seconds``); the ETA is the sum of those timings over the stages still to run, minus
what the running stage has already spent. The timings are read once, before the run starts,
because a stage whose config changed has its folder (and manifest) cleared when it starts. A stage
never run before has no timing: the ETA then says how many stages it leaves out.
"""
from __future__ import annotations

import logging
import time
from typing import Callable


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def last_timings(stages: list[str], read_manifest: Callable[[str], dict | None]) -> dict[str, float]:
    """``stage -> seconds`` of its last recorded run, for the stages that have one."""
    out = {}
    for name in stages:
        seconds = (read_manifest(name) or {}).get("seconds")
        if isinstance(seconds, (int, float)) and seconds >= 0:
            out[name] = float(seconds)
    return out


class StageClock:
    """Logs each stage's start and end with its position, the run's elapsed time and an ETA."""

    def __init__(self, plan: list[str], timings: dict[str, float], logger: logging.Logger,
                 clock: Callable[[], float] = time.perf_counter):
        self.plan, self.timings, self.logger, self.clock = list(plan), dict(timings), logger, clock
        self.t0 = clock()
        self.stage_t0 = self.t0

    def eta(self, position: int, spent_in_stage: float = 0.0) -> str:
        """Time left for the stages from ``position`` (0-based) on, the current one ``spent_in_stage`` in."""
        left = self.plan[position:]
        unknown = [s for s in left if s not in self.timings]
        known = sum(self.timings[s] for s in left if s in self.timings)
        if not left:
            return "ETA 0 s"
        if len(unknown) == len(left):
            return "no ETA (no earlier timing of " + ", ".join(unknown) + ")"
        if left[0] in self.timings:
            known -= min(spent_in_stage, self.timings[left[0]])
        text = f"ETA {format_duration(known)} from the last run's timings"
        return text + (f" (+ {', '.join(unknown)}, never timed)" if unknown else "")

    def start(self, name: str) -> None:
        i = self.plan.index(name)
        self.stage_t0 = self.clock()
        last = f", last run {format_duration(self.timings[name])}" if name in self.timings else ""
        self.logger.info("stage %-5s starts (%d/%d)%s; elapsed %s, %s", name, i + 1, len(self.plan), last,
                         format_duration(self.stage_t0 - self.t0), self.eta(i))

    def done(self, name: str) -> None:
        i = self.plan.index(name)
        now = self.clock()
        self.logger.info("stage %-5s finished (%d/%d); elapsed %s, %s", name, i + 1, len(self.plan),
                         format_duration(now - self.t0), self.eta(i + 1))
