#!/usr/bin/env python
"""Where a finished pipeline run spent its time: per stage, each member's training and the rest.

Reads what a run already writes, so that the profile is of the run the user made (not of a separate
benchmark): the stage times from its last ``logs/run_*.log`` ("stage X done in N s"), and for every
trained member the mmengine log (its first line to its last checkpoint; the pipeline process may
write later lines into the newest Runner's log) and ``vis_data/scalars.json`` (per-iteration ``time``
and ``data_time``, logged every ``log_interval`` iterations). A stage's training is the time covered
by its members' trainings (overlapping ones, trained side by side, count once); the stage's time
minus that is its inference and bookkeeping (tests, proposals, tables, figures). ``data_time`` is the share of a training step spent waiting for the
batch (decoding, augmentation, warping, collation on the main process).

    .venv/bin/python benchmarks/profile_run.py --work-dir work_dirs/pipeline [--label fast_avx512]

Results: ``benchmarks/results/profile_run[_LABEL].{json,txt}``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import publish  # noqa: E402
from bench_eval import cpu_model  # noqa: E402

STAGE_DONE = re.compile(r"stage (\w+)\s+done in ([0-9.]+) s")
STAMP = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)")


def stage_times(work_dir: Path) -> dict[str, float]:
    """Seconds of each stage the last run log says it ran (a stage up to date there is absent)."""
    logs = sorted((work_dir / "logs").glob("run_*.log"))
    if not logs:
        raise SystemExit(f"error: {work_dir}/logs holds no run_*.log: not a pipeline work dir")
    return {m.group(1): float(m.group(2)) for m in STAGE_DONE.finditer(logs[-1].read_text())}


def member_training(run_dir: Path) -> dict:
    """Wall seconds and iteration statistics of one member's training (its newest mmengine run)."""
    lines = (run_dir / f"{run_dir.name}.log").read_text().splitlines()
    last = max((i for i, line in enumerate(lines) if "Saving checkpoint" in line), default=len(lines) - 1)
    stamps = [STAMP.match(line) for line in lines[:last + 1]]
    stamps = [datetime.strptime(m.group(1), "%Y/%m/%d %H:%M:%S") for m in stamps if m]
    rows = [json.loads(line) for line in (run_dir / "vis_data" / "scalars.json").read_text().splitlines()
            if line.strip()]
    rows = [r for r in rows if "time" in r and "data_time" in r]
    step = sum(r["time"] for r in rows) / max(len(rows), 1)
    data = sum(r["data_time"] for r in rows) / max(len(rows), 1)
    return {"train_s": (stamps[-1] - stamps[0]).total_seconds() if stamps else None,
            "start": stamps[0].isoformat() if stamps else None, "end": stamps[-1].isoformat() if stamps else None,
            "iterations": max((r.get("step", r.get("iter", 0)) for r in rows), default=0),
            "s_per_iter": step, "data_share": data / step if step else None, "epochs": max((r.get("epoch", 0) for r in rows), default=0)}


def covered_seconds(spans: list[tuple[str, str]]) -> float:
    """Seconds covered by the union of ISO ``(start, end)`` spans (members trained side by side overlap)."""
    total, reach = 0.0, None
    for start, end in sorted((datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in spans):
        if reach is None or start > reach:
            total += (end - start).total_seconds()
            reach = end
        elif end > reach:
            total += (end - reach).total_seconds()
            reach = end
    return total


def profile(work_dir: Path) -> dict:
    """``{stage: {"stage_s", "members": {name: training}, "train_s", "rest_s"}}`` of a finished run."""
    out = {}
    for stage, seconds in stage_times(work_dir).items():
        members = {}
        for member_dir in sorted((work_dir / stage / "models").glob("*")):
            runs = sorted(p for p in member_dir.glob("*") if (p / "vis_data" / "scalars.json").is_file())
            if runs:
                members[member_dir.name] = member_training(runs[-1])
        train = covered_seconds([(m["start"], m["end"]) for m in members.values() if m["start"]])
        out[stage] = {"stage_s": seconds, "members": members, "train_s": train, "rest_s": seconds - train}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work-dir", type=Path, default=ROOT / "work_dirs" / "pipeline")
    p.add_argument("--label", default="", help="suffix of the result files (e.g. the machine)")
    args = p.parse_args(argv)
    prof = profile(args.work_dir)
    total = sum(s["stage_s"] for s in prof.values())
    lines = [f"profile_run: {cpu_model()}; work dir {args.work_dir}",
             f"command: .venv/bin/python benchmarks/profile_run.py --work-dir {args.work_dir}",
             f"pipeline {total:.0f} s; per stage: training of each member (s, iterations, s/iteration, share "
             "of the step waiting for data), then the rest of the stage (inference, tables, figures)"]
    for stage, s in prof.items():
        lines.append(f"  {stage:5s} {s['stage_s']:6.0f} s ({100 * s['stage_s'] / max(total, 1e-9):4.1f} %): "
                     f"training {s['train_s']:.0f} s, rest {s['rest_s']:.0f} s")
        for name, m in s["members"].items():
            share = "-" if m["data_share"] is None else f"{100 * m['data_share']:.0f} %"
            lines.append(f"        {name:16s} {m['train_s'] or 0:5.0f} s, {m['iterations']:5d} it ({m['epochs']} epochs), "
                         f"{m['s_per_iter']:.3f} s/it, data {share}")
    out = ROOT / "benchmarks" / "results" / f"profile_run{'_' + args.label if args.label else ''}.json"
    publish({"work_dir": str(args.work_dir), "pipeline_s": total, "stages": prof}, lines, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
