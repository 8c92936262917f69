"""One long-lived measuring process of ``bench_threads.py``.

OpenMP (libgomp) reads ``OMP_WAIT_POLICY`` / ``GOMP_SPINCOUNT`` once, when torch loads it, so each
wait-policy variant needs its own process started with its own environment. Starting a process per
measurement would cost a torch import (seconds) each time, so the benchmark starts the workers once
and sends them commands on stdin, one per line::

    CASE SECONDS THREADS        ->  one JSON line {"case", "rate", "iters", "secs", "threads", "switches"}
    quit

``rate`` is images (or crops, or calls) per second over at least ``SECONDS`` of timed work, after
two untimed warm-up iterations. With ``BENCH_ADAPTIVE=<mode>`` the process runs under
``ilsvrc_pipe.utils.thread_governor`` in that mode (``all``: THREADS is then ignored, the governor sets the
count; ``inference``: it sets it in the no-grad ResNet forward only, as ``tools/predict.py`` does). Workloads:

* ``resnet``: torchvision ResNet-18 forward, eval, no grad, batch 8 at 112 px (the issue's figure);
* ``rcnn``: one training step (fwd + bwd + SGD) of the project's RoIRCNN as ``configs/mini`` builds it
  (ResNet-18 width 0.5 trunk, 10 classes, 64 px crops, batch 64): many small ops, where the
  spinning between parallel regions pays;
* ``roi``: a single-box ``warp_regions`` (roi_align) of a 3x128x128 image, the smallest op the
  pipeline calls in a loop.
"""
from __future__ import annotations

import json
import os
import sys
import time

# torch first, before ilsvrc_pipe: the variant's environment is exactly what the parent gave us.
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _resnet():
    model = torchvision.models.resnet18().eval()
    images = torch.randn(8, 3, 112, 112)

    def step() -> int:
        with torch.no_grad():
            model(images)
        return images.shape[0]
    return step


def _rcnn():
    from ilsvrc_pipe.models.localization.rcnn import RoIRCNN

    torch.manual_seed(0)
    model = RoIRCNN(backbone=dict(depth=18, width=0.5), num_classes=10, crop_size=64).train()
    optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    crops = torch.randn(64, 3, 64, 64)
    labels = torch.randint(0, 11, (64,))
    targets = torch.randn(64, 4)

    def step() -> int:
        logits, deltas = model(crops, mode="tensor")
        losses = model.loss(logits, deltas, labels, targets)
        optim.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        optim.step()
        return crops.shape[0]
    return step


def _roi():
    from ilsvrc_pipe.ops.geometry import warp_regions

    image = torch.randn(3, 128, 128)
    box = torch.tensor([[10.0, 12.0, 90.0, 100.0]])

    def step() -> int:
        for _ in range(20):
            warp_regions(image, box, 64)
        return 20
    return step


CASES = {"resnet": _resnet, "rcnn": _rcnn, "roi": _roi}


def measure(step, seconds: float) -> tuple[float, int, float]:
    """``(items/s, iterations, timed seconds)`` after two warm-up iterations."""
    step()
    step()
    items = iters = 0
    start = time.perf_counter()
    while True:
        items += step()
        iters += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return items / elapsed, iters, elapsed


def main() -> None:
    steps = {}
    governor = None
    if os.environ.get("BENCH_ADAPTIVE"):   # the thread governor owns the thread count (in its mode)
        from ilsvrc_pipe.utils.thread_governor import install

        torch.set_num_threads(2)
        governor = install({"ILSVRC_PIPE_ADAPTIVE_THREADS": os.environ["BENCH_ADAPTIVE"]})
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        case, seconds, threads = words[0], float(words[1]), int(words[2])
        if governor is None:
            torch.set_num_threads(threads)
        if case not in steps:
            steps[case] = CASES[case]()
        rate, iters, secs = measure(steps[case], seconds)
        print(json.dumps({"case": case, "rate": rate, "iters": iters, "secs": secs,
                          "threads": torch.get_num_threads(), "switches": getattr(governor, "switches", 0)}),
              flush=True)


if __name__ == "__main__":
    main()
