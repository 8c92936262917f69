#!/usr/bin/env python
"""This machine's fp32 GEMM peak, best of several runs of large square n x n x n products.

Two GEMM engines are timed, because on this machine they differ a lot:

* ``torch.mm`` (MKL sgemm in this torch build);
* oneDNN, through a 1x1 convolution in ``channels_last`` (the same matrix product: M = n pixels,
  K = n input channels, N = n output channels), i.e. the library that runs the models' convolutions.

MKL picks its code path from the CPU vendor; on an AMD CPU with AVX-512 it can stay far below
what oneDNN's AVX-512 kernels reach, and then convolutions "beat" ``torch.mm``. ``gflops`` (the
peak) is therefore the best of both engines; ``mm_gflops`` and ``onednn_gflops`` are kept apart.
FLOPs are counted as 2 n^3 per product (a multiply and an add per MAC), the convention of
``torch.utils.flop_counter`` that ``bench_loc.py`` compares against. ``measure_gemm_gflops`` is
imported by ``bench_loc.py`` so both figures come from the same process and conditions.

    .venv/bin/python benchmarks/bench_gemm.py [--threads 2] [--repeat 5]   # full, ~1 min on 2 cores
    .venv/bin/python benchmarks/bench_gemm.py --quick                      # small sizes, seconds
Writes benchmarks/results/bench_gemm.json and bench_gemm.txt.
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _report import publish

import ilsvrc_pipe  # noqa: F401  (before torch: sets the OpenMP wait policy, ilsvrc_pipe/utils/openmp_env.py)

ROOT = Path(__file__).resolve().parents[1]
FULL_SIZES = (2048, 3072, 4096)
QUICK_SIZES = (512, 1024)


def machine_info(threads: int) -> dict:
    """What the numbers were taken on."""
    return {"nproc": os.cpu_count(), "affinity_cpus": len(os.sched_getaffinity(0)),
            "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
            "torch": torch.__version__, "threads": threads,
            "mkldnn": torch.backends.mkldnn.is_available(), "loadavg_at_start": os.getloadavg()}


def command_line() -> str:
    """The command as typed from the repository root (interpreter path relative when inside it)."""
    exe = Path(sys.executable)
    try:
        exe = exe.relative_to(Path.cwd())
    except ValueError:
        pass
    return " ".join(shlex.quote(str(a)) for a in [exe, *sys.argv])


def _best_of(fn, repeat: int) -> list[float]:
    fn()  # warm-up: first touch, packing buffers, oneDNN primitive creation
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)


def _mm_case(n: int, gen: torch.Generator):
    a, b, out = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen), torch.empty(n, n)
    return lambda: torch.mm(a, b, out=out)


def _onednn_case(n: int, gen: torch.Generator):
    """n x n x n GEMM as a 1x1 convolution in channels_last: (n/64, n, 8, 8) input = M n pixels by
    K n channels, (n, n, 1, 1) weights. (A batch-1 input takes a slower oneDNN path, ~2x here.)"""
    if n % 64:
        raise ValueError(f"oneDNN GEMM size must be a multiple of 64, got {n}")
    x = torch.randn(n // 64, n, 8, 8, generator=gen).to(memory_format=torch.channels_last)
    weight = torch.randn(n, n, 1, 1, generator=gen).to(memory_format=torch.channels_last)

    def run():
        with torch.no_grad():
            F.conv2d(x, weight)
    return run


ENGINES = {"mm": _mm_case, "onednn": _onednn_case}


def measure_gemm(threads: int = 2, sizes=FULL_SIZES, repeat: int = 5, engines=("mm", "onednn")) -> dict:
    """GFLOP/s per engine and size: best (and median) of ``repeat`` timed runs after one warm-up.
    ``<engine>_gflops`` is an engine's best over sizes, ``gflops`` the best over engines."""
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    out = {"per_size": {}, "repeat": repeat, "threads": threads}
    for engine in engines:
        rows = {}
        for n in sizes:
            times = _best_of(ENGINES[engine](n, gen), repeat)
            flops = 2.0 * n ** 3
            rows[n] = {"best_seconds": times[0], "median_seconds": times[len(times) // 2],
                       "best_gflops": flops / times[0] / 1e9, "median_gflops": flops / times[len(times) // 2] / 1e9}
        out["per_size"][engine] = rows
        out[f"{engine}_gflops"] = max(r["best_gflops"] for r in rows.values())
    out["gflops"] = max(out[f"{e}_gflops"] for e in engines)
    return out


def measure_gemm_gflops(threads: int = 2, quick: bool = False, repeat: int | None = None,
                        engines=("mm", "onednn")) -> float:
    """Best fp32 GEMM GFLOP/s with ``threads`` intra-op threads (2 n^3 FLOPs per n x n x n product),
    over ``torch.mm`` and oneDNN (``engines=("mm",)``: ``torch.mm`` alone)."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    return measure_gemm(threads, sizes, repeat or (2 if quick else 5), engines)["gflops"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per size (default 5; quick 2)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help=f"matrix sides (default {FULL_SIZES})")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, 2 runs: checks the script works")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_gemm.json"))
    args = parser.parse_args(argv)

    sizes = tuple(args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES))
    repeat = args.repeat or (2 if args.quick else 5)
    machine = machine_info(args.threads)
    res = measure_gemm(args.threads, sizes, repeat)
    machine["loadavg_at_end"] = os.getloadavg()
    report = {"command": command_line(), "quick": args.quick, "machine": machine,
              "gflops": res["gflops"], "mm_gflops": res["mm_gflops"], "onednn_gflops": res["onednn_gflops"],
              "flop_convention": "2*n^3 per n x n x n fp32 product (2 x MACs)",
              "engines": {"mm": "torch.mm (MKL sgemm in this build)",
                          "onednn": "1x1 conv2d, channels_last, input (n/64, n, 8, 8): M = n pixels, K = N = n channels"},
              "per_size": {e: {str(n): r for n, r in rows.items()} for e, rows in res["per_size"].items()},
              "repeat": repeat}
    lines = [f"command: {report['command']}",
             f"machine: nproc {machine['nproc']}, {machine['cpu']}, torch {machine['torch']}, threads {args.threads}, "
             f"load average start {machine['loadavg_at_start'][0]:.2f} / end {machine['loadavg_at_end'][0]:.2f}",
             f"{'engine':8s} {'n':>6} {'best s':>9} {'best GFLOP/s':>13} {'median GFLOP/s':>15}"]
    for engine, rows in res["per_size"].items():
        for n, r in rows.items():
            lines.append(f"{engine:8s} {n:>6} {r['best_seconds']:>9.4f} {r['best_gflops']:>13.1f} {r['median_gflops']:>15.1f}")
    lines += [f"torch.mm: {res['mm_gflops']:.1f} GFLOP/s; oneDNN (1x1 conv): {res['onednn_gflops']:.1f} GFLOP/s",
              f"fp32 GEMM peak (best of {repeat} runs, over sizes and engines): {res['gflops']:.1f} GFLOP/s"]
    if args.quick:
        lines.append("QUICK MODE: small matrices, not a peak figure")
    publish(report, lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
