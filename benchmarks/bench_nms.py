#!/usr/bin/env python
"""Proposal NMS: ``torchvision.ops.nms(...)[:200]`` against ``ilsvrc_pipe.ops.nms.nms_top_k`` (same
indices), on one class's decoded boxes of a dense RPN scale.

Boxes: a stride-16 grid of 12 anchor shapes (scales 32-256, ratios 0.5-2), centres jittered by
4 px, random scores, IoU 0.7, top 200 (the per-class RPN's test setting). Grid sizes: the mini
config's largest dense scale (9 x 11 positions) and a 600 x 800 image (38 x 50, the paper's size).

    .venv/bin/python benchmarks/bench_nms.py        # seconds
Writes benchmarks/results/bench_nms.{json,txt}.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from torchvision.ops import nms

import ilsvrc_pipe  # noqa: F401  (before torch: the OpenMP wait policy)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import publish  # noqa: E402
from bench_gemm import command_line, machine_info  # noqa: E402
from bench_loc import timed  # noqa: E402

from ilsvrc_pipe.ops.nms import nms_top_k  # noqa: E402

GRIDS = {"mini (136 px scale)": (9, 11), "paper (600 x 800)": (38, 50)}
TOP_K, IOU = 200, 0.7


def grid_boxes(h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(h) * 16.0 + 8, torch.arange(w) * 16.0 + 8, indexing="ij")
    centres = torch.stack([xs, ys], -1).reshape(-1, 1, 2).expand(-1, 12, 2).reshape(-1, 2)
    shapes = torch.tensor([[s * r ** 0.5, s / r ** 0.5] for s in (32, 64, 128, 256) for r in (0.5, 1.0, 2.0)])
    centres = centres + torch.randn(centres.shape, generator=gen) * 4
    sizes = shapes.repeat(h * w, 1)
    return torch.cat([centres - sizes / 2, centres + sizes / 2], 1), torch.rand(centres.shape[0], generator=gen)


def best_ms(fn, repeat: int = 5) -> float:
    return min(timed(fn, repeat)) * 1e3


def main() -> int:
    rows = {}
    for name, (h, w) in GRIDS.items():
        boxes, scores = grid_boxes(h, w)
        full = nms(boxes, scores, IOU)[:TOP_K]
        assert torch.equal(nms_top_k(boxes, scores, IOU, TOP_K), full)
        rows[name] = {"boxes": boxes.shape[0], "full_ms": best_ms(lambda: nms(boxes, scores, IOU)[:TOP_K]),
                      "top_k_ms": best_ms(lambda: nms_top_k(boxes, scores, IOU, TOP_K))}
    report = {"command": command_line(), "machine": machine_info(torch.get_num_threads()), "top_k": TOP_K,
              "iou": IOU, "rows": rows}
    lines = [f"command: {report['command']}", f"machine: {report['machine']['cpu']}, torch {report['machine']['torch']}",
             f"one class, IoU {IOU}, top {TOP_K}; best of 5; identical indices checked", "",
             f"{'grid':22s} {'boxes':>6s} {'nms()[:k] ms':>13s} {'nms_top_k ms':>13s} {'speed-up':>9s}"]
    for name, r in rows.items():
        lines.append(f"{name:22s} {r['boxes']:6d} {r['full_ms']:13.2f} {r['top_k_ms']:13.2f} {r['full_ms'] / r['top_k_ms']:8.1f}x")
    publish(report, lines, str(Path(__file__).resolve().parent / "results" / "bench_nms.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
