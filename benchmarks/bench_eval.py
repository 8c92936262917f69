#!/usr/bin/env python
"""Speed and memory of the official-exact scorers on full-size synthetic cases (seeded).

Two things are timed.

1. The scoring core on in-memory arrays, ``evaluate_loc_arrays`` (50,000 images x 5 guesses, 1,000
   classes) and ``evaluate_det_arrays`` (20,000 images, 200 classes, 1,000,000 detections). Peak
   memory is the tracemalloc peak of a second, separate scoring run (numpy allocations are traced),
   so tracing does not slow the timed run. Unless ``--skip-io``, the time to read the same
   detections from a devkit DET file is reported separately.
2. What a user times (unless ``--skip-cli``): ``tools/evaluate.py`` end to end, one process per call,
   on the same cases written to disk (one XML per image, class lists, blacklists, prediction
   files; written once under ``--case-dir`` and reused), cold (empty ground-truth cache) and warm,
   with the peak RSS from ``/usr/bin/time -v``. Its numbers must equal those of part 1 exactly.

    python benchmarks/bench_eval.py [--repeat 3] [--skip-io] [--skip-cli] [--case-dir DIR] [--scale 1.0]
Writes benchmarks/results/bench_eval.json and bench_eval.txt (``--scale`` < 1: a smaller case for
development; the sizes are in the report).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _cli_timing import cli_summary, time_task  # noqa: E402
from _eval_case import ensure_case  # noqa: E402
from _report import publish  # noqa: E402

from ilsvrc_pipe.evaluation.det import evaluate_det_arrays  # noqa: E402
from ilsvrc_pipe.evaluation.loc import evaluate_loc_arrays  # noqa: E402
from ilsvrc_pipe.submission.det_file import read_det_file, write_det_file  # noqa: E402

TARGETS = {"loc_seconds": 2.0, "det_seconds": 5.0, "peak_bytes": 2 * 1024 ** 3}
CLI_TARGETS = {"loc_warm_seconds": 1.0, "det_warm_seconds": 2.0, "cold_factor": 2.0, "peak_bytes": 2 * 1024 ** 3}


def cpu_model() -> str:
    """The processor's name and whether it has AVX-512 (machines of one name differ by it), from
    /proc/cpuinfo where there is one."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                platform.machine())
    return f"{name} ({'with' if ' avx512f' in info else 'without'} AVX-512)"


def random_boxes(rng, n, width, height, min_size=4):
    """Inclusive boxes inside images of the given sizes, sizes from tiny to the whole image."""
    w = np.maximum(min_size, (width * rng.uniform(0.02, 1.0, n) ** 1.5)).astype(np.int64)
    h = np.maximum(min_size, (height * rng.uniform(0.02, 1.0, n) ** 1.5)).astype(np.int64)
    x1 = (rng.uniform(0, 1, n) * np.maximum(width - w, 1)).astype(np.int64)
    y1 = (rng.uniform(0, 1, n) * np.maximum(height - h, 1)).astype(np.int64)
    return np.stack([x1, y1, x1 + w - 1, y1 + h - 1], axis=1).astype(np.float64)


def jitter(rng, boxes, scale):
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    noise = rng.normal(0, scale, boxes.shape) * np.stack([w, h, w, h], axis=1)
    return np.round(boxes + noise)


def make_loc_case(rng, n_images=50_000, n_classes=1000, k=5):
    gt_class = rng.integers(1, n_classes + 1, n_images)
    width, height = rng.integers(200, 500, n_images), rng.integers(200, 500, n_images)
    per_image = rng.integers(1, 4, n_images)
    object_image = np.repeat(np.arange(n_images), per_image)
    object_boxes = random_boxes(rng, len(object_image), width[object_image], height[object_image])
    labels = rng.integers(1, n_classes + 1, (n_images, k))
    right_rank = rng.integers(0, k, n_images)
    has_right = rng.uniform(size=n_images) < 0.8
    labels[has_right, right_rank[has_right]] = gt_class[has_right]
    first_object = np.cumsum(per_image) - per_image
    target = object_boxes[first_object][:, None, :].repeat(k, axis=1)
    boxes = jitter(rng, target.reshape(-1, 4), 0.15).reshape(n_images, k, 4)
    return dict(pred_labels=labels, pred_boxes=boxes, gt_class=gt_class, object_image=object_image,
                object_class=gt_class[object_image], object_boxes=object_boxes,
                blacklist=np.sort(rng.choice(n_images, 1762, replace=False)) + 1)


def make_det_case(rng, n_images=20_000, n_classes=200, n_dets=1_000_000):
    image_index = np.arange(1, n_images + 1)
    width, height = rng.integers(200, 500, n_images), rng.integers(200, 500, n_images)
    per_image = rng.integers(1, 6, n_images)
    object_image = np.repeat(np.arange(n_images), per_image)
    # 1-2 classes per image, so several objects of one class often share an image
    image_classes = rng.integers(1, n_classes + 1, (n_images, 2))
    object_class = image_classes[object_image, rng.integers(0, 2, len(object_image))]
    object_boxes = random_boxes(rng, len(object_image), width[object_image], height[object_image])

    n_near = int(n_dets * 0.4)
    src = rng.integers(0, len(object_image), n_near)
    near_boxes = jitter(rng, object_boxes[src], 0.12)
    near_class = np.where(rng.uniform(size=n_near) < 0.9, object_class[src], rng.integers(1, n_classes + 1, n_near))
    n_far = n_dets - n_near
    far_image = rng.integers(0, n_images, n_far)
    far_boxes = random_boxes(rng, n_far, width[far_image], height[far_image])
    far_class = np.where(rng.uniform(size=n_far) < 0.5, image_classes[far_image, 0], rng.integers(1, n_classes + 1, n_far))
    det_image = np.concatenate([object_image[src], far_image])
    shuffle = rng.permutation(n_dets)
    det_score = np.round(np.concatenate([rng.beta(4, 2, n_near), rng.beta(2, 4, n_far)]), 2)  # ties on purpose
    blacklist_images = rng.choice(n_images, 400, replace=False)
    blacklist = np.stack([image_index[blacklist_images], image_classes[blacklist_images, 0]], axis=1)
    return dict(det_image_index=image_index[det_image][shuffle],
                det_class=np.concatenate([near_class, far_class])[shuffle],
                det_score=det_score[shuffle], det_boxes=np.concatenate([near_boxes, far_boxes])[shuffle],
                image_index=image_index, object_image=object_image, object_class=object_class,
                object_boxes=object_boxes, blacklist=blacklist)


def time_call(fn, kwargs, repeat):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(**kwargs)
        times.append(time.perf_counter() - start)
    return min(times), times, result


def traced_peak(fn, kwargs) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn(**kwargs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def time_det_file_read(case) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "det.txt"
        start = time.perf_counter()
        write_det_file(path, case["det_image_index"], case["det_class"], case["det_score"], case["det_boxes"])
        written = time.perf_counter() - start
        start = time.perf_counter()
        read_det_file(path, num_classes=200, image_indices=case["image_index"])
        read = time.perf_counter() - start
        size = path.stat().st_size
    return {"write_seconds": written, "read_seconds": read, "file_bytes": size}


def run_cli_benchmark(args, loc_case, det_case, loc_result, det_result) -> tuple[dict, list[str]]:
    """Part 2: ``tools/evaluate.py`` on the cases written to disk, cold and warm."""
    key = {"seed": 2015, "scale": args.scale, "writer": 1}
    start = time.perf_counter()
    case_args = ensure_case(Path(args.case_dir), loc_case, det_case, key)
    report = {"timed": "tools/evaluate.py end to end, one subprocess per call (start-up, imports, XML parsing "
                       "or cache, reading the prediction file, scoring, JSON)",
              "case_dir": str(args.case_dir), "case_ready_seconds": time.perf_counter() - start,
              "cpus": os.cpu_count(), "load_average_before": os.getloadavg(), "targets": CLI_TARGETS}
    lines = [f"timed: {report['timed']}; {os.cpu_count()} CPUs, load average before "
             f"{report['load_average_before'][0]:.2f} (other jobs share the CPUs)"]
    for task, result, target in (("loc", loc_result, CLI_TARGETS["loc_warm_seconds"]),
                                 ("det", det_result, CLI_TARGETS["det_warm_seconds"])):
        timing = time_task(task, case_args[task])
        report[task], line = cli_summary(task, timing, result, target, CLI_TARGETS["cold_factor"],
                                         CLI_TARGETS["peak_bytes"])
        lines.append(line)
    report["meets_targets"] = bool(report["loc"]["meets_targets"] and report["det"]["meets_targets"])
    lines.append(f"CLI meets targets: {report['meets_targets']}")
    return report, lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per scorer (the best is reported)")
    parser.add_argument("--skip-io", action="store_true", help="do not time writing/reading the DET file")
    parser.add_argument("--skip-cli", action="store_true", help="do not time tools/evaluate.py end to end")
    parser.add_argument("--case-dir", default=str(ROOT / "work_dirs" / "bench_eval_case"),
                        help="where the on-disk case is written once and reused")
    parser.add_argument("--scale", type=float, default=1.0, help="case size relative to full size (development)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_eval.json"))
    args = parser.parse_args(argv)

    rng = np.random.default_rng(2015)
    n_loc, n_det_images, n_dets = int(50_000 * args.scale), int(20_000 * args.scale), int(1_000_000 * args.scale)
    loc_case = make_loc_case(rng, n_images=n_loc)
    det_case = make_det_case(rng, n_images=n_det_images, n_dets=n_dets)
    loc_best, loc_times, loc_result = time_call(evaluate_loc_arrays, loc_case, args.repeat)
    det_best, det_times, det_result = time_call(evaluate_det_arrays, det_case, args.repeat)
    loc_peak, det_peak = traced_peak(evaluate_loc_arrays, loc_case), traced_peak(evaluate_det_arrays, det_case)
    report = {
        "timed": "scoring of in-memory arrays only (GT generated in memory, no XML parsing, no file reading)",
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpu": cpu_model(),
                    "cpus": os.cpu_count()},
        "loc": {"n_images": n_loc, "guesses": 5, "classes": 1000, "best_seconds": loc_best, "all_seconds": loc_times,
                "traced_peak_bytes": loc_peak, "top5_loc_error": loc_result["loc_error"][4]},
        "det": {"n_images": n_det_images, "classes": 200, "n_detections": int(len(det_case["det_score"])),
                "n_objects": int(len(det_case["object_class"])), "best_seconds": det_best, "all_seconds": det_times,
                "traced_peak_bytes": det_peak, "mAP": det_result["mAP"]},
        "process_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "targets": TARGETS,
    }
    if not args.skip_io:
        report["det_file_io"] = time_det_file_read(det_case)
    report["meets_targets"] = bool(loc_best <= TARGETS["loc_seconds"] and det_best <= TARGETS["det_seconds"]
                                   and max(loc_peak, det_peak) <= TARGETS["peak_bytes"])

    lines = [
        f"machine: {report['machine']['cpu']}, {report['machine']['cpus']} CPUs, Python {report['machine']['python']}",
        f"timed: {report['timed']}",
        f"LOC  {n_loc:,} images x 5 guesses: {loc_best:.3f} s (runs {', '.join(f'{t:.3f}' for t in loc_times)}), "
        f"traced peak {loc_peak / 2**20:.1f} MiB, target {TARGETS['loc_seconds']} s",
        f"DET  {n_det_images:,} images, 200 classes, {report['det']['n_detections']:,} detections, "
        f"{report['det']['n_objects']:,} objects: {det_best:.3f} s (runs {', '.join(f'{t:.3f}' for t in det_times)}), "
        f"traced peak {det_peak / 2**20:.1f} MiB, target {TARGETS['det_seconds']} s",
        f"process maxrss (inputs included): {report['process_maxrss_bytes'] / 2**20:.0f} MiB, target peak 2048 MiB",
    ]
    if "det_file_io" in report:
        io = report["det_file_io"]
        lines.append(f"DET file (not part of the scoring time): write {io['write_seconds']:.2f} s, "
                     f"read {io['read_seconds']:.2f} s, {io['file_bytes'] / 2**20:.0f} MiB")
    lines.append(f"meets targets: {report['meets_targets']}")
    if not args.skip_cli:
        report["cli"], cli_lines = run_cli_benchmark(args, loc_case, det_case, loc_result, det_result)
        lines += cli_lines
    publish(report, lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
