#!/usr/bin/env python
"""Peak memory of the inference stages' result tables at ImageNet size, per rank, under torchrun.

The stages' test loops (``ilsvrc_pipe/engine/chunked_inference.py``) write each chunk of results as a
parquet part from the rank that made it; no rank holds another's results. This benchmark runs that
loop with synthetic model outputs of full-size shape and no model (the tables are the point):

* ``cls``: 1,000 float32 class probabilities per image (the score tables);
* ``rpn``: 5 classes x 200 proposals per image (the proposal tables: 10^8 rows on 100,000 test images);
* ``rcnn``: the best box of 5 classes per image;
* ``det``: 100 detections per image;

for ``--images`` images (default 10,000 and 100,000, the test split's size), under
``torchrun --nproc_per_node 2``, and reports each rank's peak RSS (``VmHWM``) and the parts written.
The peak must not grow with the number of images.

    python benchmarks/bench_result_tables.py [--images 10000 100000] [--chunk 1000]

Results: ``benchmarks/results/bench_result_tables.{json,txt}``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KINDS = {"cls": "1,000 float32 probabilities per image", "rpn": "5 classes x 200 proposals per image",
         "rcnn": "the best box of 5 classes per image", "det": "100 detections per image"}


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_rows(kind: str, indices: list[int]):
    """The rows a stage's loop would produce for these images (random values, real shapes)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(indices[0])
    ids = np.asarray([f"ILSVRC2012_test_{i + 1:08d}" for i in indices], dtype=object)
    if kind == "cls":
        frame = pd.DataFrame(rng.random((len(ids), 1000), dtype=np.float32), columns=[f"n{c:08d}" for c in range(1000)])
        frame.insert(0, "image_id", ids)
        return frame
    per_image = {"rpn": 1000, "rcnn": 5, "det": 100}[kind]
    n = len(ids) * per_image
    boxes = rng.random((n, 4)) * 500
    frame = pd.DataFrame({"image_id": np.repeat(ids, per_image), "rank": np.tile(np.arange(1, per_image + 1), len(ids)),
                          "score": rng.random(n), "x1": boxes[:, 0], "y1": boxes[:, 1], "x2": boxes[:, 2],
                          "y2": boxes[:, 3]})
    if kind in ("rpn", "rcnn"):
        frame.insert(1, "wnid", np.tile(np.repeat([f"n0{c:07d}" for c in range(5)], per_image // 5), len(ids)))
    else:
        frame.insert(1, "class_id", rng.integers(1, 201, n))
    return frame


def worker(out_dir: str, n_images: int, chunk: int) -> None:
    """One rank (under torchrun): each table kind through the stages' loop; its peak RSS per kind."""
    import torch.distributed as dist

    from ilsvrc_pipe.artifacts.parts import PartedTable
    from ilsvrc_pipe.engine.chunked_inference import run_in_chunks
    from ilsvrc_pipe.utils.distributed import rank

    dist.init_process_group("gloo")
    report = {"rank": rank(), "start_mib": peak_rss_mib(), "kinds": {}}
    for kind in KINDS:
        table = PartedTable(Path(out_dir) / kind)
        empty = {kind: synthetic_rows(kind, [0]).iloc[:0]}
        start = time.perf_counter()
        run_in_chunks({kind: table}, empty, n_images, lambda idx, _, k=kind: {k: synthetic_rows(k, idx)},
                      chunk_items=chunk, batch_size=chunk)
        report["kinds"][kind] = {"peak_mib": peak_rss_mib(), "seconds": time.perf_counter() - start,
                                 "parts": table.n_parts(),
                                 "bytes": sum(p.stat().st_size for p in table.path.glob("part-*.parquet"))}
    Path(out_dir, f"rank{rank()}.json").write_text(json.dumps(report))
    dist.destroy_process_group()


def measure(n_images: int, chunk: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_tables_") as tmp:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29577",
               __file__, "--worker", tmp, "--images", str(n_images), "--chunk", str(chunk)]
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if res.returncode:
            raise RuntimeError(res.stderr[-3000:])
        return {"images": n_images, "ranks": [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in (0, 1)]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--chunk", type=int, default=1000)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.images[0], args.chunk)
        return 0
    runs = [measure(n, args.chunk) for n in args.images]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    avx = " avx512f" in Path("/proc/cpuinfo").read_text()
    lines = [f"bench_result_tables: {cpu} ({'with' if avx else 'without'} AVX-512), {os.cpu_count()} CPUs; "
             f"torchrun --nproc_per_node 2, parts of {args.chunk} images; peak RSS (VmHWM) of each rank after each "
             "kind, cumulative (the kinds run one after the other in one process)"]
    for kind, what in KINDS.items():
        cells = []
        for run in runs:
            peaks = [r["kinds"][kind]["peak_mib"] for r in run["ranks"]]
            size = sum(r["kinds"][kind]["bytes"] for r in run["ranks"]) / 2 ** 20
            secs = max(r["kinds"][kind]["seconds"] for r in run["ranks"])
            cells.append(f"{run['images']:,} images: peak {peaks[0]:.0f} / {peaks[1]:.0f} MiB, "
                         f"{run['ranks'][0]['kinds'][kind]['parts']} parts, {size:,.0f} MiB on disk, {secs:.0f} s")
        lines.append(f"  {kind:5s} ({what}): " + "; ".join(cells))
    from _report import publish

    publish({"chunk": args.chunk, "runs": runs, "cpu": cpu, "avx512": avx}, lines,
            ROOT / "benchmarks" / "results" / "bench_result_tables.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
