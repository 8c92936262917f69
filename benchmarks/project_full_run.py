"""What would the whole ILSVRC 2015 pipeline cost on real data? Measured here, projected to K devices.

Measures (``_full_run_measure.py``) the per-unit cost of every stage at the paper's sizes on this
machine, then (``_full_run_plan.py``) multiplies by the real image counts and the paper config's
epochs, stage by stage, and projects onto K machines like this one and onto K V100-class GPUs
(this machine's R-101 forward rate scaled to the GPU's fp32 peak at a stated efficiency). The
projection is checked against detectron2's published R101-C4 inference time. Every assumption is
printed with the figures.

Then (``_full_run_memory.py``) the memory one process needs for the heaviest step of every stage,
at the paper's sizes and the per-process batch of a run on 8 GPUs, each step in a fresh process:
a per-stage memory table beside the time table.

    .venv/bin/python benchmarks/project_full_run.py          # ~6-7 min; waits for a 1-min load < 0.6
    .venv/bin/python benchmarks/project_full_run.py --memory-only --memory-ensemble   # memory: ~6 min
    .venv/bin/python benchmarks/project_full_run.py --memory-only --memory-tiny --out /tmp/check  # ~1.5 min

Results: ``benchmarks/results/project_full_run.{json,txt}`` (``project_full_run_memory`` with
``--memory-only``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from _full_run_measure import measure_all, paper_config
from _full_run_memory import measure_memory, stage_of
from _full_run_plan import ASSUMPTIONS, COUNTS, detectron2_check, gpu_speedup, project, stage_work
from _load import load_average, wait_for_quiet

RESULTS = Path(__file__).resolve().parent / "results"


def _hours(h: float) -> str:
    return f"{h / 24:8.1f} d" if h >= 48 else f"{h:8.1f} h"


def report(result: dict) -> str:
    """The readable results: the time part and/or the memory part, whichever ``result`` holds."""
    lines = [f"project_full_run: {result['machine']}, torch {result['torch']}, {result['threads']} threads"]
    if "units" in result:
        lines += _time_lines(result)
    if "memory" in result:
        lines += [""] + memory_report(result["memory"])
    return "\n".join(lines) + "\n"


def memory_report(memory: dict) -> list[str]:
    """The memory table (one row per measured step), each stage's need per GPU, and what the columns mean."""
    gib = lambda mib: f"{mib / 1024:7.2f}"   # noqa: E731
    p = memory["processes"]
    lines = [f"memory of ONE process (one GPU of {p}: per-process batches = global / {p}), RSS of a fresh "
             "process per step, GiB" + ("   [--memory-tiny sizes: NOT the paper's]" if memory["tiny"] else "") + ":",
             f"  {'stage':14s} {'step':20s} {'base':>7s} {'built':>7s} {'peak':>7s} {'step':>7s} {'device':>7s} "
             f"{'+ddp':>7s} {'need':>7s}  what"]
    need: dict[str, float] = {}
    for name, row in memory["steps"].items():
        if "error" in row:
            lines.append(f"  {stage_of(name):14s} {name:20s} not measured: {row['error']}")
            continue
        ddp = row.get("trainable_mib", 0.0)
        total = row["device_mib"] + ddp
        need[stage_of(name)] = max(need.get(stage_of(name), 0.0), total)
        lines.append(f"  {stage_of(name):14s} {name:20s} {gib(row['base_mib'])} {gib(row['built_mib'])} "
                     f"{gib(row['peak_mib'])} {gib(row['step_mib'])} {gib(row['device_mib'])} "
                     f"{gib(ddp) if ddp else ' ' * 7} {gib(total)}  {row['what']}"
                     + ("" if row.get("hwm_reset", True) else " (high-water mark not restarted: may be the build's)"))
    lines += ["", "per stage, GiB per GPU (need: the largest of its steps, before the CUDA context):"]
    lines += [f"  {stage:14s} {gib(mib)}" for stage, mib in need.items()]
    lines += [
        "", "  base: after the imports; built: after building the models the stage holds; peak: the step's",
        "  high-water mark (VmHWM); step = peak - built (activations, gradients, momentum, inputs);",
        "  device = peak - base (interpreter and libraries are not on a GPU); +ddp: DDP's gradient buckets",
        "  on each training process, one more copy of the trainable parameters; need = device + ddp.",
        "  CPU RSS is a proxy for GPU memory: the same weights, gradients, optimizer state and activations, but",
        "  cuDNN workspaces and the caching allocator's reserve differ and the CUDA context (~0.5 GiB) is extra.",
        "  Data-loader workers are other processes, not counted. cls_test: one chunk at the largest dense scale",
        "  (its peak); rcnn_rescore: one chunk through one R-CNN; det_test: one detector's multi-scale row",
        "  (the ensemble row runs about 3x the RoIs" + (")." if "det_test_ensemble" in memory["steps"]
                                                      else "; --memory-ensemble measures it)."),
    ]
    return lines


def _time_lines(result: dict) -> list[str]:
    u, proj, work = result["units"], result["projection"], result["work"]
    lines = [f"1-min load {result['load_start']:.2f} at start, {result['load_end']:.2f} at end; "
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
    return lines


def _measure_time(args) -> dict:
    """The time part: unit costs measured on a quiet machine, projected per stage onto K devices."""
    load_start, waited = wait_for_quiet(args.max_load, args.max_wait)
    start = time.perf_counter()
    units = measure_all(args.reps)
    measure_s = time.perf_counter() - start
    cfg = paper_config()
    work = stage_work(units, cfg)
    speed = gpu_speedup(units)
    devices = tuple(int(k) for k in args.devices.split(","))
    return {"load_start": load_start, "waited_s": waited, "load_end": load_average(), "measure_s": measure_s,
            "units": units, "assumptions": ASSUMPTIONS, "counts": COUNTS, "gpu_speedup": speed,
            "work": work, "projection": project(work, speed, devices), "detectron2": detectron2_check(units)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", default="1,8,64", help="K values to project onto")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--max-load", type=float, default=0.6)
    parser.add_argument("--max-wait", type=float, default=1200.0)
    parser.add_argument("--out", help="results path without suffix (default: results/project_full_run, "
                                      "results/project_full_run_memory with --memory-only)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory part (_full_run_memory.py)")
    parser.add_argument("--memory-only", action="store_true", help="only the memory part (no load wait, no timing)")
    parser.add_argument("--memory-ensemble", action="store_true",
                        help="also the det ensemble row's memory (3 detectors, ~3x the RoIs; ~2 min more on 2 cores)")
    parser.add_argument("--memory-tiny", action="store_true",
                        help="memory part at shrunken sizes, to check the code (figures not the paper's)")
    args = parser.parse_args(argv)
    if args.no_memory and args.memory_only:
        parser.error("--no-memory and --memory-only exclude each other")
    if args.memory_tiny and not args.out:
        parser.error("--memory-tiny: give --out, so that shrunken figures never replace the results")
    import torch

    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
              "torch": torch.__version__, "threads": torch.get_num_threads()}
    if not args.memory_only:
        result.update(_measure_time(args))
    if not args.no_memory:
        result["memory"] = measure_memory(tiny=args.memory_tiny,
                                          extra=("det_test_ensemble",) if args.memory_ensemble else ())
    out = Path(args.out or RESULTS / ("project_full_run_memory" if args.memory_only else "project_full_run"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".txt").write_text(report(result))
    print(report(result))


if __name__ == "__main__":
    main()
