#!/usr/bin/env python
"""The test loops' image decoding in the loop's process against DataLoader workers, on mini's images.

``test.num_workers`` decides where the inference loops (``ilsvrc_pipe/engine/chunked_inference.py``)
decode their images. The mini configs leave it at 0; this measures why: the loop over the mini
val images (DET and CLS-LOC, about 100 px), through ``run_in_chunks`` as the stages call it
(chunks of 100 images, batches of 8), decoding only and with a ResNet-18 forward per image standing
in for the model, with 0 and 2 workers, each twice in alternation.

    .venv/bin/python benchmarks/bench_test_loaders.py [--root /tmp/ilsvrc_mini]

Results: ``benchmarks/results/bench_test_loaders.{json,txt}``.
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from _report import publish  # noqa: E402
from bench_eval import cpu_model  # noqa: E402

from ilsvrc_pipe.artifacts.parts import PartedTable  # noqa: E402
from ilsvrc_pipe.data.transforms import NormalizedImages  # noqa: E402
from ilsvrc_pipe.engine.chunked_inference import run_in_chunks  # noqa: E402
from ilsvrc_pipe.synthetic import ensure_mini_ilsvrc  # noqa: E402


def val_images(root: Path) -> list[str]:
    base = root / "ILSVRC" / "Data"
    return sorted(str(p) for p in [*(base / "DET" / "val").glob("*.JPEG"), *(base / "CLS-LOC" / "val").glob("*.JPEG")])


def loop_seconds(paths: list[str], workers: int, net: torch.nn.Module | None) -> float:
    """Wall time of ``run_in_chunks`` over ``paths`` writing one row per image."""
    def run_batch(indices, images):
        if net is not None:
            with torch.no_grad():
                for image in images:
                    net(image[None])
        return {"rows": pd.DataFrame({"i": indices})}

    with tempfile.TemporaryDirectory() as tmp:
        empty = {"rows": pd.DataFrame({"i": pd.Series([], dtype="int64")})}
        start = time.perf_counter()
        run_in_chunks({"rows": PartedTable(Path(tmp) / "rows")}, empty, len(paths), run_batch,
                      NormalizedImages(paths), chunk_items=100, batch_size=8, num_workers=workers)
        return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "ilsvrc_mini_bench_loaders")
    args = p.parse_args(argv)
    paths = val_images(ensure_mini_ilsvrc(args.root))
    net = torchvision.models.resnet18().eval()
    runs = {}
    for label, model in (("decode only", None), ("decode + ResNet-18 forward", net)):
        for workers in (0, 2, 0, 2):
            runs.setdefault(label, {}).setdefault(workers, []).append(loop_seconds(paths, workers, model))
    lines = [f"bench_test_loaders: {cpu_model()}, {len(paths)} mini val images, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads, {platform.python_version()}",
             "command: .venv/bin/python benchmarks/bench_test_loaders.py (run_in_chunks, chunks of 100, batches of 8)"]
    for label, by_workers in runs.items():
        cells = ", ".join(f"{w} workers {min(s):.2f} s (runs {', '.join(f'{x:.2f}' for x in s)})"
                          for w, s in by_workers.items())
        lines.append(f"  {label}: {cells}")
    publish({"images": len(paths), "runs": {k: {str(w): s for w, s in v.items()} for k, v in runs.items()}}, lines,
            ROOT / "benchmarks" / "results" / "bench_test_loaders.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
