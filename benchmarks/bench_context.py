#!/usr/bin/env python
"""Does the detector's global context branch use the scene? Its row with each image's context
feature swapped for another image's.

The context detector (appendix B) concatenates a whole-image feature (the image's box RoI-pooled and
passed through conv5) to every region's feature. If the trained predictor reads something of the scene
there, giving each val2 image the context feature of another image must cost mAP; if it does not, the
branch is unused, whatever its row's figure. This loads a finished run's context detector
(``WORK_DIR/det``) and tests its Table 9 row (``refine_context``: refinement and voting) on val2
three ways, scored by the official DET rules:

* ``own``: the row as the det stage runs it;
* ``swapped``: every image gets the context feature of the next image of val2 (cyclically);
* ``mean``: every image gets the mean context feature of val2 (the scene averaged away).

and, to see how much of the scene each detector reads through its regions' own receptive fields,
``refine`` (the plain detector) and the context row on val2 with the scene removed: every pixel
outside the ground-truth boxes (grown by 4 px) set to the mean colour (zero after normalisation),
in the primary input and in every pyramid level (``plain_no_scene`` against ``plain_own``,
``context_no_scene`` against ``own``).

    .venv/bin/python benchmarks/bench_context.py --work-dir work_dirs/pipeline [--config configs/mini/pipeline.py]

Results: ``benchmarks/results/bench_context[_LABEL].{json,txt}``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _det_val2 import as_submission, rows_of, score, val2_inputs  # noqa: E402
from _report import publish  # noqa: E402
from bench_eval import cpu_model  # noqa: E402

from ilsvrc_pipe.config.cli import load_config  # noqa: E402
from ilsvrc_pipe.engine.rows import det_row_modes  # noqa: E402
from ilsvrc_pipe.evaluation.det_bootstrap import paired_map_bootstrap  # noqa: E402
from ilsvrc_pipe.models.detection.inference import MemberView, detect_image  # noqa: E402
from ilsvrc_pipe.predict.run_models import RunModels  # noqa: E402

WAYS = ("own", "swapped", "mean", "plain_own", "plain_no_scene", "context_no_scene")
MARGIN = 4   # px around each ground-truth box kept with the object


def without_scene(inputs: dict, meta: dict, boxes) -> dict:
    """The test inputs with every pixel outside ``boxes`` (inclusive, original frame) at zero."""
    def grey(image, factor):
        sx, sy = factor
        keep = torch.zeros(image.shape[-2:], dtype=torch.bool)
        for x1, y1, x2, y2 in boxes:
            keep[max(int((y1 - MARGIN) * sy), 0):int((y2 + 1 + MARGIN) * sy) + 1,
                 max(int((x1 - MARGIN) * sx), 0):int((x2 + 1 + MARGIN) * sx) + 1] = True
        return image * keep

    primary = grey(inputs["primary"], meta["scale_factor"])
    pyramid = [primary if level is inputs["primary"] else grey(level, factor)
               for level, factor in zip(inputs["pyramid"], meta["scale_factors"])]
    return {"primary": primary, "pyramid": pyramid}


def context_of(model, item) -> torch.Tensor:
    """The image's context feature, as the detector computes it at test time."""
    view = MemberView(model, item["inputs"]["pyramid"], item["inputs"]["primary"])
    return model.context_features(view.feat, [view.size])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work-dir", type=Path, default=ROOT / "work_dirs" / "pipeline")
    p.add_argument("--config", default="configs/mini/pipeline.py", help="relative to the repository root")
    p.add_argument("--row", default="refine_context", help="a single-detector Table 9 row of a context detector")
    p.add_argument("--label", default="", help="suffix of the result files (e.g. scenes_s0)")
    args = p.parse_args(argv)
    cfg = load_config(ROOT / args.config)
    run = RunModels(cfg, args.work_dir)
    members, mode = det_row_modes(cfg.det)[args.row]
    model = run.detectors(members)[members[0]]
    if len(members) != 1 or not model.context:
        raise SystemExit(f"--row {args.row}: give a row of one detector with the global context branch")
    plain_members, plain_mode = det_row_modes(cfg.det)["refine"]
    plain = run.detectors(plain_members)[plain_members[0]]
    dataset, gt, synsets = val2_inputs(cfg, run)
    with torch.no_grad():
        contexts = [run.infer(context_of, model, dataset[i]) for i in range(len(dataset))]
    mean = torch.stack(contexts).mean(dim=0)
    given = {"swapped": lambda i: contexts[(i + 1) % len(contexts)], "mean": lambda i: mean}
    own_context = model.context_features
    tables = {way: [] for way in WAYS}

    def detect(way, detector, row_mode, inputs, meta):
        view = MemberView(detector, inputs["pyramid"], inputs["primary"])
        dets = detect_image([view], row_mode, meta, run.infer)
        tables[way].append(rows_of(meta, dets, dets.boxes.numpy(), synsets))

    try:
        for i in range(len(dataset)):
            item = dataset[i]
            meta, inputs = item["data_samples"], item["inputs"]
            pos = int(np.flatnonzero(gt.image_index == meta["image_index"])[0])
            no_scene = without_scene(inputs, meta, gt.object_boxes[gt.object_image == pos])
            for way in ("swapped", "mean"):
                model.context_features = lambda feat, sizes, g=given[way](i): g
                detect(way, model, mode, inputs, meta)
            model.context_features = own_context
            detect("own", model, mode, inputs, meta)
            detect("context_no_scene", model, mode, no_scene, meta)
            detect("plain_own", plain, plain_mode, inputs, meta)
            detect("plain_no_scene", plain, plain_mode, no_scene, meta)
    finally:
        model.context_features = own_context
    subs = {way: as_submission(t) for way, t in tables.items()}
    results = {way: {"mAP": score(sub, gt)["mAP"]} for way, sub in subs.items()}
    for way, own in (("swapped", "own"), ("mean", "own"), ("plain_no_scene", "plain_own"),
                     ("context_no_scene", "own")):
        results[way]["vs_own"] = paired_map_bootstrap(subs[way], subs[own], gt)
    lines = [f"bench_context: {cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
             f"command: .venv/bin/python benchmarks/bench_context.py --work-dir {args.work_dir} --config {args.config}",
             f"val2: {len(dataset)} images; detector {members[0]}, row {args.row} (official DET rules; vs own: "
             "difference, 95 % bootstrap interval over the images)"]
    for way, r in results.items():
        boot = r.get("vs_own")
        vs = f"; vs own {boot['delta']:+.4f} [{boot['low']:+.4f}, {boot['high']:+.4f}]" if boot else ""
        lines.append(f"  {way:8s}: mAP {r['mAP']:.4f}{vs}")
    out = ROOT / "benchmarks" / "results" / f"bench_context{'_' + args.label if args.label else ''}.json"
    publish({"config": args.config, "work_dir": str(args.work_dir), "row": args.row, "images": len(dataset),
             "results": results}, lines, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
