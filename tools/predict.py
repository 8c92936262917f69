#!/usr/bin/env python
"""Run a finished run's models on your own images: LOC (top-5 classes, each with its best box) or DET.

``--task loc`` uses the classifier ensemble, RPNs and R-CNNs of the work dir as the Table 13 row
that ``loc`` chose for the submissions (``--loc-row`` to pick another); ``--task det`` uses the
detectors and test mode of the best Table 9 row (``--det-row``). Images: any size, JPEG/PNG (by
content; grayscale, CMYK, alpha), files or folders (searched recursively), no ILSVRC layout.
Writes ``OUT/predictions.json`` (one entry per image: ``file``, ``boxes`` with ``wnid``, ``name``,
``score`` and ``box``, an inclusive ``[x1, y1, x2, y2]`` in the image's pixels), ``OUT/predictions.csv``
and ``OUT/vis/`` (the images with their boxes drawn). Nothing is written into the work dir. Give
the config (and ``--cfg-options``) the run was made with: the work dir holds weights, not the config.
``--device auto|cpu|cuda`` puts models and images there (as ``tools/run_pipeline.py`` does);
``--precision bf16`` (or ``fp16``) runs the models under autocast, outputs back in float32.
On a CPU shared with other busy processes the models drop to one thread until they leave (twice
the throughput; scores may then differ from an idle run's in the 7th digit):
``ILSVRC_PIPE_ADAPTIVE_THREADS=off`` keeps the configured thread count and bit-exact reruns.

Examples::

    # after `make run` (work dir work_dirs/pipeline of configs/mini/pipeline.py)
    python tools/predict.py --work-dir work_dirs/pipeline --images data/mini_ilsvrc/ILSVRC/Data/CLS-LOC/test --out /tmp/predict_loc
    python tools/predict.py --work-dir work_dirs/pipeline --task det --images data/mini_ilsvrc/ILSVRC/Data/DET/test --out /tmp/predict_det
    python tools/predict.py --work-dir work_dirs/pipeline --task det --images data/mini_ilsvrc/ILSVRC/Data/DET/test/ILSVRC2015_test_00000001.JPEG --score-thr 0.3 --out /tmp/predict_one
    python tools/predict.py --work-dir work_dirs/pipeline --images data/mini_ilsvrc/ILSVRC/Data/CLS-LOC/test --device cuda --precision bf16 --out /tmp/predict_gpu
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import _bootstrap  # noqa: E402

_bootstrap.start_thread_governor("inference")   # outputs only: one thread at test time while the CPUs are shared

from ilsvrc_pipe.config.cli import add_cfg_options, check_folder, help_layout, load_config, run_guarded
from ilsvrc_pipe.utils.device import CHOICES as DEVICES
from ilsvrc_pipe.utils.errors import ImageDecodeError, UserInputError
from ilsvrc_pipe.utils.precision import CHOICES as PRECISIONS

DEFAULT_CONFIG = "configs/mini/pipeline.py"


def parse_args(argv=None):
    p = argparse.ArgumentParser(**help_layout(__doc__))
    p.add_argument("--work-dir", required=True, help="a pipeline work dir whose stages have finished")
    p.add_argument("--images", required=True, nargs="+", metavar="DIR_OR_FILE",
                   help="image files, or folders searched recursively for .jpg/.jpeg/.png/... files")
    p.add_argument("--task", choices=["loc", "det"], default="loc", help="default: %(default)s")
    p.add_argument("--out", help="output folder (default: predictions/<work dir name>_<task>)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help="the run's config (default: %(default)s)")
    p.add_argument("--loc-row", help="Table 13 row whose models localize (default: loc's best row)")
    p.add_argument("--det-row", help="Table 9 row whose detectors detect (default: det's best row)")
    p.add_argument("--score-thr", type=float, default=0.05,
                   help="det: keep detections scoring at least this (default: %(default)s)")
    p.add_argument("--vis-thr", type=float, default=0.3,
                   help="det: draw detections scoring at least this (default: %(default)s)")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="auto: a GPU when torch sees one (default); cpu; cuda (an error without a GPU)")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="inference precision: fp32, bf16 or fp16 autocast (default: the config's precision.test)")
    p.add_argument("--skip-corrupt", action="store_true",
                   help="an undecodable image gets an entry with its error instead of ending the run")
    add_cfg_options(p)
    return p.parse_args(argv)


def _out_dir(args) -> Path:
    work = Path(args.work_dir)
    if not work.is_dir():
        raise FileNotFoundError(f"--work-dir {work}: folder not found")
    out = check_folder(Path(args.out) if args.out else Path("predictions") / f"{work.resolve().name}_{args.task}",
                       "--out")
    if out.resolve() == work.resolve() or work.resolve() in out.resolve().parents:
        raise UserInputError(f"--out {out}: inside the work dir; predictions are never written there")
    return out


def _predictor(args, cfg, device):
    from ilsvrc_pipe.predict import detect, localize
    from ilsvrc_pipe.predict.run_models import RunModels, warn_config_mismatches
    from ilsvrc_pipe.stages import default_stages

    models = RunModels(cfg, args.work_dir, device, args.precision)
    stages = {s.name: s for s in default_stages()}
    if args.task == "loc":
        warn_config_mismatches(cfg, args.config, Path(args.work_dir), [stages[n] for n in ("cls", "rpn", "rcnn")])
        return localize.LocPredictor(models, args.loc_row or localize.default_row(models))
    warn_config_mismatches(cfg, args.config, Path(args.work_dir), [stages["det"]])
    return detect.DetPredictor(models, args.det_row or detect.default_row(models))


def _predict(args) -> int:
    from tqdm import tqdm

    from ilsvrc_pipe.predict.inputs import check_images, collect_images
    from ilsvrc_pipe.predict.outputs import write_predictions, write_visualisations
    from ilsvrc_pipe.utils.device import hide_gpus, resolve_device
    from ilsvrc_pipe.utils.io_utils import write_json_atomic

    if args.device == "cpu":
        hide_gpus()
    device = resolve_device(args.device)
    out = _out_dir(args)
    cfg = load_config(args.config, args.cfg_options)
    images = check_images(collect_images(args.images), args.skip_corrupt)
    predictor = _predictor(args, cfg, device)
    entries = []
    for image in tqdm(images, desc=f"predict {args.task}", unit="img"):
        entry = {"file": str(image.path), "width": image.width, "height": image.height, "boxes": []}
        try:
            if image.error is None:
                boxes = predictor(image.path, image.path.name)
                entry["boxes"] = [b for b in boxes if args.task == "loc" or b["score"] >= args.score_thr]
        except ImageDecodeError as exc:  # a header that read but pixels that do not decode
            if not args.skip_corrupt:
                raise
            image.error = str(exc)
        if image.error is not None:
            entry["error"] = image.error
        entries.append(entry)
    paths = write_predictions(out, entries)
    write_json_atomic(out / "info.json", {"task": args.task, "row": predictor.row, "work_dir": str(args.work_dir),
                                          "config": args.config, "cfg_options": args.cfg_options,
                                          "device": str(device), "precision": predictor.precision,
                                          "images": len(entries)})
    vis = write_visualisations(out, entries, args.vis_thr if args.task == "det" else 0.0)
    n_boxes = sum(len(e["boxes"]) for e in entries)
    failed = sum("error" in e for e in entries)
    print(f"{args.task} ({predictor.row}): {len(entries)} images, {n_boxes} boxes"
          + (f", {failed} undecodable" if failed else "") + f" -> {paths['json']}, {paths['csv']}, {vis}/")
    return 0


def main(argv=None) -> int:
    """Exit status 0, or 2 with one ``error:`` line for bad input (work dir, config, an image file)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    return run_guarded(lambda: _predict(args))


if __name__ == "__main__":
    sys.exit(main())
