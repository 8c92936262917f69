"""The measured half of ``project_full_run.py``: seconds per unit of work of every stage, at the
paper's sizes, on this machine (random weights and random images: the cost of a network does not
depend on its values, except where noted).

Models are built from ``configs/ilsvrc2015/ilsvrc2015.py`` through the same ``specs`` functions the
stages use, so the sizes are the paper's: ResNet-101 classifiers (1000 classes), per-class RPN on
conv5 with 512 head channels and 9 anchors, R-CNN on 224 warps, C4 detector with 200 classes,
RoIPool 14x14 and 300 test proposals. Each figure is the best of ``reps`` timed calls after one
untimed call (oneDNN builds its primitives for a new shape on the first call).

Units (all seconds): ``cls_train_img`` (R-101 forward+backward+SGD of one 224 crop),
``fwd224_img`` (R-101 forward of one 224 crop, batch 8), ``cls_dense_img`` (dense testing of one
500x375 image at the 5 scales with flips), ``rpn_dense_img`` (dense proposals of one image, 5 scales,
5 classes), ``rcnn_crop`` (rescoring one proposal: warp + R-101 forward, batch 32),
``det_trunk_600`` (conv1-conv4 of an 800x600 image), ``det_roi`` (conv5 + heads of one RoI, 300 per
call), ``det_rpn_600`` (the C4 RPN at 600 after the trunk), ``det_pyramid`` (conv4 of the 5 scales
{200..1000}), ``det_train_img`` (one detector training step on one 800x600 image). The RPNs'
box regression is zeroed (``_full_run_memory.zero_rpn_box_deltas``): a random RPN's boxes collapse
when clipped and it proposes nothing, so the proposal NMS and the sampled RoIs would go unmeasured.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
from _full_run_memory import zero_rpn_box_deltas  # random RPNs propose nothing: see there

import ilsvrc_pipe  # noqa: F401  (before torch: sets the OpenMP wait policy, ilsvrc_pipe/utils/openmp_env.py)

SIZE = (375, 500)    # a typical ImageNet image (height, width)
DET_SIZE = (600, 800)


def best_time(fn: Callable[[], object], reps: int) -> float:
    """Seconds of the fastest of ``reps`` calls after one untimed call."""
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def paper_config(path: str = "configs/ilsvrc2015/ilsvrc2015.py"):
    from mmengine.config import Config

    return Config.fromfile(path)


def _members(section) -> dict:
    return {m["name"]: m for m in section["models"]}


def forward_flops(fn: Callable[[torch.Tensor], object], x: torch.Tensor) -> float:
    """FLOPs (2 x multiply-adds) of ``fn(x)``, counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        fn(x)
    return float(counter.get_total_flops())


def measure_classifier(cfg, reps: int) -> dict:
    from ilsvrc_pipe.models import ResNetClassifier, predict_dense

    member = cfg.cls["models"][0]
    model = ResNetClassifier(backbone=dict(member["backbone"]), num_classes=1000)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    crops, labels = torch.randn(4, 3, 224, 224), torch.randint(0, 1000, (4,))

    def train_step():
        loss = torch.nn.functional.cross_entropy(model.logits(crops), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    out = {"cls_train_img": best_time(train_step, reps) / crops.shape[0]}
    model.eval()
    batch = torch.randn(8, 3, 224, 224)
    with torch.no_grad():
        out["fwd224_img"] = best_time(lambda: model.logits(batch), reps) / batch.shape[0]
    out["fwd224_flops"] = forward_flops(model.logits, batch[:1])
    deeper = ResNetClassifier(backbone=dict(cfg.cls["models"][1]["backbone"]), num_classes=1000).eval()
    out["second_member_flops"] = forward_flops(deeper.logits, batch[:1])
    image = torch.randn(3, *SIZE)
    out["cls_dense_img"] = best_time(lambda: predict_dense(model, [image], scales=cfg.cls["test"]["dense_scales"]),
                                     max(1, reps - 1))
    return out


def measure_rpn(cfg, reps: int) -> dict:
    from ilsvrc_pipe.engine.specs import rpn_model_cfg
    from ilsvrc_pipe.models.localization.per_class_rpn import propose_dense
    from ilsvrc_pipe.registry import MODELS

    model_cfg = rpn_model_cfg(cfg.rpn["models"][0], cfg.rpn, _members(cfg.cls), 1000)
    model = zero_rpn_box_deltas(MODELS.build({k: v for k, v in model_cfg.items() if k != "init_cfg"}))
    image = torch.randn(3, *SIZE)
    classes = [1, 7, 30, 400, 999]
    return {"rpn_dense_img": best_time(lambda: propose_dense(model, image, classes, cfg.rpn["test"]["dense_scales"]),
                                       max(1, reps - 1))}


def measure_rcnn(cfg, reps: int) -> dict:
    from ilsvrc_pipe.engine.specs import rcnn_model_cfg
    from ilsvrc_pipe.models.localization.rcnn import refine_proposals
    from ilsvrc_pipe.registry import MODELS

    model_cfg = rcnn_model_cfg(cfg.rcnn["models"][0], cfg.rcnn, _members(cfg.cls), 1000)
    model = MODELS.build({k: v for k, v in model_cfg.items() if k != "init_cfg"})
    image = torch.randn(3, *SIZE)
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(32, 2, generator=g) * torch.tensor([300.0, 200.0])
    wh = 40 + torch.rand(32, 2, generator=g) * 150
    boxes = torch.cat([xy, xy + wh], dim=1).round()
    return {"rcnn_crop": best_time(lambda: refine_proposals(model, image, {3: boxes}, batch_size=32), reps) / 32}


def measure_detector(cfg, reps: int) -> dict:
    from ilsvrc_pipe.data.det_pyramid import det_test_inputs, pyramid_levels
    from ilsvrc_pipe.engine.specs import det_model_cfg
    from ilsvrc_pipe.models.detection.c4 import pad_batch
    from ilsvrc_pipe.registry import MODELS

    model_cfg = det_model_cfg(cfg.det["models"][0], cfg.det, _members(cfg.cls), 200)
    model = zero_rpn_box_deltas(MODELS.build({k: v for k, v in model_cfg.items() if k != "init_cfg"})).eval()
    image = torch.randn(3, *DET_SIZE)
    batch, sizes = pad_batch([image], model.stride)
    out = {}
    with torch.no_grad():
        out["det_trunk_600"] = best_time(lambda: model.features(batch), reps)
        feat = model.features(batch)
        out["det_rpn_600"] = best_time(lambda: model.proposals(batch, sizes, feat), reps)
        rois = [_random_rois(300, DET_SIZE)]
        out["det_roi"] = best_time(lambda: model.region_outputs(feat, rois, sizes), reps) / 300
        out["det_trunk_600_flops"] = forward_flops(model.features, batch)
        out["det_roi_flops"] = forward_flops(lambda _: model.region_outputs(feat, [rois[0][:30]], sizes), batch) / 30
        test = det_test_inputs(cfg.det["test"])
        sizes_pyr = [size for _, size in pyramid_levels(*SIZE, test["pyramid"], test["pyramid_max_size"])]
        out["det_pyramid_sizes"] = sizes_pyr
        out["det_pyramid"] = sum(
            out["det_trunk_600"] if hw == DET_SIZE else
            best_time(lambda hw=hw: model.features(pad_batch([torch.randn(3, *hw)], model.stride)[0]), 1)
            for hw in sizes_pyr)
    model.train()
    target = {"boxes": torch.tensor([[100.0, 120.0, 400.0, 500.0], [500.0, 50.0, 760.0, 300.0]]),
              "labels": torch.tensor([3, 150])}
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.02, momentum=0.9)

    def train_step():
        losses = model([image], [target], mode="loss")
        opt.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        opt.step()

    out["det_train_img"] = best_time(train_step, 1)
    return out


def _random_rois(n: int, size: tuple[int, int]) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    h, w = size
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.7, h * 0.7])
    wh = 32 + torch.rand(n, 2, generator=g) * torch.tensor([w * 0.3, h * 0.3])
    return torch.cat([xy, xy + wh], dim=1)


def measure_all(reps: int = 2, log=print) -> dict:
    """Every unit cost, in seconds (plus ``fwd224_flops``)."""
    torch.manual_seed(0)
    cfg = paper_config()
    out = {}
    for part in (measure_classifier, measure_rpn, measure_rcnn, measure_detector):
        start = time.perf_counter()
        out.update(part(cfg, reps))
        log(f"{part.__name__}: {time.perf_counter() - start:.1f} s")
    return out
