#!/usr/bin/env python
"""Check the GPU path on a GPU machine: one PASS/FAIL line per check, in at most five minutes.

The project is built and tested on CPUs; this is what to run first on a machine with a GPU. Checks:

* ``cuda``: torch sees the device (its name, memory, CUDA, cuDNN and NCCL);
* ``settings``: what a training there gets (non-deterministic, cudnn.benchmark, nccl);
* ``determinism``: ``--deterministic`` trains a C4 detector step (cuBLAS, roi_pool backward) without
  an error, in a fresh process (cuBLAS reads its workspace setting once);
* ``precision``: bf16 and fp16 inference of a classifier and a detector give finite outputs;
* ``smoke``: the smoke preset end to end, one process (``configs/mini/smoke.py``);
* ``paper_size``: the paper config at the paper's sizes (``configs/ilsvrc2015/paper_size_smoke.py``)
  under torchrun, one process per GPU (at most 2), every stage and submission file checked.

The last line counts what passed; the exit status is 0 only when every check passed.

Examples::

    python tools/gpu_check.py
    python tools/gpu_check.py --only cuda settings precision
    python tools/gpu_check.py --device cpu --only settings precision determinism
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: E402
import torch

from ilsvrc_pipe.config.cli import help_layout

REPO = _bootstrap.REPO_ROOT
CHECKS = ("cuda", "settings", "determinism", "precision", "smoke", "paper_size")


class CheckFailed(Exception):
    """A check's reason for failing, printed on its FAIL line."""


def check_cuda(args) -> str:
    if not torch.cuda.is_available():
        raise CheckFailed("torch sees no CUDA device")
    p = torch.cuda.get_device_properties(0)
    return (f"{torch.cuda.device_count()} x {p.name}, {p.total_memory / 2**30:.0f} GiB, capability {p.major}.{p.minor}, "
            f"torch {torch.__version__} (CUDA {torch.version.cuda}), cuDNN {torch.backends.cudnn.version()}, "
            f"NCCL {'available' if torch.distributed.is_nccl_available() else 'MISSING'}")


def check_settings(args) -> str:
    from ilsvrc_pipe.engine.runtime_settings import runtime_settings

    on_cuda = args.device == "cuda"
    got = runtime_settings(on_cuda)
    want = dict(deterministic=not on_cuda, cudnn_benchmark=on_cuda, dist_backend="nccl" if on_cuda else "gloo")
    wrong = {k: got[k] for k, v in want.items() if got[k] != v}
    if wrong:
        raise CheckFailed(f"expected {want}, got {wrong}")
    return ", ".join(f"{k}={got[k]}" for k in want)


DETERMINISM_STEP = """
import sys, torch
sys.path.insert(0, {repo!r})
from ilsvrc_pipe.engine.runtime_settings import apply_runtime_settings, request_determinism, runtime_settings
request_determinism(True)
settings = runtime_settings({on_cuda}, True)
apply_runtime_settings(settings)
from ilsvrc_pipe.models.detection.c4 import C4FasterRCNN
torch.manual_seed(0)
model = C4FasterRCNN(backbone=dict(depth=18, width=0.25), num_classes=3, anchor_sizes=(32, 64),
                     roi_output_size=14, roi_batch_size=32).to({device!r}).train()
images = [torch.randn(3, 224, 288, device={device!r})]
samples = [dict(boxes=torch.tensor([[20., 30., 150., 170.]], device={device!r}), labels=torch.tensor([1], device={device!r}))]
loss = sum(model(images, samples, mode="loss").values())
loss.backward()
print("loss", float(loss), "settings", settings)
"""


def check_determinism(args) -> str:
    code = DETERMINISM_STEP.format(repo=str(REPO), on_cuda=args.device == "cuda", device=args.device)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    if res.returncode:
        raise CheckFailed((res.stderr.strip().splitlines() or ["no output"])[-1])
    return res.stdout.strip().splitlines()[-1][:160]


def check_precision(args) -> str:
    from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
    from ilsvrc_pipe.models.detection.c4 import C4FasterRCNN
    from ilsvrc_pipe.models.detection.inference import DetectionMode, MemberView, detect
    from ilsvrc_pipe.utils.precision import autocast_call

    torch.manual_seed(0)
    device = torch.device(args.device)
    cls = ResNetClassifier(backbone=dict(depth=18), num_classes=10).to(device).eval()
    det = C4FasterRCNN(backbone=dict(depth=18, width=0.25), num_classes=3, anchor_sizes=(32, 64)).to(device).eval()
    image = torch.randn(3, 375, 500, device=device)
    out = []
    for name in ("bf16", "fp16"):
        with torch.no_grad():
            logits = autocast_call(device, name, cls, image[None, :, :224, :224])
        dets = autocast_call(device, name, detect, [MemberView(det, [image], 0)], DetectionMode(refine=True))
        if not (torch.isfinite(logits).all() and torch.isfinite(dets.scores).all() and torch.isfinite(dets.boxes).all()):
            raise CheckFailed(f"{name}: non-finite outputs")
        out.append(f"{name}: {len(dets.scores)} detections, logits {logits.dtype}")
    return "; ".join(out)


def _run_and_check(args, name: str, command: list[str], config: str, preset: str, extra: tuple = ()) -> str:
    """``command tools/run_pipeline.py --stage all`` on a generated ``preset`` root, then every stage's
    manifest and every submission file checked (``report/run_check.py``)."""
    from ilsvrc_pipe.report.run_check import check_finished_run
    from ilsvrc_pipe.synthetic import generate_mini_ilsvrc

    base = Path(args.work_dir) / name
    root = base / "data"
    if not root.exists():
        generate_mini_ilsvrc(root, preset=preset, seed=0)
    work, subs = base / "work", base / "subs"
    left = max(30.0, args.deadline - time.monotonic())
    cmd = [*command, "tools/run_pipeline.py", "--stage", "all", "--config", config, "--data-root", str(root),
           "--work-dir", str(work), "--submission-dir", str(subs), "--device", args.device, *extra]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=left, cwd=REPO)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"not finished within the {left:.0f} s left (work dir {work})") from None
    if res.returncode:
        tail = [line for line in res.stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
        raise CheckFailed(f"exit {res.returncode}: {tail[0][:300]} (log in {work / 'logs'})")
    check = check_finished_run(work, subs)
    if not check.ok:
        raise CheckFailed("; ".join(check.problems)[:400])
    return ", ".join(f"{k} {v:.4f}" for k, v in check.scores.items())


def check_smoke(args) -> str:
    return _run_and_check(args, "smoke", [sys.executable], "configs/mini/smoke.py", "smoke")


def check_paper_size(args) -> str:
    n = min(2, torch.cuda.device_count()) if args.device == "cuda" else 2
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n), "--master_port", "29561"]
    return f"{n} processes: " + _run_and_check(args, "paper_size", torchrun, "configs/ilsvrc2015/paper_size_smoke.py",
                                               "paper_size", ("--launcher", "pytorch"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(**help_layout(__doc__))
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="where the checks run (default: cuda)")
    p.add_argument("--only", nargs="+", choices=CHECKS, help="run these checks only (default: all, in order)")
    p.add_argument("--budget", type=float, default=300.0, help="seconds for all checks together (default: 300)")
    p.add_argument("--work-dir", default=None, help="where the runs write (default: a new temporary folder)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    args.deadline = start + args.budget
    args.work_dir = args.work_dir or tempfile.mkdtemp(prefix="gpu_check_")
    if args.device == "cuda":   # the runs' CPU-side work (decoding, resizing); torchrun would set 1 per process
        os.environ.setdefault("OMP_NUM_THREADS", "4")
    passed, names = 0, args.only or CHECKS
    for name in names:
        t0 = time.monotonic()
        try:
            detail = globals()[f"check_{name}"](args)
            passed += 1
            print(f"PASS {name}: {detail} ({time.monotonic() - t0:.1f} s)", flush=True)
        except (CheckFailed, Exception) as exc:   # a check that breaks is a failed check, not a crashed tool
            print(f"FAIL {name}: {' '.join(str(exc).split()) or type(exc).__name__} ({time.monotonic() - t0:.1f} s)",
                  flush=True)
    print(f"gpu_check: {passed} of {len(names)} checks passed on {args.device} in {time.monotonic() - start:.0f} s "
          f"(work dir {args.work_dir})")
    return 0 if passed == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
