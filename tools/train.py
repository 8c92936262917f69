#!/usr/bin/env python
"""Train one classifier of the ``cls`` ensemble with mmengine's Runner (also multi-process, DDP).

A single process runs the ``data`` stage first if it is missing; several processes or machines go
through torchrun and mmengine's DDP (gloo on CPU, nccl on GPUs), after the ``data`` stage. The
config's ``cls.train.batch_size`` is the global batch, split over the processes (checked first).
``--resume`` continues an interrupted training from the latest checkpoint of its work dir.
Training is deterministic on the CPU; on GPUs it lets cuDNN pick its fastest kernels unless
``--deterministic`` is given (ops without a deterministic CUDA kernel then warn instead of failing).

Examples::

    python tools/train.py --member resnet18_w050
    python tools/run_pipeline.py --stage data
    torchrun --nproc_per_node 2 tools/train.py --member resnet18_w050 --launcher pytorch
    python tools/train.py --member resnet18_w050 --resume
    python tools/train.py --member resnet18_w050 --deterministic
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import _bootstrap  # noqa: E402

_bootstrap.start_thread_governor("off")   # training: the thread count stays as configured unless asked
import torch

from ilsvrc_pipe.artifacts.paths import Artifacts
from ilsvrc_pipe.config.cli import add_cfg_options, check_folder, help_layout, load_config, run_guarded
from ilsvrc_pipe.config.data_root import resolve_data_root
from ilsvrc_pipe.engine.batch_rule import check_batch_sizes
from ilsvrc_pipe.engine.pipeline import Pipeline
from ilsvrc_pipe.engine.runtime_settings import request_determinism
from ilsvrc_pipe.engine.specs import check_pretrained, member_train_spec
from ilsvrc_pipe.engine.training import build_runner
from ilsvrc_pipe.models.backbone.pretrained import write_pretrained_final
from ilsvrc_pipe.stages import default_stages
from ilsvrc_pipe.utils.distributed import die_with_torchrun
from ilsvrc_pipe.utils.logging_setup import setup_run_logging
from ilsvrc_pipe.utils.precision import check_training
from ilsvrc_pipe.utils.precision import read as read_precision


def parse_args(argv=None):
    p = argparse.ArgumentParser(**help_layout(__doc__))
    p.add_argument("--config", default="configs/mini/pipeline.py")
    p.add_argument("--member", required=True, help="name of a classifier in the config's cls.models")
    p.add_argument("--data-root", default=None)
    p.add_argument("--work-dir", default=None, help="pipeline work dir (default work_dirs/<config name>)")
    p.add_argument("--train-dir", default=None, help="Runner work dir (default <work-dir>/cls/models/<member>)")
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint of the train dir")
    p.add_argument("--deterministic", action="store_true", default=None,
                   help="deterministic kernels on GPUs too (slower; the CPU always trains deterministically)")
    add_cfg_options(p)
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Exit status 0, or 2 with one ``error:`` line for bad input (config, options, data files)."""
    args = parse_args(argv)
    return run_guarded(lambda: _train(args))


def _train(args) -> int:
    if args.launcher == "pytorch":
        die_with_torchrun()   # a killed torchrun leaves no rank training into the train dir
    request_determinism(args.deterministic)   # before anything touches CUDA (cuBLAS reads its variable once)
    cfg = load_config(args.config, args.cfg_options)
    train_precision = check_training(read_precision(cfg.get("precision", None))["train"])   # before any work
    check_batch_sizes(cfg, int(os.environ.get("WORLD_SIZE", "1")) if args.launcher == "pytorch" else 1, ("cls",))
    work_dir = check_folder(args.work_dir or Path("work_dirs") / Path(args.config).stem, "--work-dir")
    check_folder(args.train_dir, "--train-dir")
    members = {m["name"]: m for m in cfg.cls.models}
    if args.member not in members:
        print(f"error: no member {args.member!r} in {args.config}; choose from {sorted(members)}", file=sys.stderr)
        return 2
    check_pretrained({**cfg.cls, "models": [members[args.member]]})   # its weight file, loaded strictly
    art = Artifacts(work_dir)
    if args.launcher == "none":
        setup_run_logging(art.logs_dir(), name="train")
        logger = logging.getLogger("ilsvrc_pipe")
        Pipeline(cfg, resolve_data_root(cfg, args.data_root, logger), work_dir, default_stages(), logger).run(["data"])
    elif not art.manifest("data").is_file():
        print(f"error: {art.stage_dir('data')} is missing; run `python tools/run_pipeline.py --stage data` first",
              file=sys.stderr)
        return 2
    num_classes = len(art.read_classes()["clsloc"])
    spec = {**member_train_spec(members[args.member], cfg.cls.train, art, num_classes), "precision": train_precision}
    seed = int(members[args.member].get("seed", 0))
    if spec["max_epochs"] == 0:   # evaluate-only: the pretrained weights are the member's final weights
        write_pretrained_final(spec["model"], art.final_weights("cls", args.member), seed)
        return 0
    torch.set_num_threads(int(cfg.cls.get("num_threads", torch.get_num_threads())))
    train_dir = Path(args.train_dir or art.train_dir("cls", args.member))
    runner = build_runner(spec, train_dir, launcher=args.launcher, resume=args.resume,
                          seed=seed, deterministic=args.deterministic)
    runner.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
