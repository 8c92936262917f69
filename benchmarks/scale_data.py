#!/usr/bin/env python
"""The data stage on the full ILSVRC 2015 layout at a fraction of ImageNet's size, timed as a user runs it.

For each ``--scale`` it writes (``_scale_tree.py``; reused while its marker matches) a tree with the
real counts times the scale (``_scale_counts.py``: CLS-LOC 1,281,167 train images of which 544,546
with XML, 50,000 val, 100,000 test; DET 456,567 train, 20,121 val, 51,294 test; every index, devkit
and XML file; images as hard links to one small JPEG per image size). Then it runs
``tools/run_pipeline.py --stage data --config configs/ilsvrc2015/ilsvrc2015.py --data-root TREE``
in a fresh work dir, in one process and under ``torchrun --nproc_per_node 2 ... --launcher pytorch``,
each under ``/usr/bin/time -v`` (``_scale_measure.py``): wall time, CPU time of the whole process
tree (torchrun, ranks, parsing workers), peak RSS of the largest process, each rank's peak RSS and
the tree's summed PSS. The two runs must write the same bytes (compared by hash).

From two or more scales it fits time and memory linearly in the scale and projects them to the full
size (unless 1.0 was measured), beside the goals: the whole stage in 5 minutes on this machine, at
most 2 GiB per process, the CPU time under torchrun within 1.2x of one process.

Each run waits for a 1-minute load below ``--max-load`` (the 2 cores are shared). The disk and inode
need of each tree is checked against ``df`` before it is written. The result tables of the inference
stages are not measured here.

    .venv/bin/python benchmarks/scale_data.py                      # scales 0.01 and 0.1, ~5 min here
    .venv/bin/python benchmarks/scale_data.py --scale 1.0 --procs 1 2   # the full size (~4.5 GB, 1.1M inodes)
    .venv/bin/python benchmarks/scale_data.py --repo /tmp/old_checkout --label before   # another checkout's stage

Results: ``benchmarks/results/scale_data[_LABEL].{json,txt}``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _load import load_average, wait_for_quiet  # noqa: E402
from _report import publish  # noqa: E402
from _scale_counts import REAL, scaled_counts  # noqa: E402
from _scale_measure import run_measured  # noqa: E402
from _scale_tree import ensure_tree, read_marker  # noqa: E402
from bench_eval import cpu_model  # noqa: E402

CONFIG = "configs/ilsvrc2015/ilsvrc2015.py"
GOALS = {"wall_s": 300.0, "peak_rss_mib": 2048.0, "torchrun_cpu_ratio": 1.2}
BYTES_PER_XML, BYTES_PER_LINK = 4096, 64    # a block per XML; a directory entry per image


# -- the tree --------------------------------------------------------------------------------------
def disk_need(scale: float) -> tuple[int, int]:
    """(bytes, inodes) a tree of ``scale`` needs, estimated from its counts (lists and JPEGs are small)."""
    c = scaled_counts(scale)
    images = sum(c[k] for k in ("clsloc_train", "clsloc_val", "clsloc_test", "det_train_2013", "det_train_negatives",
                                "det_train_2014", "det_val", "det_test"))
    xmls = sum(c[k] for k in ("clsloc_train_boxed", "clsloc_val", "det_train_2013", "det_train_2014", "det_val"))
    return xmls * BYTES_PER_XML + images * BYTES_PER_LINK + (50 << 20), xmls + 5000


def check_disk(folder: Path, scale: float, writing: bool) -> dict:
    """The free space and inodes of ``folder``'s file system (and, when a tree is to be written, its
    need); exits when the need is over 80 % of what is free."""
    folder.mkdir(parents=True, exist_ok=True)
    st = os.statvfs(folder)
    free, inodes = st.f_bavail * st.f_frsize, st.f_favail
    disk = {"free_gib": round(free / 2 ** 30, 1), "free_inodes": inodes}
    if not writing:
        return disk
    need_bytes, need_inodes = disk_need(scale)
    disk.update(need_gib=round(need_bytes / 2 ** 30, 2), need_inodes=need_inodes)
    if need_bytes > 0.8 * free or need_inodes > 0.8 * inodes:
        raise SystemExit(f"scale {scale}: the tree needs ~{disk['need_gib']} GiB and {need_inodes:,} inodes; "
                         f"{folder} has {disk['free_gib']} GiB and {inodes:,} free: not written")
    return disk


# -- one run of the stage ----------------------------------------------------------------------------
def stage_command(repo: Path, tree: Path, work: Path, procs: int, port: int) -> list[str]:
    tool = ["tools/run_pipeline.py", "--stage", "data", "--config", CONFIG, "--data-root", str(tree),
            "--work-dir", str(work), "--submission-dir", str(work / "subs"), "--device", "cpu"]
    if procs == 1:
        return [sys.executable, *tool]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--master_port", str(port),
            *tool, "--launcher", "pytorch"]


def written_hashes(work: Path) -> dict[str, str]:
    """sha256 of every file the stage wrote (its manifest and start marker aside: they hold times)."""
    folder = work / "data"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name not in ("manifest.json", ".started.json")}


def measure(repo: Path, tree: Path, scratch: Path, procs: int, args) -> tuple[dict, dict]:
    """Figures of one run (and the hashes of what it wrote), on a quiet machine."""
    load, waited = wait_for_quiet(args.max_load, args.max_wait)
    work = scratch / f"work_{tree.name}_{procs}p"
    shutil.rmtree(work, ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"  {procs} process(es): load {load:.2f} ...", flush=True)
    run = run_measured(stage_command(repo, tree, work, procs, 29600 + procs), repo, env, scratch / f"{work.name}.log")
    run["stage_s"] = json.loads((work / "data" / "manifest.json").read_text())["seconds"]
    run.update(load_before=load, waited_s=waited, load_after=load_average())
    hashes = written_hashes(work)
    if not args.keep_work:
        shutil.rmtree(work)
    return run, hashes


# -- growth with scale -------------------------------------------------------------------------------
def fit(scales: list[float], values: list[float]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line through (scale, value)."""
    n, sx, sy = len(scales), sum(scales), sum(values)
    sxx, sxy = sum(s * s for s in scales), sum(s * v for s, v in zip(scales, values))
    slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    return (sy - slope * sx) / n, slope


def growth(results: dict[str, dict]) -> dict:
    """Per process count: each figure's fitted line and its value at the full size."""
    out = {}
    scales = sorted(results, key=float)
    if len(scales) < 2:
        return out
    for procs in results[scales[0]]["runs"]:
        if not all(procs in results[s]["runs"] for s in scales):
            continue
        entry = {}
        for key in ("wall_s", "stage_s", "cpu_s", "maxrss_mib", "tree_pss_peak_mib"):
            a, b = fit([float(s) for s in scales], [results[s]["runs"][procs][key] for s in scales])
            entry[key] = {"intercept": round(a, 2), "per_full_size": round(b, 2), "at_full_size": round(a + b, 1)}
        out[procs] = entry
    return out


def _run_line(procs: str, run: dict) -> str:
    return (f"  {procs} process(es): wall {run['wall_s']:.1f} s (stage {run['stage_s']:.1f} s), "
            f"CPU {run['cpu_s']:.1f} s, peak RSS {run['maxrss_mib']:.0f} MiB (ranks {run['rank_peak_rss_mib']}, "
            f"largest worker {run['worker_peak_rss_mib']:.0f} of {run['workers_seen']}), "
            f"tree PSS {run['tree_pss_peak_mib']:.0f} MiB; load {run['load_before']:.2f} -> {run['load_after']:.2f}")


def _scale_lines(scale: str, r: dict) -> list[str]:
    t, disk = r["tree"], r["disk"]
    tree = f"written in {r['tree_write_s']:.0f} s" if r["tree_write_s"] else "reused"
    lines = [f"scale {scale}: {t['images']:,} images, {t['xml_files']:,} XMLs, {t['distinct_image_sizes']} image "
             f"sizes; tree {tree} (disk: {disk['free_gib']} GiB, {disk['free_inodes']:,} inodes free before)"]
    lines += [_run_line(procs, run) for procs, run in r["runs"].items()]
    if "torchrun_cpu_ratio" in r:
        lines.append(f"  torchrun / one process: CPU {r['torchrun_cpu_ratio']:.2f}x, "
                     f"wall {r['torchrun_wall_ratio']:.2f}x; same bytes written: {r['same_bytes']}")
    return lines


def report_lines(result: dict) -> list[str]:
    machine = result["machine"]
    lines = [f"scale_data: {machine['cpu']}, {machine['cpus']} CPUs, Python {machine['python']}; "
             f"repo {result['repo']}; config {CONFIG}",
             "timed: tools/run_pipeline.py --stage data, end to end (start-up included) under /usr/bin/time -v; "
             "CPU = user + system of the whole process tree; stage = the manifest's seconds"]
    for scale, r in sorted(result["scales"].items(), key=lambda kv: float(kv[0])):
        lines += _scale_lines(scale, r)
    for procs, entry in result["growth"].items():
        fits = ", ".join(f"{k} {v['intercept']} + {v['per_full_size']} x scale -> {v['at_full_size']}"
                         for k, v in entry.items())
        lines.append(f"linear fit, {procs} process(es): {fits}")
    full = result["full_size"]
    lines.append(f"full size ({full['source']}): " + ", ".join(f"{k} {v}" for k, v in full.items() if k != "source"))
    return lines + [f"goals: {GOALS}"]


def full_size(result: dict) -> dict:
    """Figures at scale 1.0: measured if it was, else the linear fits' values."""
    scales = result["scales"]
    if "1" in scales:
        runs = scales["1"]["runs"]
        source = "measured"
        one, two = runs.get("1"), runs.get("2")
        wall, peak, cpu1 = (one["stage_s"], one["maxrss_mib"], one["cpu_s"]) if one else (None, None, None)
        cpu2 = two["cpu_s"] if two else None
    else:
        g = result["growth"]
        if not g:
            return {"source": "not measured (one scale only)"}
        source = "extrapolated from the linear fits"
        wall = g.get("1", {}).get("stage_s", {}).get("at_full_size")
        peak = g.get("1", {}).get("maxrss_mib", {}).get("at_full_size")
        cpu1 = g.get("1", {}).get("cpu_s", {}).get("at_full_size")
        cpu2 = g.get("2", {}).get("cpu_s", {}).get("at_full_size")
    out = {"source": source, "stage_s": wall, "peak_rss_mib": peak, "cpu_1p_s": cpu1, "cpu_2p_s": cpu2}
    if cpu1 and cpu2:
        out["torchrun_cpu_ratio"] = round(cpu2 / cpu1, 2)
    out["meets_goals"] = bool(wall is not None and wall <= GOALS["wall_s"] and peak is not None
                              and peak <= GOALS["peak_rss_mib"]
                              and out.get("torchrun_cpu_ratio", 0) <= GOALS["torchrun_cpu_ratio"])
    return out


def measure_scale(scale: float, args) -> dict:
    """The tree of ``scale`` (written unless reused) and a run of the stage per process count."""
    tree = args.out / f"scale_{scale:g}"
    print(f"scale {scale:g}: tree {tree}", flush=True)
    disk = check_disk(args.out, scale, writing=read_marker(tree) is None)
    start = time.perf_counter()
    marker, written = ensure_tree(tree, scale, args.seed, args.jobs)
    entry = {"tree": marker, "tree_write_s": round(time.perf_counter() - start, 1) if written else None,
             "disk": disk, "runs": {}}
    hashes = {}
    for procs in args.procs:
        entry["runs"][str(procs)], hashes[procs] = measure(args.repo.resolve(), tree, args.out, procs, args)
    if 1 in hashes and 2 in hashes:
        one, two = entry["runs"]["1"], entry["runs"]["2"]
        entry.update(torchrun_cpu_ratio=round(two["cpu_s"] / one["cpu_s"], 2),
                     torchrun_wall_ratio=round(two["wall_s"] / one["wall_s"], 2), same_bytes=hashes[1] == hashes[2])
    if args.remove_trees:
        shutil.rmtree(tree)
    return entry


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, nargs="+", default=[0.01, 0.1], help="fractions of the real counts")
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2], help="process counts (2: torchrun)")
    p.add_argument("--out", type=Path, default=Path("/tmp/ilsvrc_scale_trees"), help="where the trees are written")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="processes writing a tree")
    p.add_argument("--repo", type=Path, default=ROOT, help="checkout whose tools/run_pipeline.py is measured")
    p.add_argument("--label", default="", help="suffix of the result files (e.g. before)")
    p.add_argument("--max-load", type=float, default=0.5)
    p.add_argument("--max-wait", type=float, default=3600.0)
    p.add_argument("--keep-work", action="store_true", help="keep the work dirs (under --out)")
    p.add_argument("--remove-trees", action="store_true", help="delete each tree after its runs")
    args = p.parse_args(argv)
    name = "scale_data" + (f"_{args.label}" if args.label else "")
    machine = {"cpu": cpu_model(), "cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()}
    result = {"machine": machine, "repo": str(args.repo.resolve()), "config": CONFIG, "real_counts": REAL,
              "goals": GOALS, "scales": {}}
    for scale in args.scale:
        result["scales"][f"{scale:g}"] = measure_scale(scale, args)
    result["growth"] = growth(result["scales"])
    result["full_size"] = full_size(result)
    publish(result, report_lines(result), ROOT / "benchmarks" / "results" / f"{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
