#!/usr/bin/env python
"""Localization test-time speed on this CPU: per-class RPN dense testing and R-CNN rescoring.

RPN: ``propose_dense`` of the mini RPN (``configs/mini/pipeline.py``: ResNet-18 width 0.5 trunk up
to ``out_stage`` 2, the mini anchors and head, 10 classes) with 5 requested classes at the mini
dense scales (80, 92, 112, 136), one image at a time, on images sized like the mini dataset's
(shorter side 96-160, width/height 0.75-1.33). Timed as the ``rpn`` stage loads the model
(``specs.load_weights``: batch norms folded, channels_last) and with its batch norms kept; the
network alone (trunk + the requested classes' heads on ready resized images) is timed too.

R-CNN: ``refine_proposals`` of the mini R-CNN (ResNet-18 width 0.5, crop 64, batch norms folded
and channels_last as the ``rcnn`` stage loads it) on 200 distinct random proposals x 5 classes = 1000 boxes per
image, batch 256 (mini ``rcnn.test.batch_size``); the model's forward on ready crops is timed
alone too. Achieved GFLOP/s = FLOPs of one crop's forward (``FlopCounterMode`` on one batch,
divided by its size; convolutions and matmuls as 2 x MACs, like the GEMM figure; roi_align,
BN, ReLU, pooling are not counted) x crops/s, compared with this machine's fp32 GEMM peak measured
in the same process (``bench_gemm.measure_gemm_gflops``, before and after the models; the best is
used): the peak is the better of ``torch.mm`` (MKL) and oneDNN's GEMM (a 1x1 conv), because MKL's
sgemm stays far below oneDNN on this AMD CPU; the fraction of the ``torch.mm`` figure alone is
reported too. Target: >= 80% of peak. The paper-size R-CNN (ResNet-101, crop 224, 1000 classes) is measured the
same way on a handful of crops of a 375x500 image, for comparison: small convolutions cannot reach
GEMM peak, large ones come closer.

All weights are random (speed does not depend on training).

    .venv/bin/python benchmarks/bench_loc.py [--threads 2]   # full, ~2 min on 2 quiet cores
    .venv/bin/python benchmarks/bench_loc.py --quick         # tiny sizes, seconds
Writes benchmarks/results/bench_loc.json and bench_loc.txt.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import ilsvrc_pipe  # noqa: F401  (before torch: sets the OpenMP wait policy, ilsvrc_pipe/utils/openmp_env.py)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import publish  # noqa: E402
from bench_cls import mixed_images  # noqa: E402
from bench_gemm import command_line, machine_info, measure_gemm_gflops  # noqa: E402
from mmengine.config import Config  # noqa: E402

from ilsvrc_pipe.engine.specs import for_inference  # noqa: E402
from ilsvrc_pipe.models.localization.per_class_rpn import PerClassRPN, propose_dense  # noqa: E402
from ilsvrc_pipe.models.localization.rcnn import RoIRCNN, refine_proposals  # noqa: E402
from ilsvrc_pipe.ops.geometry import resize_shorter, warp_regions  # noqa: E402

MINI_CONFIG = ROOT / "configs" / "mini" / "pipeline.py"
NUM_CLASSES = 10          # mini preset: 10 CLS-LOC classes
REQUESTED = 5             # top-5 classes per image
TARGET_FRACTION = 0.8
LOOP_TARGET = 0.9   # target: a test loop within 90 % of its network's bare forward


def mini_sections() -> dict:
    cfg = Config.fromfile(str(MINI_CONFIG))
    return {k: copy.deepcopy(cfg[k].to_dict()) for k in ("cls", "rpn", "rcnn")}


def first_member_backbone(sections: dict, key: str) -> dict:
    """Backbone config of the classifier the first ``key`` (rpn/rcnn) member starts from."""
    cls_members = {m["name"]: m for m in sections["cls"]["models"]}
    return copy.deepcopy(cls_members[sections[key]["models"][0]["init_from"]]["backbone"])


def random_proposals(gen: torch.Generator, height: int, width: int, n: int, min_side: int = 8) -> torch.Tensor:
    """``n`` distinct inclusive integer boxes inside an ``height`` x ``width`` image."""
    boxes = torch.empty(0, 4)
    while boxes.shape[0] < n:
        w = torch.randint(min_side, width + 1, (2 * n,), generator=gen)
        h = torch.randint(min_side, height + 1, (2 * n,), generator=gen)
        x1 = (torch.rand(2 * n, generator=gen) * (width - w + 1)).floor()
        y1 = (torch.rand(2 * n, generator=gen) * (height - h + 1)).floor()
        cand = torch.stack([x1, y1, x1 + w - 1, y1 + h - 1], dim=1).float()
        boxes = torch.unique(torch.cat([boxes, cand]), dim=0)
    return boxes[torch.randperm(boxes.shape[0], generator=gen)[:n]]


def per_crop_flops(model, crops: torch.Tensor) -> float:
    """FLOPs (2 x MACs of convs/matmuls) of the model's forward on ``crops``, per crop."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(crops, mode="predict")
    return counter.get_total_flops() / crops.shape[0]


def timed(fn, repeat: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


# -- RPN -----------------------------------------------------------------------------------------
def bench_rpn(sections: dict, images: list[torch.Tensor], args) -> dict:
    section = sections["rpn"]
    backbone = {**first_member_backbone(sections, "rpn"), "out_indices": (int(section.get("out_stage", 3)),)}
    torch.manual_seed(0)
    unfolded = for_inference(PerClassRPN(backbone=backbone, num_classes=NUM_CLASSES, **section["model"]), fold_bn=False)
    model = for_inference(copy.deepcopy(unfolded))
    scales = list(section["test"]["dense_scales"])
    gen = torch.Generator().manual_seed(2)
    classes = [torch.randperm(NUM_CLASSES, generator=gen)[:REQUESTED].tolist() for _ in images]

    counter = FlopCounterMode(display=False)
    with counter:
        propose_dense(model, images[0], classes[0], scales=scales)
    flops_first = counter.get_total_flops()
    rows = {}
    for name, net in (("stage", model), ("unfolded", unfolded)):
        def run_all():
            for im, cls in zip(images, classes):
                propose_dense(net, im, cls, scales=scales)
        times = timed(run_all, args.repeat)
        best = min(times) / len(images)
        rows[name] = {"seconds_per_image": best, "median_seconds_per_image": statistics.median(times) / len(images),
                      "images_per_s": 1.0 / best}

    # the network alone (trunk + the requested classes' 1x1 heads) on ready resized images
    ready = [[resize_shorter(im, s).unsqueeze(0) for s in scales] for im in images]
    wanted = [torch.tensor(c) for c in classes]

    def forward_only():
        with torch.no_grad():
            for batches, idx in zip(ready, wanted):
                for x in batches:
                    model.head(model.features(x), idx)

    ftimes = timed(forward_only, args.repeat)
    forward = min(ftimes) / len(images)
    return {"model": section["models"][0]["name"], "backbone": backbone, "model_cfg": section["model"],
            "dense_scales": scales, "requested_classes": REQUESTED, "n_images": len(images),
            "image_sizes": [list(im.shape[-2:]) for im in images], "repeat": args.repeat,
            "flops_first_image": flops_first, "rows": rows, "forward_only_seconds_per_image": forward,
            "dense_over_forward": forward / rows["stage"]["seconds_per_image"]}


# -- R-CNN ---------------------------------------------------------------------------------------
def bench_rcnn_mini(sections: dict, images: list[torch.Tensor], args) -> dict:
    section = sections["rcnn"]
    backbone = first_member_backbone(sections, "rcnn")
    torch.manual_seed(0)
    model = for_inference(RoIRCNN(backbone=backbone, num_classes=NUM_CLASSES, **section["model"]))
    batch = int(section["test"].get("batch_size", 256))
    gen = torch.Generator().manual_seed(3)
    requests = []
    for im in images:
        h, w = im.shape[-2:]
        boxes = random_proposals(gen, h, w, REQUESTED * args.proposals)
        cls = torch.randperm(NUM_CLASSES, generator=gen)[:REQUESTED].tolist()
        requests.append({c: boxes[k * args.proposals:(k + 1) * args.proposals] for k, c in enumerate(cls)})
    n_boxes = sum(sum(b.shape[0] for b in r.values()) for r in requests)

    def run_all():
        for im, req in zip(images, requests):
            refine_proposals(model, im, req, batch_size=batch, sort=False)

    times = timed(run_all, args.repeat)
    per_image = min(times) / len(images)
    crops_per_s = n_boxes / min(times)

    # the network alone, on ready crops, in the same batches
    crops = warp_regions(images[0], torch.cat(list(requests[0].values())), model.crop_size,
                         model.context_pad, model.sampling_ratio).contiguous()
    flops = per_crop_flops(model, crops[:batch])

    def forward_only():
        with torch.no_grad():
            for s in range(0, crops.shape[0], batch):
                model(crops[s:s + batch], mode="predict")

    ftimes = timed(forward_only, args.repeat)
    forward_crops_per_s = crops.shape[0] / min(ftimes)
    return {"model": section["models"][0]["name"], "backbone": backbone, "model_cfg": section["model"],
            "crop_size": model.crop_size, "num_classes": NUM_CLASSES, "batch_size": batch,
            "boxes_per_image": n_boxes // len(images), "proposals_per_class": args.proposals,
            "n_images": len(images), "repeat": args.repeat,
            "seconds_per_image": per_image, "median_seconds_per_image": statistics.median(times) / len(images),
            "crops_per_s": crops_per_s, "forward_only_crops_per_s": forward_crops_per_s,
            "flops_per_crop": flops,
            "achieved_gflops": flops * crops_per_s / 1e9,
            "forward_only_gflops": flops * forward_crops_per_s / 1e9,
            "rescoring_over_forward": crops_per_s / forward_crops_per_s}


def bench_rcnn_paper(args) -> dict:
    """ResNet-101 R-CNN at 224 on ``args.paper_crops`` boxes of a 375x500 image."""
    torch.manual_seed(0)
    model = RoIRCNN(backbone=dict(depth=101), num_classes=1000, crop_size=224).eval()
    model.to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(4)
    image = torch.randn(3, 375, 500, generator=gen)
    boxes = random_proposals(gen, 375, 500, args.paper_crops, min_side=32)
    request = {0: boxes}
    crops = warp_regions(image, boxes, model.crop_size).contiguous()
    flops = per_crop_flops(model, crops[:1])
    times = timed(lambda: refine_proposals(model, image, request, batch_size=args.paper_crops, sort=False),
                  args.paper_repeat)

    def forward_only():
        with torch.no_grad():
            model(crops, mode="predict")

    ftimes = timed(forward_only, args.paper_repeat, warmup=0)
    crops_per_s, fwd = args.paper_crops / min(times), args.paper_crops / min(ftimes)
    return {"model": "ResNet-101 R-CNN (paper size)", "crop_size": 224, "num_classes": 1000,
            "n_crops": args.paper_crops, "repeat": args.paper_repeat, "flops_per_crop": flops,
            "seconds_per_crop": 1.0 / crops_per_s, "crops_per_s": crops_per_s, "forward_only_crops_per_s": fwd,
            "achieved_gflops": flops * crops_per_s / 1e9, "forward_only_gflops": flops * fwd / 1e9}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script works (seconds)")
    parser.add_argument("--images", type=int, default=None, help="RPN test images (default 20; quick 2)")
    parser.add_argument("--rcnn-images", type=int, default=None, help="R-CNN test images (default 5; quick 1)")
    parser.add_argument("--proposals", type=int, default=None, help="proposals per class (default 200; quick 40)")
    parser.add_argument("--repeat", type=int, default=None, help="timed passes (best kept; default 3; quick 1)")
    parser.add_argument("--paper-crops", type=int, default=None, help="ResNet-101 crops (default 16; quick 2)")
    parser.add_argument("--paper-repeat", type=int, default=None, help="ResNet-101 timed passes (default 2; quick 1)")
    parser.add_argument("--skip-paper", action="store_true", help="leave out the ResNet-101 comparison")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_loc.json"))
    args = parser.parse_args(argv)
    q = args.quick
    args.images = args.images or (2 if q else 20)
    args.rcnn_images = args.rcnn_images or (1 if q else 5)
    args.proposals = args.proposals or (40 if q else 200)
    args.repeat = args.repeat or (1 if q else 3)
    args.paper_crops = args.paper_crops or (2 if q else 16)
    args.paper_repeat = args.paper_repeat or (1 if q else 2)

    torch.set_num_threads(args.threads)
    machine = machine_info(args.threads)
    sections = mini_sections()
    def gemm() -> dict:
        return {e: measure_gemm_gflops(args.threads, quick=q, engines=(e,)) for e in ("mm", "onednn")}

    gemm_before = gemm()
    print(f"  GEMM (before): torch.mm {gemm_before['mm']:.1f}, oneDNN {gemm_before['onednn']:.1f} GFLOP/s", flush=True)
    images = mixed_images(max(args.images, args.rcnn_images), seed=5)
    rpn = bench_rpn(sections, images[:args.images], args)
    print(f"  RPN dense: {rpn['rows']['stage']['seconds_per_image'] * 1e3:.1f} ms/image", flush=True)
    rcnn = bench_rcnn_mini(sections, images[:args.rcnn_images], args)
    print(f"  R-CNN mini: {rcnn['seconds_per_image'] * 1e3:.1f} ms/image", flush=True)
    paper = None if args.skip_paper else bench_rcnn_paper(args)
    if paper:
        print(f"  R-CNN R101: {paper['seconds_per_crop'] * 1e3:.1f} ms/crop", flush=True)
    gemm_after = gemm()
    mm_peak = max(gemm_before["mm"], gemm_after["mm"])
    peak = max(mm_peak, gemm_before["onednn"], gemm_after["onednn"])
    machine["loadavg_at_end"] = os.getloadavg()
    for r in (rcnn, paper):
        if r:
            r["fraction_of_gemm_peak"] = r["achieved_gflops"] / peak
            r["forward_only_fraction_of_gemm_peak"] = r["forward_only_gflops"] / peak
            r["fraction_of_mm_gflops"] = r["achieved_gflops"] / mm_peak
    rcnn["target_fraction"] = TARGET_FRACTION
    rcnn["meets_target"] = rcnn["fraction_of_gemm_peak"] >= TARGET_FRACTION
    rpn_time = rpn["rows"]["stage"]["seconds_per_image"]
    rpn["achieved_gflops_first_image_estimate"] = rpn["flops_first_image"] / rpn_time / 1e9
    report = {"command": command_line(), "quick": q, "machine": machine, "config": str(MINI_CONFIG.relative_to(ROOT)),
              "flop_convention": "2 x MACs of convolutions and matmuls (torch.utils.flop_counter), as the GEMM's 2 n^3",
              "gemm_gflops": {"before": gemm_before, "after": gemm_after, "peak": peak, "mm": mm_peak},
              "rpn": rpn, "rcnn_mini": rcnn}
    if paper:
        report["rcnn_paper"] = paper

    lines = [f"command: {report['command']}",
             f"machine: nproc {machine['nproc']}, {machine['cpu']}, torch {machine['torch']}, threads {args.threads}, "
             f"load average start {machine['loadavg_at_start'][0]:.2f} / end {machine['loadavg_at_end'][0]:.2f}"]
    if q:
        lines.append("QUICK MODE: tiny sizes, only checks that the benchmark runs; numbers are not meaningful")
    lines += ["", f"fp32 GEMM peak: {peak:.1f} GFLOP/s (torch.mm before/after {gemm_before['mm']:.1f}/{gemm_after['mm']:.1f}, "
              f"oneDNN 1x1 conv before/after {gemm_before['onednn']:.1f}/{gemm_after['onednn']:.1f})", "",
              f"RPN dense ({rpn['model']}: R18 w0.5 to stage {rpn['backbone']['out_indices'][0]}, "
              f"{REQUESTED} classes, scales {rpn['dense_scales']}), {rpn['n_images']} mini-size images, best of {rpn['repeat']}",
              f"{'model':14s} {'ms/image':>9s} {'images/s':>9s}"]
    for name, r in rpn["rows"].items():
        tag = " (as the rpn stage loads it: specs.for_inference, batch norms folded, channels_last)" if name == "stage" else " (batch norms kept)"
        lines.append(f"{name:14s} {r['seconds_per_image'] * 1e3:9.1f} {r['images_per_s']:9.2f}{tag}")
    lines.append(f"{'forward only':14s} {rpn['forward_only_seconds_per_image'] * 1e3:9.1f} {1 / rpn['forward_only_seconds_per_image']:9.2f}"
                 f" (trunk + requested heads on ready resized images): dense testing at {rpn['dense_over_forward']:.0%} of it")
    lines += [f"  (FLOPs of the first image, {rpn['image_sizes'][0]}: {rpn['flops_first_image'] / 1e9:.2f} G)", "",
              f"R-CNN rescoring: {'model':34s} {'crop':>4s} {'GFLOP/crop':>10s} {'ms/image':>9s} {'crops/s':>9s} "
              f"{'GFLOP/s':>8s} {'of peak':>8s} {'of mm':>7s} | {'fwd-only crops/s':>16s} {'GFLOP/s':>8s} {'of peak':>8s}"]
    lines.append(f"{'':16s} {'mini ' + rcnn['model'] + ' R18 w0.5':34s} {rcnn['crop_size']:4d} "
                 f"{rcnn['flops_per_crop'] / 1e9:10.3f} {rcnn['seconds_per_image'] * 1e3:9.1f} {rcnn['crops_per_s']:9.1f} "
                 f"{rcnn['achieved_gflops']:8.1f} {rcnn['fraction_of_gemm_peak']:8.1%} {rcnn['fraction_of_mm_gflops']:7.0%} | "
                 f"{rcnn['forward_only_crops_per_s']:16.1f} {rcnn['forward_only_gflops']:8.1f} "
                 f"{rcnn['forward_only_fraction_of_gemm_peak']:8.1%}")
    if paper:
        lines.append(f"{'':16s} {'paper ResNet-101':34s} {paper['crop_size']:4d} {paper['flops_per_crop'] / 1e9:10.3f} "
                     f"{'-':>9s} {paper['crops_per_s']:9.2f} {paper['achieved_gflops']:8.1f} "
                     f"{paper['fraction_of_gemm_peak']:8.1%} {paper['fraction_of_mm_gflops']:7.0%} | {paper['forward_only_crops_per_s']:16.2f} "
                     f"{paper['forward_only_gflops']:8.1f} {paper['forward_only_fraction_of_gemm_peak']:8.1%}")
    lines += [f"  mini: {rcnn['boxes_per_image']} boxes/image ({REQUESTED} classes x {rcnn['proposals_per_class']}), "
              f"batch {rcnn['batch_size']}, {rcnn['n_images']} images, best of {rcnn['repeat']}"
              + (f"; paper: {paper['n_crops']} crops of a 375x500 image, best of {paper['repeat']}" if paper else ""),
              f"  target: mini R-CNN >= {TARGET_FRACTION:.0%} of GEMM peak: {'met' if rcnn['meets_target'] else 'NOT met'}",
              f"  target (>= {LOOP_TARGET:.0%} of the bare forward): R-CNN rescoring {rcnn['rescoring_over_forward']:.0%}, "
              f"RPN dense testing {rpn['dense_over_forward']:.0%}"]
    publish(report, lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
