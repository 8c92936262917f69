#!/usr/bin/env python
"""What box refinement does, step by step: which of its parts gains or loses mAP, and where.

Appendix B's box refinement is three steps on top of the first pass (``ops/box_voting.refine_and_vote``):
the regressed boxes are scored and regressed again (the second pass), the two passes' predictions are
merged and suppressed together (union, NMS 0.3), and each kept box is replaced by the score-weighted
mean of the union's boxes of its class that overlap it by IoU >= 0.5 (box voting). This loads one
detector a finished run trained (``WORK_DIR/det``) and tests, on val2, each step alone and together:

* ``baseline``: first pass, NMS (Table 9's baseline row);
* ``second_pass``: the second pass's predictions alone, NMS;
* ``union``: both passes, NMS, no voting;
* ``vote``: first pass, NMS, voting over the first pass (no second pass);
* ``refine``: both passes, NMS, voting (Table 9's refine row).

Each is scored by the official DET rules (``mAP``: IoU threshold min(0.5, wh/((w+10)(h+10))) per object)
and with every object's threshold raised to 0.7 (``mAP@0.7``: how tight the boxes are). Each variant's
difference to ``baseline`` comes with its 95 % interval from a paired bootstrap over val2's images
(``evaluation/det_bootstrap.py``), and the per-class AP changes of ``refine`` are listed.

    .venv/bin/python benchmarks/bench_refine.py --work-dir work_dirs/pipeline [--config configs/mini/pipeline.py]

Results: ``benchmarks/results/bench_refine[_LABEL].{json,txt}``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from _det_val2 import as_submission, rows_of, score, val2_inputs  # noqa: E402
from _report import publish  # noqa: E402
from bench_eval import cpu_model  # noqa: E402
from torchvision.ops import batched_nms  # noqa: E402

from ilsvrc_pipe.config.cli import load_config  # noqa: E402
from ilsvrc_pipe.engine.rows import det_row_modes  # noqa: E402
from ilsvrc_pipe.evaluation.det_bootstrap import paired_map_bootstrap  # noqa: E402
from ilsvrc_pipe.models.detection.inference import (  # noqa: E402
    Detections,
    MemberView,
    per_class_predictions,
    regressed_boxes,
    to_original_image,
)
from ilsvrc_pipe.ops.box_voting import box_voting, refine_and_vote  # noqa: E402
from ilsvrc_pipe.predict.run_models import RunModels  # noqa: E402

VARIANTS = ("baseline", "second_pass", "union", "vote", "refine")


def _nms(preds, mode):
    boxes, scores, labels = preds
    keep = batched_nms(boxes, scores, labels, mode.nms_iou)[: mode.max_per_image]
    return boxes[keep], scores[keep], labels[keep]


@torch.no_grad()
def variant_detections(view: MemberView, mode) -> dict[str, Detections]:
    """Every variant's detections of one image by one detector (both passes computed once)."""
    scores, boxes = view.outputs(view.proposals(), mode)
    old = per_class_predictions(scores, boxes, mode.score_threshold)
    new_scores, new_boxes = view.outputs(regressed_boxes(scores, boxes), mode)
    new = per_class_predictions(new_scores, new_boxes, mode.score_threshold)
    both = tuple(torch.cat([a, b.to(a)]) for a, b in zip(old, new))
    first = _nms(old, mode)
    voted = box_voting(first[0], first[2], *old, iou_threshold=mode.vote_iou)
    order = torch.sort(first[1], descending=True, stable=True).indices
    out = {"baseline": first, "second_pass": _nms(new, mode), "union": _nms(both, mode),
           "vote": (voted[order], first[1][order], first[2][order]),
           "refine": refine_and_vote(*old, *new, nms_iou=mode.nms_iou, vote_iou=mode.vote_iou,
                                     max_per_image=mode.max_per_image)}
    return {k: Detections(*v) for k, v in out.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work-dir", type=Path, default=ROOT / "work_dirs" / "pipeline")
    p.add_argument("--config", default="configs/mini/pipeline.py", help="relative to the repository root")
    p.add_argument("--row", default="refine", help="the Table 9 row whose detector and settings are tested")
    p.add_argument("--draws", type=int, default=1000, help="bootstrap draws of val2's images")
    p.add_argument("--label", default="", help="suffix of the result files (e.g. cluttered_s1)")
    args = p.parse_args(argv)
    cfg = load_config(ROOT / args.config)
    run = RunModels(cfg, args.work_dir)
    members, mode = det_row_modes(cfg.det)[args.row]
    if len(members) != 1:
        raise SystemExit(f"--row {args.row}: an ensemble row; give a single-detector row")
    model = run.detectors(members)[members[0]]
    dataset, gt, synsets = val2_inputs(cfg, run)
    tables = {v: [] for v in VARIANTS}
    counts = {v: 0 for v in VARIANTS}
    for i in range(len(dataset)):
        item = dataset[i]
        meta, inputs = item["data_samples"], item["inputs"]
        view = MemberView(model, inputs["pyramid"], inputs["primary"])
        for name, dets in run.infer(variant_detections, view, mode).items():
            dets = dets.cpu()
            counts[name] += len(dets.scores)
            tables[name].append(rows_of(meta, dets, to_original_image(dets, meta), synsets))
    results, subs = {}, {name: as_submission(parts) for name, parts in tables.items()}
    for name, sub in subs.items():
        official, strict = score(sub, gt), score(sub, gt, 0.7)
        results[name] = {"mAP": official["mAP"], "mAP@0.7": strict["mAP"], "ap": official["ap"],
                         "dets_per_image": counts[name] / max(len(dataset), 1)}
        if name != "baseline":
            results[name]["vs_baseline"] = paired_map_bootstrap(sub, subs["baseline"], gt, draws=args.draws)
    delta = {c: results["refine"]["ap"][c] - results["baseline"]["ap"].get(c, 0.0) for c in results["refine"]["ap"]}
    lines = [f"bench_refine: {cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
             f"command: .venv/bin/python benchmarks/bench_refine.py --work-dir {args.work_dir} --config {args.config}"
             f" --row {args.row}",
             f"val2: {len(dataset)} images; detector {members[0]} with the {args.row} row's settings"]
    lines.append(f"  (vs baseline: mAP difference, its 95 % interval over {args.draws} bootstrap draws of the images, "
                 "share of draws ahead)")
    for name, r in results.items():
        boot = r.get("vs_baseline")
        vs = (f"; vs baseline {boot['delta']:+.4f} [{boot['low']:+.4f}, {boot['high']:+.4f}], "
              f"{100 * boot['share_positive']:.0f} % ahead") if boot else ""
        lines.append(f"  {name:12s}: mAP {r['mAP']:.4f}, mAP@0.7 {r['mAP@0.7']:.4f}, "
                     f"{r['dets_per_image']:.1f} detections/image{vs}")
    lines.append("  refine - baseline AP per class: " + ", ".join(f"{c} {d:+.3f}" for c, d in sorted(delta.items())))
    out = ROOT / "benchmarks" / "results" / f"bench_refine{'_' + args.label if args.label else ''}.json"
    publish({"config": args.config, "work_dir": str(args.work_dir), "row": args.row, "images": len(dataset),
             "results": results, "refine_minus_baseline_ap": delta}, lines, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
