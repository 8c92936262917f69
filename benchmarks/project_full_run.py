"""What would the whole ILSVRC 2015 pipeline cost on real data? Measured here, projected to K devices.

Measures (``_full_run_measure.py``) the per-unit cost of every stage at the paper's sizes on this
machine, then (``_full_run_plan.py``) multiplies by the real image counts and the paper config's
epochs, stage by stage, and projects onto K machines like this one and onto K V100-class GPUs
(this machine's R-101 forward rate scaled to the GPU's fp32 peak at a stated efficiency). The
projection is checked against detectron2's published R101-C4 inference time. Every assumption is
printed with the figures.

    .venv/bin/python benchmarks/project_full_run.py            # ~2-3 min; waits for a 1-min load < 0.6

Results: ``benchmarks/results/project_full_run.{json,txt}``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from _full_run_measure import measure_all, paper_config
from _full_run_plan import ASSUMPTIONS, COUNTS, detectron2_check, gpu_speedup, project, stage_work
from _load import load_average, wait_for_quiet

RESULTS = Path(__file__).resolve().parent / "results"


def _hours(h: float) -> str:
    return f"{h / 24:8.1f} d" if h >= 48 else f"{h:8.1f} h"


def report(result: dict) -> str:
    u, proj, work = result["units"], result["projection"], result["work"]
    lines = [f"project_full_run: {result['machine']}, torch {result['torch']}, {result['threads']} threads",
             f"1-min load {result['load_start']:.2f} at start, {result['load_end']:.2f} at end; "
             f"measuring took {result['measure_s']:.0f} s", "",
             "unit costs on this machine (s):"]
    lines += [f"  {k:20s} {v:10.4f}" for k, v in u.items() if isinstance(v, float) and not k.endswith("flops")]
    lines += [f"  {k:20s} {v / 1e9:10.2f} GFLOP" for k, v in u.items() if k.endswith("flops")]
    cpu_rate = u["fwd224_flops"] / u["fwd224_img"] / 1e9
    lines += [f"  R-101 forward at 224: {u['fwd224_flops'] / 1e9:.1f} GFLOP, {cpu_rate:.0f} GFLOP/s achieved here",
              f"  detector test pyramid sizes: {u['det_pyramid_sizes']}", "",
              f"GPU = this machine x {result['gpu_speedup']:.0f} "
              f"({ASSUMPTIONS['gpu_fp32_tflops']} TFLOP/s fp32 x {ASSUMPTIONS['gpu_efficiency']} efficiency "
              f"/ {cpu_rate:.0f} GFLOP/s)", ""]
    keys = list(proj["total"])
    lines.append(f"  {'stage':14s} " + " ".join(f"{k[:-2]:>10s}" for k in keys)
                 + "   (cpu_xK: K machines like this one; gpu_xK: K GPUs)")
    for name, row in proj.items():
        lines.append(f"  {name:14s} " + " ".join(f"{_hours(row[k]):>10s}" for k in keys))
    lines += ["", "what each stage counts:"]
    lines += [f"  {k:14s} {v['what']}" for k, v in work.items()]
    d2 = result["detectron2"]
    lines += ["", f"detectron2 R101-C4 check (s=800, 1000 RoIs, one scale, {d2['gflop']:.0f} GFLOP): "
              f"{d2['this_machine_s']:.1f} s here, projected {d2['projected_v100_s']:.3f} s on a V100 vs "
              f"published {d2['detectron2_v100_s']} s, i.e. {d2['implied_tflops']:.1f} TFLOP/s "
              f"({100 * d2['implied_gpu_efficiency']:.0f}% of the fp32 peak; cuDNN's Winograd/FFT convolutions "
              "do fewer multiplications than the FLOPs counted here)",
              "", "assumptions: " + json.dumps(ASSUMPTIONS), "counts: " + json.dumps(COUNTS)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", default="1,8,64", help="K values to project onto")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--max-load", type=float, default=0.6)
    parser.add_argument("--max-wait", type=float, default=1200.0)
    parser.add_argument("--out", default=str(RESULTS / "project_full_run"))
    args = parser.parse_args(argv)
    load_start, waited = wait_for_quiet(args.max_load, args.max_wait)
    import torch

    start = time.perf_counter()
    units = measure_all(args.reps)
    measure_s = time.perf_counter() - start
    cfg = paper_config()
    work = stage_work(units, cfg)
    speed = gpu_speedup(units)
    devices = tuple(int(k) for k in args.devices.split(","))
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "load_start": load_start, "waited_s": waited, "load_end": load_average(), "measure_s": measure_s,
              "units": units, "assumptions": ASSUMPTIONS, "counts": COUNTS, "gpu_speedup": speed,
              "work": work, "projection": project(work, speed, devices), "detectron2": detectron2_check(units)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".txt").write_text(report(result))
    print(report(result))


if __name__ == "__main__":
    main()
