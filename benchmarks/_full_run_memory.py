"""The memory half of ``project_full_run.py``: how much memory ONE process needs for the heaviest step
of every stage, at the paper's sizes and the per-process batch of a run on :data:`PROCESSES` GPUs.

Every ``batch_size`` of a config is global (``ilsvrc_pipe/engine/batch_rule.py``), so on 8 GPUs the paper
config's cls/rpn/rcnn batches of 256 are 32 crops or regions per process and det's 16 are 2 images.
Test loops batch per process: each rank takes whole chunks (``cls.test.batch_images`` images,
``rcnn.test.batch_size`` crops) or whole images, whatever the number of GPUs.

Each step runs in a fresh Python process (``python _full_run_memory.py STEP``), so peaks do not mix,
and holds what its stage holds at that moment: the stage's test loops keep every member of the
ensemble loaded (both classifiers, both R-CNNs, all detectors), training one model. Models are built
from the config through the ``ilsvrc_pipe.engine.specs`` functions the stages use, with random weights (the
memory of a network does not depend on its values). A training step is mmengine's
``model.train_step`` with the stage's SGD wrapper, channels_last weights as the Runner trains them and
momentum buffers already present (the state of every step after the first).

Per step, RSS in MiB from ``/proc/self/status``: ``base`` after the imports, ``built`` after
building the models (:func:`mark_built`), ``peak`` (``VmHWM``, the high-water mark, restarted
after the build so that it is the step's). Not
``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries the parent's peak over a fork and exec into
the child's ``ru_maxrss``, so a child started by a parent that has run the timing part reports at
least the parent's peak. CPU RSS is a proxy for GPU memory: weights, gradients, optimizer state
and activations are the same tensors on a GPU, but cuDNN workspaces and the caching allocator's
reserve differ, the CUDA context is extra, and ``base`` (interpreter, libraries) is not on the GPU.

Two steps stand for more work than they run, because their peak is reached in one part of it:
``cls_test`` runs its chunk through the deepest member at the largest dense scale with flips only
(the scales run one after another, each freeing its tensors, and the members share layer widths),
and ``rcnn_rescore`` runs one chunk of ``rcnn.test.batch_size`` crops through one R-CNN (the R-CNNs
score the chunk one after another). ``det_test`` is the ``refine_context_multiscale`` row: one
detector, its 300 proposals, the uncapped pyramid; ``det_test_ensemble`` (3 detectors, the union of
their proposals: about 3x the RoIs, roughly 100 s more on 2 cores) runs only when asked for.

    .venv/bin/python benchmarks/_full_run_memory.py det_test --tiny   # one step, shrunken sizes
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

import ilsvrc_pipe  # noqa: F401  (before torch: sets the OpenMP wait policy, ilsvrc_pipe/utils/openmp_env.py)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "ilsvrc2015" / "ilsvrc2015.py"
PROCESSES = 8                 # GPUs of the run whose per-process batches are measured
IMAGE = (375, 500)            # a typical 4:3 ImageNet photo (height, width)
CLS_CLASSES, DET_CLASSES = 1000, 200
RPN_CLASSES_PER_IMAGE = 11    # at most: the ensemble's top-5, the first classifier's top-5, the GT class
MARKER = "MEMORY_RESULT "     # the line of the child's stdout that holds its result

#: ``--tiny``: every size shrunk (same code path, same models), to check the code in seconds per step
TINY_OPTIONS = {
    "cls.train.batch_size": 16, "cls.train.crop": 64, "cls.test.batch_images": 2, "cls.test.dense_scales": [48, 64],
    "rpn.train.batch_size": 16, "rpn.train.crop": 64, "rpn.test.dense_scales": [48, 64],
    "rcnn.train.batch_size": 32, "rcnn.model.crop_size": 64, "rcnn.test.batch_size": 4,
    "det.train.scales": (150,), "det.train.max_size": 250,
    "det.test.scale": 150, "det.test.max_size": 250, "det.test.pyramid": (50, 100, 150, 200, 250),
    "det.model.rpn_post_nms_top_n.testing": 40, "det.model.roi_batch_size": 16,
}
TINY_IMAGE = (60, 80)


# -- measuring, in the child -----------------------------------------------------------------------
def rss_mib() -> dict[str, float]:
    """Current (``VmRSS``) and peak (``VmHWM``) resident memory of this process, in MiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss": fields["VmRSS"], "peak": fields["VmHWM"]}


def mark_built(record: dict) -> None:
    """After the models are built: hand freed heap back to the system (``malloc_trim``: a build's
    temporaries, e.g. the weights batch-norm folding replaced), record the RSS, then restart the
    high-water mark (``/proc/self/clear_refs``), so that ``peak`` is the step's and not the build's."""
    import ctypes

    ctypes.CDLL("libc.so.6").malloc_trim(0)
    record.update(rss_mib())
    try:
        Path("/proc/self/clear_refs").write_text("5")
        record["hwm_reset"] = True
    except OSError:   # a kernel without it: the peak may then be the build's
        record["hwm_reset"] = False


def load_config(path: str | Path = CONFIG, tiny: bool = False):
    from mmengine.config import Config

    cfg = Config.fromfile(str(path))
    if tiny:
        cfg.merge_from_dict(TINY_OPTIONS)
    return cfg


def _members(section) -> dict:
    return {m["name"]: m for m in section["models"]}


def _per_process(cfg, stage: str) -> int:
    """The stage's global training batch split over :data:`PROCESSES` (refused if it does not split)."""
    from ilsvrc_pipe.engine.batch_rule import check_batch_sizes

    check_batch_sizes(cfg, PROCESSES, (stage,))
    return int(cfg[stage]["train"]["batch_size"]) // PROCESSES


def _build(model_cfg: dict):
    from ilsvrc_pipe.registry import MODELS

    return MODELS.build({k: v for k, v in model_cfg.items() if k != "init_cfg"})


def _for_test(model_cfg: dict):
    """A test-time model as ``specs.load_weights`` makes it (batch norms folded, channels_last)."""
    from ilsvrc_pipe.engine.specs import for_inference

    return for_inference(_build(model_cfg))


def _mib(tensors) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def _train_step(cfg, stage: str, model, data, mark) -> dict:
    """One training step as the Runner takes it on one process (DDP's buckets are reported apart)."""
    from mmengine.optim import build_optim_wrapper

    from ilsvrc_pipe.engine.training import sgd_schedule
    from ilsvrc_pipe.utils.precision import optim_wrapper_cfg

    model.to(memory_format=torch.channels_last).train()
    mark()
    spec = sgd_schedule(dict(cfg[stage]["train"]))
    precision = dict(cfg.get("precision", {}) or {}).get("train", "fp32")
    wrapper = build_optim_wrapper(model, optim_wrapper_cfg(precision, spec["optimizer"]))
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:   # what SGD keeps from the first step on
        wrapper.optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p)
    model.train_step(data, wrapper)
    return {"trainable_mib": _mib(trainable)}


def _boxes(n: int, size: tuple[int, int], seed: int = 0):
    """``n`` distinct random boxes (x1, y1, x2, y2) inside an image of ``size`` (h, w)."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
    wh = 8 + torch.rand(n, 2, generator=g) * torch.tensor([w * 0.4 - 8, h * 0.4 - 8])
    return torch.cat([xy, xy + wh], dim=1)


def zero_rpn_box_deltas(model):
    """``model`` (a detector or a per-class RPN) with its RPN's box regression zeroed. A random RPN's
    deltas are huge (the random trunk's features are), its boxes end up clipped to lines and no
    proposal survives; a trained one's deltas are small. With zero deltas the proposals are the
    anchors, ranked by the random scores, so the steps see the configured numbers of proposals and RoIs."""
    reg = model.reg if hasattr(model, "reg") else model.rpn.head.bbox_pred
    with torch.no_grad():
        reg.weight.zero_()
        reg.bias.zero_()
    return model


def cls_train(cfg, image, mark, member: str) -> dict:
    from ilsvrc_pipe.engine.specs import member_model_cfg

    b, crop = _per_process(cfg, "cls"), int(cfg.cls.train.crop)
    model = _build(member_model_cfg(_members(cfg.cls)[member], CLS_CLASSES))
    data = {"inputs": torch.randn(b, 3, crop, crop), "data_samples": torch.randint(0, CLS_CLASSES, (b,))}
    out = _train_step(cfg, "cls", model, data, mark)
    return {**out, "what": f"{member}: {b} crops of {crop}x{crop}, {CLS_CLASSES} classes, SGD momentum"}


def cls_test(cfg, image, mark) -> dict:
    from ilsvrc_pipe.engine.specs import member_model_cfg
    from ilsvrc_pipe.models.classification.view_modes import DEFAULT_DENSE_AVERAGE, predict_dense

    test, members = cfg.cls.test, list(cfg.cls.models)
    models = [_for_test(member_model_cfg(m, CLS_CLASSES)) for m in members]
    deepest = max(range(len(members)), key=lambda i: int(members[i]["backbone"].get("depth", 0)))
    mark()
    chunk, scale = int(test.get("batch_images", 64)), max(test.dense_scales)
    images = [torch.randn(3, *image) for _ in range(chunk)]   # the stage loads a chunk, then scores it
    predict_dense(models[deepest], images, scales=[scale], flip=True,
                  average=test.get("dense_average", DEFAULT_DENSE_AVERAGE))
    return {"what": f"{len(models)} members loaded; a chunk of {chunk} images {image[0]}x{image[1]} through "
                    f"{members[deepest]['name']} at dense scale {scale} (the largest) with flips"}


def rpn_train(cfg, image, mark) -> dict:
    from ilsvrc_pipe.engine.specs import rpn_model_cfg

    b, crop = _per_process(cfg, "rpn"), int(cfg.rpn.train.crop)
    fit = cfg.rpn.get("anchor_fit")
    shapes = [[64.0 * (k + 1), 64.0 * (k + 1)] for k in range(int(fit["count"]))] if fit else None
    model = _build(rpn_model_cfg(cfg.rpn.models[0], cfg.rpn, _members(cfg.cls), CLS_CLASSES, anchor_shapes=shapes))
    box = torch.tensor([[0.2 * crop, 0.25 * crop, 0.8 * crop, 0.9 * crop]])
    samples = [{"boxes": box, "label": (37 * i) % CLS_CLASSES, "ignore_boxes": torch.zeros(0, 4)} for i in range(b)]
    out = _train_step(cfg, "rpn", model, {"inputs": torch.randn(b, 3, crop, crop), "data_samples": samples}, mark)
    return {**out, "what": f"{b} crops of {crop}x{crop}, per-class RPN of {CLS_CLASSES} classes x "
                           f"{model.num_anchors} anchors"}


def rpn_proposals(cfg, image, mark) -> dict:
    from ilsvrc_pipe.engine.specs import rpn_model_cfg
    from ilsvrc_pipe.models.localization.per_class_rpn import propose_dense

    model = zero_rpn_box_deltas(_for_test(rpn_model_cfg(cfg.rpn.models[0], cfg.rpn, _members(cfg.cls), CLS_CLASSES)))
    mark()
    scales = list(cfg.rpn.test.dense_scales)
    found = propose_dense(model, torch.randn(3, *image), list(range(RPN_CLASSES_PER_IMAGE)), scales=scales)
    return {"what": f"one image {image[0]}x{image[1]}, dense scales {scales}, {RPN_CLASSES_PER_IMAGE} classes, "
                    f"{min(p.boxes.shape[0] for p in found.values())}+ proposals each"}


def rcnn_train(cfg, image, mark) -> dict:
    from ilsvrc_pipe.engine.specs import rcnn_model_cfg

    b = _per_process(cfg, "rcnn")
    model = _build(rcnn_model_cfg(cfg.rcnn.models[0], cfg.rcnn, _members(cfg.cls), CLS_CLASSES))
    crop, fg = model.crop_size, max(1, round(b * float(cfg.rcnn.train.get("fg_fraction", 0.25))))
    labels = torch.cat([torch.arange(fg) % CLS_CLASSES, torch.full((b - fg,), CLS_CLASSES)])
    data = {"inputs": torch.randn(b, 3, crop, crop).contiguous(memory_format=torch.channels_last),
            "data_samples": {"labels": labels, "deltas": 0.1 * torch.randn(b, 4)}}
    out = _train_step(cfg, "rcnn", model, data, mark)
    return {**out, "what": f"{b} regions warped to {crop}x{crop} ({fg} foreground), {CLS_CLASSES} classes"}


def rcnn_rescore(cfg, image, mark) -> dict:
    from ilsvrc_pipe.engine.specs import rcnn_model_cfg
    from ilsvrc_pipe.models.localization.rcnn import refine_proposals

    models = [_for_test(rcnn_model_cfg(m, cfg.rcnn, _members(cfg.cls), CLS_CLASSES)) for m in cfg.rcnn.models]
    mark()
    n = int(cfg.rcnn.test.get("batch_size", 256))
    refine_proposals(models[0], torch.randn(3, *image), {3: _boxes(n, image)}, batch_size=n)
    return {"what": f"{len(models)} R-CNNs loaded; one chunk of {n} crops of {models[0].crop_size}x"
                    f"{models[0].crop_size} from one image {image[0]}x{image[1]}"}


def det_train(cfg, image, mark) -> dict:
    from ilsvrc_pipe.data.det_pyramid import resized_size
    from ilsvrc_pipe.engine.specs import det_model_cfg

    b, train = _per_process(cfg, "det"), cfg.det.train
    member = next((m for m in cfg.det.models if m.get("context")), cfg.det.models[0])   # the larger head
    model = zero_rpn_box_deltas(_build(det_model_cfg(member, cfg.det, _members(cfg.cls), DET_CLASSES)))
    pooled: list[int] = []   # RoIs per pooling call: the training RoIs, then one context box per image
    model.roi_pooler.register_forward_hook(lambda module, args, out: pooled.append(int(out.shape[0])))
    h, w = resized_size(300, 500, max(train.scales), train.get("max_size"))   # a 5:3 image: the longest side
    boxes = torch.tensor([[0.1 * w, 0.1 * h, 0.5 * w, 0.6 * h], [0.4 * w, 0.3 * h, 0.9 * w, 0.95 * h],
                          [0.6 * w, 0.05 * h, 0.75 * w, 0.3 * h]])
    samples = [{"boxes": boxes, "labels": torch.tensor([1 + i, 57, DET_CLASSES]),
                "ignore_labels": torch.zeros(0, dtype=torch.int64)} for i in range(b)]
    data = {"inputs": [torch.randn(3, h, w) for _ in range(b)], "data_samples": samples}
    out = _train_step(cfg, "det", model, data, mark)
    m = cfg.det.model
    return {**out, "what": f"{member['name']}: {b} images {h}x{w}, {DET_CLASSES} classes, {max(pooled)} RoIs "
                           f"(roi_batch_size {m['roi_batch_size']} per image), rpn_batch_size {m['rpn_batch_size']}"}


def _det_test(cfg, image, mark, row: str) -> dict:
    from ilsvrc_pipe.data.det_pyramid import det_test_inputs, pyramid_levels, resized_size
    from ilsvrc_pipe.engine.rows import det_row_modes
    from ilsvrc_pipe.engine.specs import det_model_cfg
    from ilsvrc_pipe.models.detection.inference import MemberView, detect

    cls_members = _members(cfg.cls)
    models = {m["name"]: zero_rpn_box_deltas(_for_test(det_model_cfg(m, cfg.det, cls_members, DET_CLASSES)))
              for m in cfg.det.models}
    mark()
    members, mode = det_row_modes(cfg.det)[row]
    test = det_test_inputs(cfg.det.test)
    primary = torch.randn(3, *resized_size(*image, test["scale"], test["max_size"]))
    levels = [size for _, size in pyramid_levels(*image, test["pyramid"], test["pyramid_max_size"])]
    pyramid = [primary if size == tuple(primary.shape[1:]) else torch.randn(3, *size) for size in levels]
    views = [MemberView(models[n], pyramid, primary) for n in members]
    detect(views, mode)
    rois = len({tuple(b) for v in views for b in v.proposals().tolist()})
    return {"what": f"{row} row: {len(models)} detectors loaded, {len(members)} run; one image "
                    f"{image[0]}x{image[1]}, primary {tuple(primary.shape[1:])}, pyramid {levels}, {rois} RoIs"}


def det_test(cfg, image, mark) -> dict:
    return _det_test(cfg, image, mark, "refine_context_multiscale")


def det_test_ensemble(cfg, image, mark) -> dict:
    return _det_test(cfg, image, mark, "ensemble")


STEPS = {"cls_test": cls_test, "rpn_train": rpn_train, "rpn_proposals": rpn_proposals, "rcnn_train": rcnn_train,
         "rcnn_rescore": rcnn_rescore, "det_train": det_train, "det_test": det_test,
         "det_test_ensemble": det_test_ensemble}
OPTIONAL = ("det_test_ensemble",)


def step_names(cfg, extra: tuple[str, ...] = ()) -> list[str]:
    """The steps measured by default (one training step per classifier member), plus ``extra``."""
    names = [f"cls_train_{m['name']}" for m in cfg.cls.models]
    names += [n for n in STEPS if n not in OPTIONAL or n in extra]
    return names


def stage_of(step: str) -> str:
    """The row of the time table a step belongs to."""
    return "cls_train" if step.startswith("cls_train_") else "det_test" if step.startswith("det_test") else step


def run_step(name: str, config: str | Path = CONFIG, tiny: bool = False) -> dict:
    """Measure one step in THIS process (the child's job; the parent calls :func:`measure_memory`)."""
    import mmengine.optim  # noqa: F401

    from ilsvrc_pipe.stages import default_stages

    default_stages()   # every stage module imported, as in a pipeline process
    base = rss_mib()["rss"]
    cfg = load_config(config, tiny)
    built: dict[str, float] = {}
    start = time.perf_counter()
    image, mark = (TINY_IMAGE if tiny else IMAGE), (lambda: mark_built(built))
    if name not in step_names(cfg, OPTIONAL):
        raise ValueError(f"unknown step {name!r}; expected one of {step_names(cfg, OPTIONAL)}")
    if name.startswith("cls_train_"):
        out = cls_train(cfg, image, mark, name[len("cls_train_"):])
    else:
        out = STEPS[name](cfg, image, mark)
    peak = rss_mib()["peak"]
    return {**out, "base_mib": base, "built_mib": built["rss"], "peak_mib": peak, "step_mib": peak - built["rss"],
            "device_mib": peak - base, "hwm_reset": built["hwm_reset"], "seconds": time.perf_counter() - start}


# -- the parent ------------------------------------------------------------------------------------
def measure_memory(config: str | Path = CONFIG, tiny: bool = False, extra: tuple[str, ...] = (),
                   timeout: float = 1200.0, log=print) -> dict:
    """Every step in its own fresh process; ``{"processes", "tiny", "steps": {name: row}}``. A step
    that fails gets ``{"error": its last line of stderr}`` and the others still run."""
    steps = {}
    for name in step_names(load_config(config, tiny), extra):
        cmd = [sys.executable, str(Path(__file__).resolve()), name, "--config", str(config)] + (["--tiny"] * tiny)
        start = time.perf_counter()
        try:
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith(MARKER)]
            if done.returncode == 0 and lines:
                steps[name] = json.loads(lines[-1][len(MARKER):])
            else:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                steps[name] = {"error": f"exit status {done.returncode}: {tail}"}
        except subprocess.TimeoutExpired:
            steps[name] = {"error": f"no result after {timeout:.0f} s"}
        row = steps[name]
        log(f"memory {name}: " + (f"peak {row['peak_mib']:.0f} MiB" if "error" not in row else row["error"])
            + f" ({time.perf_counter() - start:.0f} s)")
    return {"processes": PROCESSES, "tiny": tiny, "steps": steps}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Measure one step's memory in this process (the child of "
                                                 "measure_memory); prints one line starting with " + MARKER.strip())
    parser.add_argument("step")
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--tiny", action="store_true", help="shrunken sizes, to check the code quickly")
    args = parser.parse_args(argv)
    known = step_names(load_config(args.config, args.tiny), OPTIONAL)
    if args.step not in known:
        parser.error(f"step {args.step!r}: expected one of {', '.join(known)}")
    print(MARKER + json.dumps(run_step(args.step, args.config, args.tiny)), flush=True)


if __name__ == "__main__":
    main()
