#!/usr/bin/env python
"""C4 Faster R-CNN speed here: our detector vs the same network built from torchvision's generic
``FasterRCNN`` (the ``det`` stage calls ``detect`` on one ``MemberView`` per image: it should cost no
more), and mmengine-Runner training vs a bare PyTorch loop (the Runner should cost < 10%).

Inference: one process, same threads, inputs and weights (the twin holds deep copies of our
modules): backbone = our ResNet's stem..layer3 via torchvision's ``IntermediateLayerGetter``; our
anchors, RPN head, pre/post-NMS top-n and thresholds; ``box_roi_pool`` = ``torchvision.ops.roi_pool``
on the single conv4 map (not MultiScaleRoIAlign); ``box_head`` = conv5 (``layer4``) + global average
pooling; ``FastRCNNPredictor`` with our weights; transform min/max size = the image's sides (no
resize), mean 0, std 1, ``size_divisible`` 16; thresholds and detections per image of the baseline
``DetectionMode``. Eval, ``channels_last`` weights (as ``load_weights``). Per image, after
``--warmup`` untimed ones, in rotating order: ``raw_outputs`` (no NMS), ``detect([MemberView],
baseline)`` on the model as the det stage loads it (batch norms folded into the convolutions),
the same on the unfolded modules the twin copies, and torchvision's eval forward; median ms/image; torchvision / ours (target >= 1.0 for
``detect``). Extra calls give a per-stage breakdown (forward hooks) and an equivalence check.
(a) mini: the mini config's first detector (ResNet-18 w0.5, 8 classes, 50 proposals, RoIPool 8x8),
160x213 images; (b) paper: ResNet-101, 200 classes, 600x800, 15 anchors (32..512 x 0.5/1/2), 6000
pre-NMS / 300 proposals, RoIPool 14x14 (conv5 -> 7x7), residual branches zero-init (else random
weights with identity frozen BN reach ~1e4 and the RPN collapses). Random weights give near-uniform
scores: every (RoI, class) passes the 1e-3 threshold, so NMS sees R x C boxes, in both alike.

Training (mini): ``build_runner`` on a ``det_train_spec`` whose dataset is an in-memory
``SeededDataset`` (fixed random images at the mini train scales, 1-4 random boxes), ``det_collate``;
vs a bare loop on the same batches (``SeededSampler``, per-iteration seed as ``IterationSeedHook``,
channels_last, the spec's SGD, deterministic algorithms as the Runner sets them): forward "loss",
sum, backward, step. First ``--train-warmup`` iterations excluded; runs alternate; best of
``--repeat``; Runner / bare >= 0.9. lr = the spec's x ``LR_SCALE``: at the mini lr random weights on
random images diverge for some seeds, and NaN losses make iterations ~2x faster (degenerate
proposals); runs with a non-finite loss are flagged and never picked as best.

    .venv/bin/python benchmarks/bench_det.py [--threads 2]   # full, ~5 min on 2 quiet cores
    .venv/bin/python benchmarks/bench_det.py --quick         # tiny sizes, seconds
Writes benchmarks/results/bench_det.json and bench_det.txt.
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch import nn

import ilsvrc_pipe  # noqa: F401  (before torch: sets the OpenMP wait policy, ilsvrc_pipe/utils/openmp_env.py)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torchvision  # noqa: E402
from _report import publish  # noqa: E402
from bench_cls import IterClock, throughput  # noqa: E402
from bench_gemm import command_line, machine_info  # noqa: E402
from mmengine.config import Config  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from torchvision.models._utils import IntermediateLayerGetter  # noqa: E402
from torchvision.models.detection.anchor_utils import AnchorGenerator  # noqa: E402
from torchvision.models.detection.faster_rcnn import FasterRCNN, FastRCNNPredictor  # noqa: E402
from torchvision.ops import MultiScaleRoIAlign, box_iou, roi_pool  # noqa: E402

from ilsvrc_pipe.artifacts.paths import Artifacts  # noqa: E402
from ilsvrc_pipe.data.det_train import det_collate  # noqa: E402
from ilsvrc_pipe.data.seeded import SeededDataset, SeededSampler, sample_seed  # noqa: E402
from ilsvrc_pipe.engine.rows import det_row_modes  # noqa: E402
from ilsvrc_pipe.engine.specs import det_model_cfg, det_train_spec, for_inference  # noqa: E402
from ilsvrc_pipe.engine.training import build_runner  # noqa: E402
from ilsvrc_pipe.models.detection.inference import DetectionMode, MemberView, detect  # noqa: E402
from ilsvrc_pipe.registry import MODELS  # noqa: E402

MINI_CONFIG = ROOT / "configs" / "mini" / "pipeline.py"
MINI_CLASSES, PAPER_CLASSES = 8, 200   # the mini preset's DET classes (synthetic/plan.py), ILSVRC DET
TARGET_INFER, TARGET_TRAIN = 1.0, 0.9
LR_SCALE = 0.1            # speed does not depend on lr, as long as training does not diverge
OPTIONS = {  # name: (what, full, quick)
    "images": ("timed mini images", 40, 2), "paper_images": ("timed paper-size images", 7, 2),
    "warmup": ("untimed first images per size", 2, 1), "breakdown": ("extra calls for the stage breakdown", 3, 1),
    "epochs": ("epochs per training run", 2, 1), "epoch_images": ("training images per epoch", 160, 12),
    "train_warmup": ("untimed first training iterations", 3, 1), "repeat": ("training runs of each loop", 3, 1)}


def mini_sections() -> tuple[dict, dict]:
    """The mini ``det`` section and its first detector's model config."""
    cfg = Config.fromfile(str(MINI_CONFIG))
    det, cls_members = copy.deepcopy(cfg.det.to_dict()), {m["name"]: m for m in cfg.cls.to_dict()["models"]}
    return det, det_model_cfg(det["models"][0], det, cls_members, MINI_CLASSES)


def paper_model_cfg(quick: bool) -> dict:
    return {"type": "C4FasterRCNN", "backbone": dict(depth=101, width=0.25 if quick else 1.0, zero_init_residual=True),
            "num_classes": PAPER_CLASSES, "anchor_sizes": (32, 64, 128, 256, 512), "anchor_ratios": (0.5, 1.0, 2.0),
            "rpn_pre_nms_top_n": dict(training=12000, testing=600 if quick else 6000), "roi_pool": "roi_pool",
            "rpn_post_nms_top_n": dict(training=2000, testing=20 if quick else 300), "roi_output_size": 14}


class SingleMapRoIPool(MultiScaleRoIAlign):
    """``roi_pool`` on the single conv4 map (a MultiScaleRoIAlign only for FasterRCNN's type check)."""

    def __init__(self, output_size: int, spatial_scale: float):
        super().__init__(["0"], output_size, sampling_ratio=0)
        self.output_size, self.spatial_scale = output_size, spatial_scale

    def forward(self, features, proposals, image_shapes):
        return roi_pool(features["0"], proposals, self.output_size, self.spatial_scale)


def torchvision_twin(model, mode: DetectionMode, size: tuple[int, int]) -> FasterRCNN:
    """Our detector's network assembled from torchvision's FasterRCNN, with copies of our weights."""
    rpn, gen, pre, post = model.rpn, model.rpn.anchor_generator, model.rpn._pre_nms_top_n, model.rpn._post_nms_top_n
    predictor = FastRCNNPredictor(model.cls_score.in_features, model.num_classes + 1)
    predictor.load_state_dict({f"{k}.{p}": v for k in ("cls_score", "bbox_pred")
                               for p, v in getattr(model, k).state_dict().items()})
    backbone = copy.deepcopy(model.backbone)
    trunk = IntermediateLayerGetter(backbone, {"layer3": "0"})   # stem, layer1..layer3 in order
    trunk.out_channels = backbone.out_channels[2]
    twin = FasterRCNN(
        trunk, num_classes=None, min_size=min(size), max_size=max(size), image_mean=[0.0] * 3, image_std=[1.0] * 3,
        rpn_anchor_generator=AnchorGenerator(sizes=gen.sizes, aspect_ratios=gen.aspect_ratios),
        rpn_head=copy.deepcopy(rpn.head), rpn_nms_thresh=rpn.nms_thresh, rpn_score_thresh=rpn.score_thresh,
        rpn_pre_nms_top_n_train=pre["training"], rpn_pre_nms_top_n_test=pre["testing"],
        rpn_post_nms_top_n_train=post["training"], rpn_post_nms_top_n_test=post["testing"],
        box_roi_pool=SingleMapRoIPool(model.roi_pooler.output_size, model.roi_pooler.spatial_scale),
        box_head=nn.Sequential(backbone.layer4, nn.AdaptiveAvgPool2d(1), nn.Flatten()), box_predictor=predictor,
        box_score_thresh=mode.score_threshold, box_nms_thresh=mode.nms_iou,
        box_detections_per_img=mode.max_per_image, bbox_reg_weights=model.roi_heads.box_coder.weights,
        size_divisible=model.stride)
    return twin.eval().to(memory_format=torch.channels_last)


class StageClock:
    """Wall time in the forward of named modules (pre/post hooks), per call of the whole."""

    def __init__(self, modules: dict[str, nn.Module]):
        self.calls, self.current, self._t0 = [], defaultdict(float), {}
        self.handles = [h for n, m in modules.items() for h in (
            m.register_forward_pre_hook(lambda mod, inp, n=n: self._t0.__setitem__(n, time.perf_counter())),
            m.register_forward_hook(lambda mod, inp, out, n=n: self._stop(n)))]

    def _stop(self, name: str) -> None:
        self.current[name] += time.perf_counter() - self._t0.pop(name)

    def measure(self, fn) -> None:
        self.current, t0 = defaultdict(float), time.perf_counter()
        fn()
        total = time.perf_counter() - t0
        self.calls.append({**self.current, "rest": total - sum(self.current.values()), "total": total})

    def medians_ms(self) -> dict[str, float]:
        [h.remove() for h in self.handles]
        return {k: statistics.median(c.get(k, 0.0) for c in self.calls) * 1e3 for k in self.calls[0]}


def equivalence(ours, theirs: dict) -> dict:
    """How far apart the two detectors' outputs on one image are."""
    out = {"detections_ours": (n := ours.boxes.shape[0]), "detections_torchvision": (m := theirs["boxes"].shape[0])}
    if n and m:
        iou = box_iou(ours.boxes, theirs["boxes"]) * (ours.labels[:, None] == theirs["labels"][None, :])
        out["fraction_matched_iou_0.99"] = float((iou.max(dim=1).values > 0.99).float().mean())
        a, b = ours.scores.sort(descending=True).values, theirs["scores"].sort(descending=True).values
        out["max_abs_diff_sorted_scores"] = float((a[:min(n, m)] - b[:min(n, m)]).abs().max())
    return out


def bench_inference(name: str, model_cfg: dict, mode: DetectionMode, size: tuple[int, int], args, n: int) -> dict:
    torch.manual_seed(0)
    unfolded = for_inference(MODELS.build(model_cfg), fold_bn=False)
    twin = torchvision_twin(unfolded, mode, size)
    model = for_inference(copy.deepcopy(unfolded))   # what the det stage runs (load_weights): batch norms folded
    images = [torch.randn(3, *size, generator=torch.Generator().manual_seed(1 + i)) for i in range(args.warmup + n)]
    calls = {"raw_outputs": lambda im: model.raw_outputs([im]),
             "detect": lambda im: detect([MemberView(model, [im], 0)], mode),
             "detect_unfolded": lambda im: detect([MemberView(unfolded, [im], 0)], mode),
             "torchvision": lambda im: twin([im])}
    times = {k: [] for k in calls}
    with torch.no_grad():
        for i, im in enumerate(images):
            k0 = i % len(calls)
            for k in list(calls)[k0:] + list(calls)[:k0]:   # rotate who goes first
                t0 = time.perf_counter()
                calls[k](im)
                if i >= args.warmup:
                    times[k].append(time.perf_counter() - t0)
        check = equivalence(calls["detect"](images[-1]), calls["torchvision"](images[-1])[0])
        check["rois_on_check_image"] = int(model.raw_outputs([images[-1]])[0]["rois"].shape[0])
        ours_clock = StageClock({"trunk": model.backbone, "rpn": model.rpn, "roi_pool": model.roi_pooler,
                                 "conv5_head": model.backbone.layer4})
        tv_clock = StageClock({"transform": twin.transform, "trunk": twin.backbone, "rpn": twin.rpn,
                               "roi_pool": twin.roi_heads.box_roi_pool, "conv5_head": twin.roi_heads.box_head[0]})
        for im in images[-args.breakdown:]:
            ours_clock.measure(lambda: calls["detect"](im))
            tv_clock.measure(lambda: calls["torchvision"](im))
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"  {name}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items()), flush=True)
    return {"model_cfg": model_cfg, "image_size": list(size), "proposals": model.rpn._post_nms_top_n["testing"],
            "mode": vars(mode), "warmup_images": args.warmup, "timed_images": n,
            "ms_per_image_median": ms, "ms_per_image_min": {k: min(v) * 1e3 for k, v in times.items()},
            "all_seconds": times, "ratio_torchvision_over_detect": ms["torchvision"] / ms["detect"],
            "ratio_torchvision_over_detect_unfolded": ms["torchvision"] / ms["detect_unfolded"],
            "ratio_torchvision_over_raw_outputs": ms["torchvision"] / ms["raw_outputs"],
            "breakdown_ms": {"detect": ours_clock.medians_ms(), "torchvision": tv_clock.medians_ms()},
            "breakdown_calls": args.breakdown, "equivalence": check}


class SyntheticDetDataset(SeededDataset):
    """``length`` samples cycling over a pool of fixed random images (shorter side from ``scales``,
    width/height 0.75-1.33, longer side <= ``max_size``) with 1-4 random boxes (labels 1..C)."""

    def __init__(self, length: int, scales, max_size: int, num_classes: int, pool: int = 32, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.length, self.items = int(length), []
        for _ in range(min(pool, length)):
            short = int(scales[int(torch.randint(len(scales), (1,), generator=gen))])
            h, w = short, min(round(short * (0.75 + 0.58 * float(torch.rand(1, generator=gen)))), max_size)
            h, w = (h, w) if torch.rand(1, generator=gen) < 0.5 else (w, h)   # landscape or portrait
            n = int(torch.randint(1, 5, (1,), generator=gen))
            wh = torch.rand(n, 2, generator=gen) * 0.5 + 0.2
            xy = torch.rand(n, 2, generator=gen) * (1 - wh)
            boxes = torch.cat([xy, xy + wh], dim=1) * torch.tensor([w, h, w, h], dtype=torch.float32)
            self.items.append((torch.randn(3, h, w, generator=gen), boxes,
                               torch.randint(1, num_classes + 1, (n,), generator=gen)))

    def __len__(self) -> int:
        return self.length

    def get(self, i: int) -> dict:
        image, boxes, labels = self.items[i % len(self.items)]
        return {"inputs": image, "data_samples": {"boxes": boxes, "labels": labels}}


def train_spec(det: dict, model_cfg: dict, dataset, epochs: int) -> dict:
    spec = det_train_spec(model_cfg, det["train"], Artifacts("unused"),
                          [f"class{i}" for i in range(MINI_CLASSES)], seed=0)
    spec["train_dataloader"]["dataset"] = dataset
    spec["max_epochs"], spec["param_scheduler"] = epochs, None
    spec["optimizer"]["lr"] *= LR_SCALE
    return spec


class LossClock(IterClock):
    """``IterClock`` that also notes whether every training loss was finite."""
    finite = True

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        self.finite = self.finite and math.isfinite(outputs["loss"].item())


def run_result(stamps: list[float], warmup: int, batch: int, finite: bool) -> dict:
    return {**throughput(stamps, warmup, batch), "threads_after": torch.get_num_threads(), "losses_finite": finite,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}


def run_runner(det: dict, model_cfg: dict, dataset, args, seed: int) -> dict:
    spec = train_spec(det, model_cfg, dataset, args.epochs)
    spec["custom_hooks"] = [LossClock()]
    with tempfile.TemporaryDirectory(prefix="bench_det_runner_") as work_dir:
        runner = build_runner(spec, work_dir, resume=False, seed=seed, log_interval=int(det.get("log_interval", 25)))
        clock = next(h for h in runner.hooks if isinstance(h, LossClock))
        runner.train()
        del runner
    return run_result(clock.stamps, args.train_warmup, spec["train_dataloader"]["batch_size"], clock.finite)


def run_bare(det: dict, model_cfg: dict, dataset, args, seed: int) -> dict:
    """Same model, batches, per-iteration seeds and SGD, as a plain loop."""
    spec = train_spec(det, model_cfg, dataset, args.epochs)
    loader_cfg, opt = spec["train_dataloader"], spec["optimizer"]
    torch.use_deterministic_algorithms(True)   # as the Runner's randomness=dict(deterministic=True)
    torch.manual_seed(seed)
    model = MODELS.build(spec["model"]).to(memory_format=torch.channels_last if spec["channels_last"]
                                           else torch.contiguous_format)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=opt["lr"],
                                momentum=opt["momentum"], weight_decay=opt["weight_decay"])
    sampler = SeededSampler(dataset, shuffle=True, seed=loader_cfg["sampler"]["seed"])
    loader = DataLoader(dataset, batch_size=loader_cfg["batch_size"], sampler=sampler, collate_fn=det_collate,
                        num_workers=loader_cfg["num_workers"])
    model.train()
    stamps, finite = [time.perf_counter()], True
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for it, data in enumerate(loader):
            torch.manual_seed(sample_seed(seed, epoch, it))   # what IterationSeedHook does
            losses = model(data["inputs"], data["data_samples"], mode="loss")
            (loss := sum(losses.values())).backward()
            optimizer.step()
            optimizer.zero_grad()
            finite = finite and math.isfinite(loss.item())
            stamps.append(time.perf_counter())
    return run_result(stamps, args.train_warmup, loader_cfg["batch_size"], finite)


def best_run(runs: list[dict]) -> dict:
    return max([r for r in runs if r["losses_finite"]] or runs, key=lambda r: r["images_per_s"])


def bench_training(det: dict, model_cfg: dict, args) -> dict:
    train = det["train"]
    dataset = SyntheticDetDataset(args.epoch_images, args.train_scales or train["scales"],
                                  int(train.get("max_size") or 10_000), MINI_CLASSES)
    before = torch.are_deterministic_algorithms_enabled()
    runs, batch = {"runner": [], "bare": []}, int(train["batch_size"])
    for r in range(args.repeat):
        for kind in (("runner", "bare") if r % 2 == 0 else ("bare", "runner")):
            runs[kind].append(res := (run_runner if kind == "runner" else run_bare)(det, model_cfg, dataset, args, r))
            print(f"  train {kind:6s} run {r + 1}: {res['images_per_s']:6.2f} img/s (median iteration "
                  f"{res['median_images_per_s']:.2f} img/s), losses finite: {res['losses_finite']}", flush=True)
    torch.use_deterministic_algorithms(before)
    best = {k: best_run(v) for k, v in runs.items()}
    return {"model": det["models"][0]["name"], "model_cfg": model_cfg, "batch_size": batch,
            "image_short_sides": list(args.train_scales or train["scales"]), "max_size": train.get("max_size"),
            "epoch_images": args.epoch_images, "iterations_per_epoch": -(-args.epoch_images // batch),
            "epochs": args.epochs, "warmup_iterations": args.train_warmup, "repeat": args.repeat, "runs": runs,
            "runner_images_per_s": best["runner"]["images_per_s"], "bare_images_per_s": best["bare"]["images_per_s"],
            "ratio": best["runner"]["images_per_s"] / best["bare"]["images_per_s"], "target_ratio": TARGET_TRAIN,
            "median_iter_ratio": best["runner"]["median_images_per_s"] / best["bare"]["median_images_per_s"]}


def report_lines(report: dict, args) -> list[str]:
    rows, machine = report["inference"], report["machine"]
    lines = [f"command: {report['command']}",
             f"machine: nproc {machine['nproc']}, {machine['cpu']}, torch {machine['torch']}, torchvision "
             f"{machine['torchvision']}, threads {args.threads}, load average start {machine['loadavg_at_start'][0]:.2f}"
             f" / end {machine['loadavg_at_end'][0]:.2f}"]
    lines += ["QUICK MODE: tiny sizes, only checks that the benchmark runs; numbers are not meaningful"] if args.quick else []
    lines += ["", f"Inference, ms/image (median of the timed images; eval, channels_last weights, batch 1; torchvision = "
              f"FasterRCNN twin, roi_pool on conv4); target tv/detect >= {TARGET_INFER}",
             "detect = what the det stage runs (batch norms folded, load_weights); detect_unf = the same "
             "modules unfolded, as the torchvision twin holds them",
             f"{'size':6s} {'model':22s} {'image':>8s} {'props':>5s} {'raw_outputs':>11s} {'detect':>8s} "
             f"{'detect_unf':>10s} {'torchvision':>11s} {'tv/detect':>9s} {'tv/unf':>7s} {'tv/raw':>7s} {'timed':>5s} target"]
    for name, r in rows.items():
        b, ms = r["model_cfg"]["backbone"], r["ms_per_image_median"]
        lines.append(f"{name:6s} {'R%d w%g, %d cls' % (b['depth'], b.get('width', 1.0), r['model_cfg']['num_classes']):22s} "
                     f"{'%dx%d' % tuple(r['image_size']):>8s} {r['proposals']:5d} {ms['raw_outputs']:11.1f} "
                     f"{ms['detect']:8.1f} {ms['detect_unfolded']:10.1f} {ms['torchvision']:11.1f} "
                     f"{r['ratio_torchvision_over_detect']:9.3f} {r['ratio_torchvision_over_detect_unfolded']:7.3f} "
                     f"{r['ratio_torchvision_over_raw_outputs']:7.3f} {r['timed_images']:5d} "
                     f"{'met' if r['ratio_torchvision_over_detect'] >= TARGET_INFER else 'NOT met'}")
    lines += ["", "Stage breakdown, ms (median of extra calls; forward hooks; 'rest' = NMS, decode, glue)"]
    for name, r in rows.items():
        for who, st in r["breakdown_ms"].items():
            lines.append(f"  {name:6s} {who:12s} " + "  ".join(f"{k} {v:.1f}" for k, v in st.items()))
        e = r["equivalence"]
        lines.append(f"  {name:6s} equivalence: {e['rois_on_check_image']} RoIs; {e['detections_ours']} vs "
                     f"{e['detections_torchvision']} detections"
                     + (f", {e['fraction_matched_iou_0.99']:.1%} of ours matched (same class, IoU > 0.99), "
                        f"max |score diff| {e['max_abs_diff_sorted_scores']:.2e}" if "max_abs_diff_sorted_scores" in e else ""))
    if "train" not in report:
        return lines
    t = report["train"]
    lines += ["", f"Training {t['model']} (mini), batch {t['batch_size']}, synthetic images of shorter side "
             f"{t['image_short_sides']}; {t['epochs']} epochs x {t['iterations_per_epoch']} it, first "
             f"{t['warmup_iterations']} it excluded; best of {t['repeat']} alternating runs",
             f"{'loop':8s} {'img/s':>8s} {'median-it img/s':>16s} {'timed it':>9s} {'seconds':>8s}"]
    for kind in ("runner", "bare"):
        b = best_run(t["runs"][kind])
        lines.append(f"{kind:8s} {b['images_per_s']:8.2f} {b['median_images_per_s']:16.2f} "
                     f"{b['timed_iterations']:9d} {b['seconds']:8.2f}")
    bad = [f"{k} run {i + 1}" for k, v in t["runs"].items() for i, r in enumerate(v) if not r["losses_finite"]]
    lines += [f"WARNING: non-finite losses in {', '.join(bad)} (not picked as best)"] if bad else []
    lines.append(f"runner / bare: {t['ratio']:.3f} (per-iteration median: {t['median_iter_ratio']:.3f}), "
                 f"target >= {TARGET_TRAIN}: {'met' if t['ratio'] >= TARGET_TRAIN else 'NOT met'}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script works (seconds)")
    for key, (what, full, quick) in OPTIONS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=int, default=None,
                            help=f"{what} (default {full}; quick {quick})")
    parser.add_argument("--skip", nargs="*", choices=("paper", "train"), default=[], help="parts to leave out")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_det.json"))
    args = parser.parse_args(argv)
    q = args.quick
    for key, (_, full, quick) in OPTIONS.items():
        setattr(args, key, getattr(args, key) if getattr(args, key) is not None else (quick if q else full))
    args.train_scales = (64, 80) if q else None

    torch.set_num_threads(args.threads)
    machine = {**machine_info(args.threads), "torchvision": torchvision.__version__}
    det, model_cfg = mini_sections()
    report = {"command": command_line(), "quick": q, "machine": machine, "config": str(MINI_CONFIG.relative_to(ROOT)),
              "twin_roi_pool": "torchvision.ops.roi_pool on the single conv4 map (not MultiScaleRoIAlign)", "inference": {}}
    mini_size = (64, 85) if q else (int(det["test"]["scale"]), round(det["test"]["scale"] * 4 / 3))
    report["inference"]["mini"] = bench_inference("mini", model_cfg, det_row_modes(det)["baseline"][1], mini_size, args,
                                                  args.images)
    if "paper" not in args.skip:
        report["inference"]["paper"] = bench_inference("paper", paper_model_cfg(q), DetectionMode(),
                                                       (128, 171) if q else (600, 800), args, args.paper_images)
    if "train" not in args.skip:
        report["train"] = bench_training(det, model_cfg, args)
    machine.update(loadavg_at_end=os.getloadavg(), threads_at_end=torch.get_num_threads())

    publish(report, report_lines(report, args), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
