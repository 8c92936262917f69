"""Does PyTorch's CPU throughput survive a busy machine? OpenMP wait policies compared, same run.

libgomp (the OpenMP runtime of the pip torch wheel) lets a thread that waits at a barrier or for
the next parallel region spin before it sleeps: ~300,000 iterations (~3 ms) by default, forever
with ``OMP_WAIT_POLICY=ACTIVE``, not at all with ``PASSIVE``. Spinning makes back-to-back small
ops fast on an idle machine, but when another process wants the same cores the spinner burns the
time slice its partner thread (or the other process) needs, and throughput collapses.
``GOMP_SPINCOUNT=N`` sets the spin length in between. This benchmark measures, for each variant:

* ``idle``: one process alone, 2 threads;
* ``busy``: the same process while one pure-Python spin loop competes for the 2 cores;
* ``pair``: two such processes side by side (the figure is their sum);

on three workloads (``_thread_worker.py``): torchvision ResNet-18 forward (batch 8, 112 px), the
project's R-CNN training step (64 px crops, batch 64) and a loop of single-box roi_align calls.
Variants and workloads alternate within each repetition, so a change of the machine's load hits
all of them alike; the figure is the median over repetitions. Also measured: 1 thread per process
(``threads1``), the alternative of not using OpenMP at all under load.

    .venv/bin/python benchmarks/bench_threads.py            # ~3 min; waits for a 1-min load < 0.6
    .venv/bin/python benchmarks/bench_threads.py --quick    # ResNet only, 1 rep

Results: ``benchmarks/results/bench_threads.{json,txt}``.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _load import load_average, wait_for_quiet

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
OMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "KMP_BLOCKTIME", "MKL_NUM_THREADS")

#: environment of each variant's workers (every variable of OMP_VARS not named here is removed).
VARIANTS = {
    "default": {},                                  # libgomp's own default: spin 300k (~3 ms)
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},      # never spin
    "spin1k": {"GOMP_SPINCOUNT": "1000"},
    "spin3k": {"GOMP_SPINCOUNT": "3000"},
    "spin10k": {"GOMP_SPINCOUNT": "10000"},
    "adaptive": {"BENCH_ADAPTIVE": "all"},          # default spin + ilsvrc_pipe.utils.thread_governor, training too
    "adaptive_spin10k": {"BENCH_ADAPTIVE": "all", "GOMP_SPINCOUNT": "10000"},
    # what tools/predict.py gets: openmp_env's spin count, the governor in forwards without autograd
    "package": {"BENCH_ADAPTIVE": "inference", "GOMP_SPINCOUNT": "10000"},
}
FOREIGN_LIMIT = 0.15   # cores other processes may use during a figure before it is measured again
SCENARIOS = ("idle", "busy", "pair")


class Worker:
    """A ``_thread_worker.py`` process started with one variant's environment."""

    def __init__(self, variant: str):
        env = {k: v for k, v in os.environ.items() if k not in OMP_VARS and k != "BENCH_ADAPTIVE"}
        env.update(VARIANTS[variant])
        self.proc = subprocess.Popen([sys.executable, str(HERE / "_thread_worker.py")], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def wait_ready(self) -> None:
        json.loads(self.proc.stdout.readline())

    def send(self, case: str, seconds: float, threads: int) -> None:
        self.proc.stdin.write(f"{case} {seconds} {threads}\n")
        self.proc.stdin.flush()

    def receive(self) -> float:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("a worker died; see its stderr above")
        return json.loads(line)["rate"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


class Competitor:
    """A pure-Python spin loop, stopped (SIGSTOP) except while a ``busy`` figure is measured."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        self.proc.send_signal(signal.SIGSTOP)

    def __enter__(self):
        self.proc.send_signal(signal.SIGCONT)
        time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGSTOP)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _ticks_busy() -> int:
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(fields) - fields[3] - fields[4]       # all but idle and iowait


def _cpu_seconds(pids) -> float:
    """CPU time (user + system) of the processes ``pids`` (this process's own via process_time)."""
    total = time.process_time()
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def foreign_cores(fn, pids):
    """``(fn(), cores that processes other than ours used meanwhile)``: a figure measured while
    another job ran is measured again (the 1-min load cannot tell, it counts our own processes)."""
    ticks, ours, start = _ticks_busy(), _cpu_seconds(pids), time.perf_counter()
    value = fn()
    wall = time.perf_counter() - start
    others = (_ticks_busy() - ticks) / os.sysconf("SC_CLK_TCK") - (_cpu_seconds(pids) - ours)
    return value, max(0.0, others) / wall


def run_scenario(workers: list[Worker], competitor: Competitor, scenario: str, case: str,
                 seconds: float, threads: int) -> float:
    """Items/s of one scenario: worker 0 alone, with the competitor, or workers 0 and 1 together."""
    if scenario == "idle":
        workers[0].send(case, seconds, threads)
        return workers[0].receive()
    if scenario == "busy":
        with competitor:
            workers[0].send(case, seconds, threads)
            return workers[0].receive()
    for w in workers[:2]:
        w.send(case, seconds, threads)
    return sum(w.receive() for w in workers[:2])


def measure_all(args) -> tuple[dict, list[float]]:
    """``{case: {variant: {scenario: [rate per repetition]}}}``, variants alternating, and the
    cores other processes used during each figure."""
    variants = list(args.variants) + (["threads1"] if args.threads1 else [])
    workers = {v: [Worker(v) for _ in range(2)] for v in args.variants}
    if args.threads1:   # the default environment, torch.set_num_threads(1)
        workers["threads1"] = workers.get("default") or [Worker("default") for _ in range(2)]
    unique = list({id(w): w for pair in workers.values() for w in pair}.values())
    for w in unique:
        w.wait_ready()
    competitor = Competitor()
    pids = [w.proc.pid for w in unique] + [competitor.proc.pid]
    rates = {c: {v: {s: [] for s in SCENARIOS} for v in variants} for c in args.cases}
    foreign = []
    try:
        for case in args.cases:      # untimed: builds every model and lets the first figures settle
            for w in unique:
                w.send(case, args.warmup, 2)
                w.receive()
        for rep in range(args.reps):
            order = variants[rep % len(variants):] + variants[: rep % len(variants)]
            for case in args.cases:
                for variant in order:
                    threads = 1 if variant == "threads1" else 2
                    for scenario in SCENARIOS:
                        for attempt in range(3):
                            rate, others = foreign_cores(functools.partial(
                                run_scenario, workers[variant], competitor, scenario, case,
                                args.seconds, threads), pids)
                            if others < FOREIGN_LIMIT:
                                break
                            time.sleep(5)
                        rates[case][variant][scenario].append(rate)
                        foreign.append(others)
                        print(f"rep {rep} {case:6s} {variant:16s} {scenario:4s} {rate:8.1f}/s "
                              f"(others {others:.2f} cores)", flush=True)
    finally:
        competitor.close()
        for w in unique:
            w.close()
    return rates, foreign


def summarise(rates: dict) -> dict:
    """Medians and the issue's ratios: busy / idle and pair / idle, against the variant's own idle
    figure and against the default's idle figure (the "unchanged idle throughput" check)."""
    out = {}
    for case, by_variant in rates.items():
        base = statistics.median(by_variant["default"]["idle"]) if "default" in by_variant else None
        out[case] = {}
        for variant, by_scenario in by_variant.items():
            med = {s: statistics.median(r) for s, r in by_scenario.items() if r}
            row = dict(med)
            row["busy_over_idle"] = med["busy"] / med["idle"]
            row["pair_over_idle"] = med["pair"] / med["idle"]
            if base:
                row["idle_over_default_idle"] = med["idle"] / base
                row["busy_over_default_idle"] = med["busy"] / base
                row["pair_over_default_idle"] = med["pair"] / base
            row["idle_best"] = max(by_scenario["idle"])
            row["idle_spread"] = (max(by_scenario["idle"]) - min(by_scenario["idle"])) / med["idle"]
            out[case][variant] = row
    return out


def write_report(result: dict, path: Path) -> None:
    """The readable ``.txt`` beside the JSON."""
    units = {"resnet": "images/s", "rcnn": "crops/s", "roi": "roi_align calls/s"}
    lines = [f"command: {result.get('command', 'benchmarks/bench_threads.py')}",
             f"bench_threads: {result['machine']}",
             f"torch {result['torch']}; {result['reps']} reps x {result['seconds']} s per figure; "
             f"1-min load {result['load_start']:.2f} at start, {result['load_end']:.2f} at end (the end "
             f"figure counts this benchmark's own processes); other processes used at most "
             f"{result['foreign_cores_max']:.2f} cores (mean {result['foreign_cores_mean']:.2f}) during a figure",
             "busy: + one pure-Python spin loop; pair: two processes side by side (sum); "
             "ratios against the variant's own idle figure and [against default's idle]", ""]
    for case, by_variant in result["summary"].items():
        lines.append(f"{case} ({units.get(case, 'items/s')}, median)")
        lines.append(f"  {'variant':16s} {'idle':>8s} {'busy':>8s} {'pair':>8s}  {'idle/def':>8s}"
                     f" {'busy/idle':>15s} {'pair/idle':>15s}  idle spread")
        for variant, row in by_variant.items():
            lines.append(
                f"  {variant:16s} {row['idle']:8.1f} {row['busy']:8.1f} {row['pair']:8.1f}  "
                f"{row.get('idle_over_default_idle', float('nan')):8.2f} "
                f"{row['busy_over_idle']:5.2f} [{row.get('busy_over_default_idle', float('nan')):5.2f}]   "
                f"{row['pair_over_idle']:5.2f} [{row.get('pair_over_default_idle', float('nan')):5.2f}]   "
                f"{100 * row['idle_spread']:4.1f}%")
        lines.append("")
    lines += result.get("notes", [])
    path.write_text("\n".join(lines).rstrip() + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="resnet only, 1 rep")
    parser.add_argument("--cases", default="resnet,rcnn", help="of resnet, rcnn, roi")
    parser.add_argument("--variants", default="default,passive,spin10k,package,adaptive_spin10k",
                        help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--threads1", action="store_true", help="also: default environment, 1 thread")
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per figure")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds per worker and case first")
    parser.add_argument("--max-load", type=float, default=0.6)
    parser.add_argument("--max-wait", type=float, default=1200.0)
    parser.add_argument("--out", default=str(RESULTS / "bench_threads"))
    args = parser.parse_args(argv)
    args.cases = args.cases.split(",")
    args.variants = [v for v in args.variants.split(",") if v]
    if args.quick:
        args.cases, args.reps = ["resnet"], 1
    load_start, waited = wait_for_quiet(args.max_load, args.max_wait)
    started = time.time()
    rates, foreign = measure_all(args)
    import torch  # only for its version; the workers are separate processes

    result = {"command": " ".join(["benchmarks/bench_threads.py", *(argv if argv is not None else sys.argv[1:])]),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
              "torch": torch.__version__, "reps": args.reps, "seconds": args.seconds,
              "load_start": load_start, "waited_s": waited, "load_end": load_average(),
              "wall_s": time.time() - started, "variants": {**VARIANTS, "threads1": "default, 1 thread"},
              "rates": rates, "summary": summarise(rates),
              "foreign_cores_max": max(foreign), "foreign_cores_mean": sum(foreign) / len(foreign)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    write_report(result, out.with_suffix(".txt"))
    print(out.with_suffix(".txt").read_text())


if __name__ == "__main__":
    main()
