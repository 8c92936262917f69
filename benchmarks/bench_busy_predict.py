#!/usr/bin/env python
"""What a user sees on a busy machine: ``tools/predict.py`` (the LOC row of a finished run) timed end
to end, alone and next to a busy competing process, with the thread governor at its default
(``ILSVRC_PIPE_ADAPTIVE_THREADS=inference``, predict's default) and off; the four runs'
``predictions.json`` are compared with the idle, governor-off run's: the same classes and boxes in the
same order, scores to float rounding (the governor's one-thread forwards round some sums differently).

The competitor is one pure-Python spin loop (as in ``bench_threads.py``). The runs alternate
governor on / off within each scenario, so a drift of the machine's speed hits both alike.

    make run    # first: the work dir with trained models
    .venv/bin/python benchmarks/bench_busy_predict.py [--work-dir work_dirs/pipeline] [--images DIR]
Writes benchmarks/results/bench_busy_predict.{json,txt} (~4 min on 2 cores for the 100 mini test images).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _report import publish  # noqa: E402
from bench_threads import Competitor  # noqa: E402

MODES = ("inference", "off")


def run_predict(args, out: Path, mode: str) -> float:
    """Wall seconds of one ``tools/predict.py`` run with the governor in ``mode``."""
    env = {**os.environ, "ILSVRC_PIPE_ADAPTIVE_THREADS": mode}
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "tools" / "predict.py"), "--work-dir", args.work_dir,
                    "--images", args.images, "--out", str(out)], env=env, check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def compare(reference: list, other: list) -> dict:
    """Whether ``other`` names the same classes and boxes in the same order as ``reference`` (every
    image), how many images' scores differ at all, and the largest relative score difference."""
    same, differing, worst = len(reference) == len(other), 0, 0.0
    for a, b in zip(reference, other):
        same &= [(x["wnid"], x["box"]) for x in a["boxes"]] == [(y["wnid"], y["box"]) for y in b["boxes"]]
        diffs = [abs(x[k] - y[k]) / max(abs(x[k]), 1e-12) for x, y in zip(a["boxes"], b["boxes"])
                 for k in ("score", "box_score") if k in x]
        differing += any(d > 0 for d in diffs)
        worst = max([worst, *diffs])
    return {"same_decisions": same, "images_with_score_diff": differing, "max_rel_score_diff": worst}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", default="work_dirs/pipeline")
    parser.add_argument("--images", default="data/mini_ilsvrc/ILSVRC/Data/CLS-LOC/test")
    parser.add_argument("--out", default=str(HERE / "results" / "bench_busy_predict.json"))
    args = parser.parse_args(argv)
    if not (ROOT / args.work_dir / "loc").is_dir():
        print(f"error: {args.work_dir} has no finished loc stage: run `make run` first", file=sys.stderr)
        return 2
    n_images = sum(1 for p in Path(ROOT / args.images).rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    competitor = Competitor()
    seconds, outputs = {}, {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for scenario in ("idle", "busy"):
                for mode in MODES:
                    out = Path(tmp) / f"{scenario}_{mode}"
                    with competitor if scenario == "busy" else contextlib.nullcontext():
                        seconds[(scenario, mode)] = run_predict(args, out, mode)
                    outputs[(scenario, mode)] = (out / "predictions.json").read_bytes()
                    print(f"{scenario} governor={mode}: {seconds[(scenario, mode)]:.1f} s", flush=True)
    finally:
        competitor.close()
    reference = json.loads(outputs[("idle", "off")])
    agreement = {f"{s}/{m}": compare(reference, json.loads(raw)) for (s, m), raw in outputs.items()}
    same_decisions = all(a["same_decisions"] for a in agreement.values())
    base = seconds[("idle", "off")]
    rows = {f"{s}/{m}": {"seconds": t, "images_per_s": n_images / t, "over_idle_off": base / t}
            for (s, m), t in seconds.items()}
    report = {"command": " ".join([Path(sys.executable).name, "benchmarks/bench_busy_predict.py", *(argv or sys.argv[1:])]),
              "cpus": os.cpu_count(), "images": args.images, "n_images": n_images, "rows": rows,
              "agreement_with_idle_off": agreement}
    lines = [f"command: {report['command']}", f"{os.cpu_count()} CPUs; tools/predict.py --task loc on {n_images} images "
             f"({args.images}), wall time per run including start-up", "",
             f"{'scenario/governor':20s} {'seconds':>8s} {'images/s':>9s} {'x idle,off':>10s}"]
    lines += [f"{k:20s} {r['seconds']:8.1f} {r['images_per_s']:9.2f} {r['over_idle_off']:10.2f}" for k, r in rows.items()]
    lines += ["", "against idle/off's predictions.json: same classes and boxes in the same order / images whose "
              "scores differ / largest relative score difference"]
    lines += [f"{k:20s} {'yes' if a['same_decisions'] else 'NO':>4s} {a['images_with_score_diff']:4d} {a['max_rel_score_diff']:.1e}"
              for k, a in agreement.items()]
    publish(report, lines, args.out)
    return 0 if same_decisions else 1


if __name__ == "__main__":
    sys.exit(main())
