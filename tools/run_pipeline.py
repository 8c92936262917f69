#!/usr/bin/env python
"""Run the ilsvrc_pipe pipeline: ``--stage all`` trains and tests every stage and scores the result.

Examples::

    python tools/run_pipeline.py --stage all                      # embedded mini dataset
    python tools/run_pipeline.py --stage eval --data-root /data/imagenet --config configs/ilsvrc2015/ilsvrc2015.py
    python tools/run_pipeline.py --stage loc --cfg-options eval.seed=1     # redo what that setting changes
    python tools/run_pipeline.py --stage all --device cuda --cfg-options precision.train=bf16 precision.test=bf16
    torchrun --nproc_per_node 2 tools/run_pipeline.py --stage all --launcher pytorch   # every stage on 2 processes
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import _bootstrap  # noqa: E402

_bootstrap.start_thread_governor("off")   # test-time outputs feed later training: bit-exact unless asked

from ilsvrc_pipe.config.cli import add_cfg_options, check_folder, help_layout, load_config, report_user_error
from ilsvrc_pipe.config.data_root import resolve_data_root
from ilsvrc_pipe.engine.pipeline import Pipeline
from ilsvrc_pipe.engine.preflight import check_data_root, check_settings
from ilsvrc_pipe.engine.runtime_settings import request_determinism
from ilsvrc_pipe.stages import default_stages
from ilsvrc_pipe.utils.device import CHOICES, hide_gpus, resolve_device
from ilsvrc_pipe.utils.distributed import init_from_env, is_main, world_size
from ilsvrc_pipe.utils.errors import USER_ERRORS, one_line
from ilsvrc_pipe.utils.logging_setup import setup_run_logging
from ilsvrc_pipe.utils.precision import check as check_precision

DEFAULT_CONFIG = "configs/mini/pipeline.py"


def parse_args(argv=None):
    stages = [s.name for s in default_stages()]
    p = argparse.ArgumentParser(**help_layout(__doc__))
    p.add_argument("--stage", default="all", help=f"'all' or a comma list of: {', '.join(stages)}")
    p.add_argument("--config", default=DEFAULT_CONFIG, help="mmengine Config file (default: %(default)s)")
    p.add_argument("--data-root", default=None, help="dataset root holding ILSVRC/ (default: the config's "
                   "data.root, data/mini_ilsvrc, generated on first use)")
    p.add_argument("--work-dir", default=None, help="default: work_dirs/<config name>")
    p.add_argument("--submission-dir", default=None, help="where submission files go (default: "
                   "<repo>/submissions/<work dir name>)")
    p.add_argument("--force", action="store_true", help="redo the named stages even if their manifest matches")
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none",
                   help="'pytorch' under torchrun: every stage runs on all processes (DDP training, sharded "
                        "inference, files written by rank 0)")
    p.add_argument("--device", choices=CHOICES, default="auto",
                   help="auto: a GPU when torch sees one (default); cpu; cuda (an error without a GPU)")
    p.add_argument("--deterministic", action="store_true", default=None,
                   help="deterministic training on GPUs too (slower; the CPU always trains deterministically)")
    add_cfg_options(p)
    args = p.parse_args(argv)
    targets = stages if args.stage == "all" else [s.strip() for s in args.stage.split(",") if s.strip()]
    if not targets:
        p.error(f"--stage {args.stage!r} names no stage; choose 'all' or from {stages}")
    unknown = [t for t in targets if t not in stages]
    if unknown:
        p.error(f"unknown stage(s) {unknown}; choose 'all' or from {stages}")
    return args, targets


def _prepare(args):
    """Config, options and the folders named on the command line, checked before anything is written."""
    cfg = load_config(args.config, args.cfg_options)
    work_dir = check_folder(args.work_dir or Path("work_dirs") / Path(args.config).stem, "--work-dir")
    check_folder(args.submission_dir, "--submission-dir")
    check_folder(args.data_root, "--data-root")   # absent: resolve_data_root decides (generate or error)
    return cfg, work_dir


def main(argv=None) -> int:
    """Exit status 0, or 2 after one error line for bad input (a config, an option, a data file)."""
    args, targets = parse_args(argv)
    request_determinism(args.deterministic)   # before anything touches CUDA (cuBLAS reads its variable once)
    try:
        cfg, work_dir = _prepare(args)
    except USER_ERRORS as exc:
        return report_user_error(exc)
    if args.device == "cpu":
        hide_gpus()
    try:
        device = resolve_device(args.device)
        check_precision(cfg, device)   # e.g. fp16 training without a GPU: refused before anything starts
    except USER_ERRORS as exc:
        return report_user_error(exc)
    if args.launcher == "pytorch":
        init_from_env()
    log_file = setup_run_logging(work_dir / "logs", to_file=is_main(), level=logging.INFO if is_main() else logging.WARNING)
    logger = logging.getLogger("ilsvrc_pipe")
    logger.info("config %s, work dir %s, log %s, device %s, precision %s", args.config, work_dir, log_file, device,
                dict(cfg.get("precision", {})) or "fp32")
    try:
        data_root = resolve_data_root(cfg, args.data_root, logger)
        pipeline = Pipeline(cfg, data_root, work_dir, default_stages(), logger, submission_dir=args.submission_dir,
                            device=device)
        plan = pipeline.plan(targets, force=args.force)
        check_settings(cfg, plan, world_size(), device)   # every stage about to run, before the first one starts
        check_data_root(cfg, data_root, plan, logger)
        results = pipeline.run(targets, force=args.force)
    except USER_ERRORS as exc:
        logger.error("%s", one_line(exc))
        return 2
    report = pipeline.artifacts.report_html()
    logger.info("finished: ran %s%s", ", ".join(results) or "nothing (all stages up to date)",
                f"; report: {report}" if report.is_file() else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
