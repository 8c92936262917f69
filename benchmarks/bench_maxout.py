#!/usr/bin/env python
"""Where the two scales of multi-scale testing meet: maxout after conv5 (the paper) or before it.

Appendix B: "RoI pooling and subsequent layers are performed on the feature maps of these two scales
[ref], which are merged by maxout". ``det.test.maxout='after_conv5'`` runs RoI pooling and conv5 on
each of the two scales and merges the per-region features; ``'before_conv5'`` merges the two
RoI-pooled conv4 features and runs conv5 once. This loads the detectors a finished run trained
(``WORK_DIR/det``) and, for each placement, runs the Table 9 rows that test on the pyramid
(``refine_context_multiscale`` and ``ensemble``) over val2, scoring each by the official DET rules and
timing the seconds per image (both rows together, the same trained weights for both placements).

    .venv/bin/python benchmarks/bench_maxout.py --work-dir work_dirs/pipeline [--config configs/mini/pipeline.py]

Results: ``benchmarks/results/bench_maxout[_LABEL].{json,txt}``.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from _det_val2 import as_submission, rows_of, score, val2_inputs  # noqa: E402
from _report import publish  # noqa: E402
from bench_eval import cpu_model  # noqa: E402

from ilsvrc_pipe.config.cli import load_config  # noqa: E402
from ilsvrc_pipe.engine.rows import det_row_modes  # noqa: E402
from ilsvrc_pipe.models.detection.inference import MAXOUT_PLACEMENTS, MemberView, detect_image  # noqa: E402
from ilsvrc_pipe.predict.run_models import RunModels  # noqa: E402

ROWS = ("refine_context_multiscale", "ensemble")


def run_placement(models: dict, plan: dict, dataset, synsets, maxout: str, infer) -> tuple[dict, float]:
    """Detections tables of the rows with this placement, and the seconds per image."""
    modes = {row: (members, dataclasses.replace(mode, maxout=maxout)) for row, (members, mode) in plan.items()}
    tables = {row: [] for row in modes}
    start = time.perf_counter()
    for i in range(len(dataset)):
        item = dataset[i]
        meta, inputs = item["data_samples"], item["inputs"]
        views = {n: MemberView(models[n], inputs["pyramid"], inputs["primary"]) for n in models}
        for row, (members, mode) in modes.items():
            dets = detect_image([views[n] for n in members], mode, meta, infer)
            tables[row].append(rows_of(meta, dets, dets.boxes.numpy(), synsets))
    seconds = (time.perf_counter() - start) / max(len(dataset), 1)
    return {row: as_submission(t) for row, t in tables.items()}, seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work-dir", type=Path, default=ROOT / "work_dirs" / "pipeline")
    p.add_argument("--config", default="configs/mini/pipeline.py", help="relative to the repository root")
    p.add_argument("--label", default="", help="suffix of the result files (e.g. cluttered_s1)")
    args = p.parse_args(argv)
    cfg = load_config(ROOT / args.config)
    run = RunModels(cfg, args.work_dir)   # the run's detectors and test precision, as tools/predict.py loads them
    plan = {row: spec for row, spec in det_row_modes(cfg.det).items() if row in ROWS}
    models = run.detectors(sorted({n for members, _ in plan.values() for n in members}))
    dataset, gt, synsets = val2_inputs(cfg, run)
    results = {}
    with torch.no_grad():
        for maxout in MAXOUT_PLACEMENTS:
            tables, seconds = run_placement(models, plan, dataset, synsets, maxout, run.infer)
            results[maxout] = {"s_per_image": seconds, "mAP": {row: score(t, gt)["mAP"] for row, t in tables.items()}}
    lines = [f"bench_maxout: {cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
             f"command: .venv/bin/python benchmarks/bench_maxout.py --work-dir {args.work_dir} --config {args.config}",
             f"val2: {len(dataset)} images; rows {', '.join(ROWS)} (official DET rules, mAP); seconds per image: "
             "both rows, their detectors' conv4 computed once per image"]
    for maxout, r in results.items():
        maps = ", ".join(f"{row} {m:.4f}" for row, m in r["mAP"].items())
        lines.append(f"  {maxout:12s}: {maps}; {r['s_per_image']:.3f} s/image")
    out = ROOT / "benchmarks" / "results" / f"bench_maxout{'_' + args.label if args.label else ''}.json"
    publish({"config": args.config, "work_dir": str(args.work_dir), "images": len(dataset), "results": results},
            lines, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
