#!/usr/bin/env python
"""Do a stage's members train sooner side by side (one process, one thread each) than one after the
other with all threads? Timed with the stages' own training specs on a finished run.

``side_by_side`` (``ilsvrc_pipe/engine/side_by_side.py``) pays only where two threads keep a
member's convolutions less than twice as fast as one. That depends on the model, its input size
and the machine, so this benchmark trains each stage's members for ``--epochs`` epochs both ways,
from the run's own classifiers and training tables, alternating the two orders over ``--reps``,
and reports the wall time of each (spawning included) and their ratio. Nothing of the run is
written: the trainings go to a temporary dir.

    .venv/bin/python benchmarks/bench_side_by_side.py --work-dir work_dirs/pipeline --epochs 2
    .venv/bin/python benchmarks/bench_side_by_side.py --stages det rcnn --epochs 6 --reps 1 \
        --out benchmarks/results/bench_side_by_side_full      # the stages' own length, ~13 min

A short training pays the ~5 s of starting a process and decoding its images into the cache, so
measure at the stages' own length before turning it on. Results:
``benchmarks/results/bench_side_by_side{,_full}.{json,txt}``.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from _load import load_average, wait_for_quiet  # noqa: E402
from _report import publish  # noqa: E402
from bench_eval import cpu_model  # noqa: E402
from mmengine.config import Config  # noqa: E402

from ilsvrc_pipe.artifacts.paths import Artifacts  # noqa: E402
from ilsvrc_pipe.engine.side_by_side import MemberTraining, member_threads, train_side_by_side  # noqa: E402
from ilsvrc_pipe.engine.stage import DeclaredConfig, StageContext  # noqa: E402
from ilsvrc_pipe.engine.training import train_to_final  # noqa: E402
from ilsvrc_pipe.stages import classify, detect, rcnn, rpn  # noqa: E402

STAGES = ("cls", "rpn", "rcnn", "det")
READS = {"cls": ("cls", "precision"), "rpn": ("rpn", "cls", "precision"), "rcnn": ("rcnn", "cls", "precision"),
         "det": ("det", "cls", "precision")}


def stage_trainings(cfg: Config, art: Artifacts, stage: str) -> list[tuple[str, dict, int]]:
    """The stage's ``(name, spec, seed)`` list, built as the stage builds it."""
    ctx = StageContext(DeclaredConfig(cfg, READS[stage], stage), Path(cfg.data.root), art, stage,
                       logging.getLogger("bench_side_by_side"))
    if stage == "cls":
        return [t for t in classify.member_trainings(ctx) if t[1]["max_epochs"] > 0]
    if stage == "rpn":
        return rpn.member_trainings(ctx, art.read_fitted_anchors("rpn"))
    if stage == "rcnn":
        return rcnn.member_trainings(ctx)
    return detect.member_trainings(ctx, art.read_classes()["det"])


def time_both(trainings, epochs: int, threads: int, precision: str, tmp: Path, order: str) -> dict:
    """Wall seconds of one-after-another (``threads`` threads) and side by side (their share each)."""
    specs = []
    for name, spec, seed in trainings:
        spec = {**copy.deepcopy(spec), "max_epochs": epochs, "precision": precision}
        specs.append((name, spec, seed))
    out = {}
    for mode in order.split(","):
        root = Path(tempfile.mkdtemp(dir=tmp, prefix=f"{mode}_"))
        start = time.perf_counter()
        if mode == "sequential":
            torch.set_num_threads(threads)
            for name, spec, seed in specs:
                train_to_final(spec, root / name, root / name / "final.pth", seed=seed, log_interval=1000)
        else:
            share = member_threads(threads, len(specs))
            train_side_by_side([MemberTraining(name, spec, root / name, root / name / "final.pth", seed=seed,
                                               log_interval=1000) for name, spec, seed in specs], share)
        out[mode] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", default="work_dirs/pipeline", help="a finished run's work dir")
    parser.add_argument("--config", default="configs/mini/pipeline.py")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--reps", type=int, default=2, help="repetitions, the two orders alternating")
    parser.add_argument("--max-load", type=float, default=0.6)
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/bench_side_by_side"))
    args = parser.parse_args()

    cfg = Config.fromfile(str(REPO / args.config))
    art = Artifacts(Path(args.work_dir))
    start_load, _ = wait_for_quiet(args.max_load, 900)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stage in args.stages:
            section = cfg[stage]
            threads = int(section.get("num_threads", torch.get_num_threads()))
            trainings = stage_trainings(cfg, art, stage)
            for rep in range(args.reps):
                order = "sequential,side_by_side" if rep % 2 == 0 else "side_by_side,sequential"
                t = time_both(trainings, args.epochs, threads, cfg.precision.train, Path(tmp), order)
                rows.append({"stage": stage, "rep": rep, "members": [n for n, _, _ in trainings],
                             "threads": threads, **{k: round(v, 1) for k, v in t.items()},
                             "speedup": round(t["sequential"] / t["side_by_side"], 3)})
                print(json.dumps(rows[-1]), flush=True)
    end_load = load_average()
    lines = [f"bench_side_by_side: {cpu_model()}; {args.work_dir} ({args.config}), {args.epochs} epochs per member",
             f"command: .venv/bin/python benchmarks/bench_side_by_side.py --work-dir {args.work_dir} "
             f"--stages {' '.join(args.stages)} --epochs {args.epochs} --reps {args.reps}",
             f"1-min load {start_load:.2f} at start, {end_load:.2f} at end (this benchmark's own processes count)",
             "stage  rep  one after another (s)  side by side (s)  speedup"]
    lines += [f"{r['stage']:<5}  {r['rep']:>3}  {r['sequential']:>21.1f}  {r['side_by_side']:>16.1f}  {r['speedup']:>7.2f}x"
              for r in rows]
    publish({"machine": cpu_model(), "epochs": args.epochs, "rows": rows}, lines, Path(args.out).with_suffix(".json"))

if __name__ == "__main__":
    main()
