#!/usr/bin/env python
"""Classifier speed on this CPU: mmengine-Runner training vs a bare PyTorch loop, and test modes.

Training: the first mini ensemble member (ResNet-18 width 0.5, ``configs/mini/pipeline.py``) at the
mini crop (80) and batch (32), 10 classes. The Runner comes from ``build_runner`` with a spec made
by ``member_train_spec`` whose dataset is swapped for an in-memory synthetic one (fixed-size random
80x80 images, passed as an object), so both loops load data identically: same dataset object
type, ``DefaultSampler(shuffle=True)``, mmengine ``default_collate``, ``num_workers=0``. The bare
loop uses the same model config, SGD settings (lr, momentum 0.9, weight decay) and channels_last
setting (weights only, as ``training.build_runner`` does). Each run lasts ``--epochs`` epochs of
``--epoch-images`` images (mini: 800 train images = 25 iterations); a timestamp is taken after
every iteration (a lowest-priority hook for the Runner), the first ``--warmup`` iterations are
excluded. ``images/s`` counts everything from the end of the last warm-up iteration to the end of
the last one, so the Runner's epoch-end work (checkpoint save) is included; the per-iteration
median is reported too. Runner and bare runs alternate, ``--repeat`` times each; the best run
of each is compared (``ratio = runner / bare``, target >= 0.9).

Inference: images/s of ``predict_center_crop``, ``predict_ten_crop`` (mini test scale 92, crop 80)
and ``predict_dense`` (mini dense scales 80, 92, 112, 136, with flips) on a list of
``--infer-images`` normalised images of 120x150 (one size), and of mixed sizes drawn like the mini
dataset's (shorter side 96-160, width/height 0.75-1.33), model in eval + channels_last like
``load_member``. Random weights: speed does not depend on training.

    .venv/bin/python benchmarks/bench_cls.py [--threads 2] [--repeat 3]   # full, ~2-3 min on 2 quiet cores
    .venv/bin/python benchmarks/bench_cls.py --quick                      # tiny sizes, seconds
Writes benchmarks/results/bench_cls.json and bench_cls.txt.
"""
from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

import ilsvrc_pipe  # noqa: F401  (before torch: sets the OpenMP wait policy, ilsvrc_pipe/utils/openmp_env.py)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import publish  # noqa: E402
from bench_gemm import command_line, machine_info  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import DefaultSampler, default_collate  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402

from ilsvrc_pipe.artifacts.paths import Artifacts  # noqa: E402
from ilsvrc_pipe.data.seeded import SeededDataset  # noqa: E402
from ilsvrc_pipe.engine.specs import for_inference, member_model_cfg, member_train_spec  # noqa: E402
from ilsvrc_pipe.engine.training import build_runner  # noqa: E402
from ilsvrc_pipe.models.classification.view_modes import (  # noqa: E402
    _group_by_size,
    predict_center_crop,
    predict_dense,
    predict_ten_crop,
)
from ilsvrc_pipe.ops.geometry import resize_shorter  # noqa: E402
from ilsvrc_pipe.registry import MODELS  # noqa: E402

MINI_CONFIG = ROOT / "configs" / "mini" / "pipeline.py"
NUM_CLASSES = 10          # mini preset: 10 CLS-LOC classes, 80 train images each
TARGET_RATIO = 0.9


class SyntheticClsDataset(SeededDataset):
    """``length`` samples ``{"inputs": (3, S, S) float, "data_samples": int}`` cycling over a pool
    of fixed random images (ClsLocDataset's item format and keyed access, no decoding or augmentation)."""

    def __init__(self, length: int, size: int, num_classes: int, pool: int = 256, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.length = int(length)
        self.images = torch.randn(min(pool, length), 3, size, size, generator=gen)
        self.labels = torch.randint(0, num_classes, (self.length,), generator=gen)

    def __len__(self) -> int:
        return self.length

    def get(self, i: int) -> dict:
        return {"inputs": self.images[i % len(self.images)], "data_samples": int(self.labels[i])}


class IterClock(Hook):
    """Timestamp after each training iteration, after every other hook of that iteration."""

    priority = "LOWEST"

    def __init__(self):
        self.stamps: list[float] = []

    def before_train(self, runner) -> None:
        self.stamps = [time.perf_counter()]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.stamps.append(time.perf_counter())


def throughput(stamps: list[float], warmup: int, batch: int) -> dict:
    """images/s over the iterations after ``warmup``; ``stamps[0]`` is the start, ``stamps[i]``
    the end of iteration i."""
    n = len(stamps) - 1
    if n <= warmup:
        raise ValueError(f"{n} iterations, warm-up {warmup}: nothing left to time")
    timed = n - warmup
    seconds = stamps[-1] - stamps[warmup]
    per_iter = [b - a for a, b in zip(stamps[warmup:-1], stamps[warmup + 1:])]
    return {"iterations": n, "timed_iterations": timed, "seconds": seconds,
            "images_per_s": timed * batch / seconds,
            "median_iter_seconds": statistics.median(per_iter),
            "median_images_per_s": batch / statistics.median(per_iter)}


def mini_cls_section() -> dict:
    cfg = Config.fromfile(str(MINI_CONFIG))
    return copy.deepcopy(cfg.cls.to_dict() if hasattr(cfg.cls, "to_dict") else dict(cfg.cls))


def train_spec(section: dict, dataset: Dataset, epochs: int) -> tuple[dict, dict]:
    """``member_train_spec`` of the first member, dataset swapped for the synthetic object."""
    member = section["models"][0]
    spec = member_train_spec(member, section["train"], Artifacts("unused"), NUM_CLASSES)
    spec["train_dataloader"]["dataset"] = dataset
    spec["max_epochs"] = epochs
    spec["param_scheduler"] = None  # milestones of the 22-epoch schedule are past a short run anyway
    return member, spec


def run_runner(section: dict, dataset: Dataset, epochs: int, warmup: int, seed: int) -> dict:
    _, spec = train_spec(section, dataset, epochs)
    clock = IterClock()
    spec["custom_hooks"] = [clock]
    batch = spec["train_dataloader"]["batch_size"]
    with tempfile.TemporaryDirectory(prefix="bench_cls_runner_") as work_dir:
        runner = build_runner(spec, work_dir, resume=False, seed=seed,
                              log_interval=int(section.get("log_interval", 10)))
        clock = next(h for h in runner.hooks if isinstance(h, IterClock))  # build_runner deep-copies the spec
        runner.train()
        stamps = list(clock.stamps)
        del runner
    return {**throughput(stamps, warmup, batch), "threads_after": torch.get_num_threads()}


def run_bare(section: dict, dataset: Dataset, epochs: int, warmup: int, seed: int) -> dict:
    """The same training as a plain loop: DataLoader, forward, cross entropy, backward, SGD step."""
    member, spec = train_spec(section, dataset, epochs)
    torch.manual_seed(seed)
    model = MODELS.build(member_model_cfg(member, NUM_CLASSES))
    if spec["channels_last"]:
        model.to(memory_format=torch.channels_last)
    opt = spec["optimizer"]
    optimizer = torch.optim.SGD(model.parameters(), lr=opt["lr"], momentum=opt["momentum"],
                                weight_decay=opt["weight_decay"])
    loader_cfg = spec["train_dataloader"]
    batch = loader_cfg["batch_size"]
    loader = DataLoader(dataset, batch_size=batch, sampler=DefaultSampler(dataset, shuffle=True, seed=seed),
                        collate_fn=default_collate, num_workers=loader_cfg["num_workers"])
    model.train()
    stamps = [time.perf_counter()]
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        for data in loader:
            loss = F.cross_entropy(model.logits(data["inputs"]), data["data_samples"])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            stamps.append(time.perf_counter())
    return {**throughput(stamps, warmup, batch), "threads_after": torch.get_num_threads()}


def bench_training(section: dict, args) -> dict:
    crop, batch = int(section["train"]["crop"]), int(section["train"]["batch_size"])
    dataset = SyntheticClsDataset(args.epoch_images, crop, NUM_CLASSES)
    runs = {"runner": [], "bare": []}
    for r in range(args.repeat):
        order = ("runner", "bare") if r % 2 == 0 else ("bare", "runner")  # alternate who goes first
        for kind in order:
            fn = run_runner if kind == "runner" else run_bare
            res = fn(section, dataset, args.epochs, args.warmup, seed=r)
            runs[kind].append(res)
            print(f"  train {kind:6s} run {r + 1}: {res['images_per_s']:7.1f} img/s "
                  f"(median iteration {res['median_images_per_s']:.1f} img/s)", flush=True)
    best = {k: max(v, key=lambda x: x["images_per_s"]) for k, v in runs.items()}
    return {"model": section["models"][0]["name"], "backbone": section["models"][0]["backbone"],
            "crop": crop, "batch_size": batch, "num_classes": NUM_CLASSES,
            "epoch_images": args.epoch_images, "iterations_per_epoch": math.ceil(args.epoch_images / batch),
            "epochs": args.epochs, "warmup_iterations": args.warmup, "repeat": args.repeat,
            "channels_last": True, "runs": runs,
            "runner_images_per_s": best["runner"]["images_per_s"],
            "bare_images_per_s": best["bare"]["images_per_s"],
            "ratio": best["runner"]["images_per_s"] / best["bare"]["images_per_s"],
            "median_iter_ratio": best["runner"]["median_images_per_s"] / best["bare"]["median_images_per_s"],
            "target_ratio": TARGET_RATIO}


def mixed_images(n: int, short_range=(96, 160), aspect_range=(0.75, 1.33), seed: int = 0) -> list[torch.Tensor]:
    """Normalised random images sized like the mini dataset's."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        short = int(torch.randint(short_range[0], short_range[1] + 1, (1,), generator=gen))
        lo, hi = math.log(aspect_range[0]), math.log(aspect_range[1])
        aspect = math.exp(lo + (hi - lo) * float(torch.rand(1, generator=gen)))
        w, h = (round(short * aspect), short) if aspect >= 1 else (short, round(short / aspect))
        out.append(torch.randn(3, h, w, generator=gen))
    return out


def time_calls(fn, repeat: int) -> dict:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"best_seconds": min(times), "median_seconds": statistics.median(times), "all_seconds": times}


def bench_inference(section: dict, args) -> dict:
    test = section["test"]
    member = section["models"][0]
    torch.manual_seed(0)
    model = for_inference(MODELS.build(member_model_cfg(member, NUM_CLASSES)))   # as the cls stage loads it
    gen = torch.Generator().manual_seed(1)
    h, w = args.infer_size
    sets = {f"{h}x{w}": [torch.randn(3, h, w, generator=gen) for _ in range(args.infer_images)],
            "mini mixed sizes": mixed_images(args.infer_images)}
    modes = {
        "center": lambda ims: predict_center_crop(model, ims, scale=test["scale"], crop=test["crop"]),
        "ten_crop": lambda ims: predict_ten_crop(model, ims, scale=test["scale"], crop=test["crop"]),
        "dense": lambda ims: predict_dense(model, ims, scales=test["dense_scales"], flip=True),
    }
    rows = []
    for set_name, images in sets.items():
        for mode, fn in modes.items():
            t = time_calls(lambda: fn(images), args.infer_repeat)
            rows.append({"images": set_name, "mode": mode, "n_images": len(images), **t,
                         "images_per_s": len(images) / t["best_seconds"]})
            print(f"  infer {set_name:16s} {mode:8s}: {rows[-1]['images_per_s']:8.1f} img/s", flush=True)
        # dense testing's network alone: the same batches (images of equal resized size together, and
        # their flips), resized beforehand
        batches = [b for scale in test["dense_scales"] for _, b in _group_by_size([resize_shorter(im, scale) for im in images])]

        def forward_only():
            with torch.no_grad():
                for b in batches:
                    model.logits(b)
                    model.logits(b.flip(-1))
        t = time_calls(forward_only, args.infer_repeat)
        dense = next(r for r in rows if r["images"] == set_name and r["mode"] == "dense")
        rows.append({"images": set_name, "mode": "dense_forward_only", "n_images": len(images), **t,
                     "images_per_s": len(images) / t["best_seconds"]})
        dense["over_forward_only"] = t["best_seconds"] / dense["best_seconds"]
    return {"model": member["name"], "scale": test["scale"], "crop": test["crop"],
            "dense_scales": list(test["dense_scales"]), "flip": True, "channels_last": True,
            "repeat": args.infer_repeat, "rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script works (seconds)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per training run (default 6; quick 2)")
    parser.add_argument("--epoch-images", type=int, default=None,
                        help="images per epoch (default 800 = the mini train set; quick 128)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed first iterations (default 5; quick 1)")
    parser.add_argument("--repeat", type=int, default=None, help="training runs of each loop (default 3; quick 1)")
    parser.add_argument("--infer-images", type=int, default=None, help="images per inference call (default 64; quick 8)")
    parser.add_argument("--infer-size", type=int, nargs=2, default=(120, 150), metavar=("H", "W"))
    parser.add_argument("--infer-repeat", type=int, default=None, help="timed inference calls (default 3; quick 1)")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-infer", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_cls.json"))
    args = parser.parse_args(argv)
    q = args.quick
    args.epochs = args.epochs or (2 if q else 6)
    args.epoch_images = args.epoch_images or (128 if q else 800)
    args.warmup = args.warmup if args.warmup is not None else (1 if q else 5)
    args.repeat = args.repeat or (1 if q else 3)
    args.infer_images = args.infer_images or (8 if q else 64)
    args.infer_repeat = args.infer_repeat or (1 if q else 3)

    torch.set_num_threads(args.threads)
    machine = machine_info(args.threads)
    section = mini_cls_section()
    report = {"command": command_line(), "quick": q, "machine": machine, "config": str(MINI_CONFIG.relative_to(ROOT))}
    if not args.skip_train:
        report["train"] = bench_training(section, args)
    if not args.skip_infer:
        report["inference"] = bench_inference(section, args)
    machine["loadavg_at_end"] = __import__("os").getloadavg()

    lines = [f"command: {report['command']}",
             f"machine: nproc {machine['nproc']}, {machine['cpu']}, torch {machine['torch']}, threads {args.threads}, "
             f"load average start {machine['loadavg_at_start'][0]:.2f} / end {machine['loadavg_at_end'][0]:.2f}"]
    if q:
        lines.append("QUICK MODE: tiny sizes, only checks that the benchmark runs; numbers are not meaningful")
    if "train" in report:
        t = report["train"]
        lines += ["",
                  f"Training {t['model']} {t['backbone']}, crop {t['crop']}, batch {t['batch_size']}, "
                  f"{t['num_classes']} classes, channels_last; {t['epochs']} epochs x {t['iterations_per_epoch']} it, "
                  f"first {t['warmup_iterations']} it excluded; best of {t['repeat']} alternating runs",
                  f"{'loop':8s} {'img/s':>8s} {'median-it img/s':>16s} {'timed it':>9s} {'seconds':>8s}"]
        for kind in ("runner", "bare"):
            b = max(t["runs"][kind], key=lambda x: x["images_per_s"])
            lines.append(f"{kind:8s} {b['images_per_s']:8.1f} {b['median_images_per_s']:16.1f} "
                         f"{b['timed_iterations']:9d} {b['seconds']:8.2f}")
        seen = sorted({r["threads_after"] for runs in t["runs"].values() for r in runs})
        if seen != [args.threads]:
            lines.append(f"WARNING: torch.get_num_threads() after the runs: {seen}, asked for {args.threads}")
        lines.append(f"runner / bare: {t['ratio']:.3f} (per-iteration median: {t['median_iter_ratio']:.3f}), "
                     f"target >= {TARGET_RATIO}: {'met' if t['ratio'] >= TARGET_RATIO else 'NOT met'}")
    if "inference" in report:
        inf = report["inference"]
        lines += ["",
                  f"Inference {inf['model']}, batch norms folded, eval + channels_last: center/ten_crop at scale {inf['scale']} crop {inf['crop']}, "
                  f"dense at scales {inf['dense_scales']} + flips; best of {inf['repeat']} calls",
                  f"{'images':18s} {'mode':9s} {'n':>4s} {'img/s':>9s} {'best s':>8s}"]
        for r in inf["rows"]:
            tail = f"   {r['over_forward_only']:.0%} of its bare forward" if "over_forward_only" in r else ""
            lines.append(f"{r['images']:18s} {r['mode']:9s} {r['n_images']:4d} {r['images_per_s']:9.1f} {r['best_seconds']:8.3f}{tail}")
    publish(report, lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
