"""The trained models of a finished run, rebuilt from the run's config and loaded read-only.

A work dir holds weights, not the config that built them, so the tool takes ``--config`` (and
``--cfg-options``) as the pipeline did. Each stage's manifest records a hash of the config sections
it read; a config that hashes differently is named in a warning (its test settings or models may
not be the run's), and weights that do not fit the models the config builds are a user error
naming both, never a traceback. The models sit on the tool's ``--device``; :meth:`RunModels.infer`
runs a model call there in the ``--precision`` chosen (default: the config's ``precision.test``).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable

import torch

from ..artifacts.paths import Artifacts
from ..engine.pipeline import config_hash
from ..engine.specs import det_model_cfg, load_weights, member_model_cfg, rcnn_model_cfg, rpn_model_cfg
from ..engine.stage import Stage
from ..utils.errors import UserInputError
from ..utils.precision import autocast, autocast_call
from ..utils.precision import read as read_precision

logger = logging.getLogger(__name__)


def config_mismatches(cfg, work_dir: Path, stages: Iterable[Stage]) -> list[str]:
    """Names of the ``stages`` whose manifest was made with other config sections than ``cfg``'s
    (the hash the pipeline itself records, :func:`~ilsvrc_pipe.engine.pipeline.config_hash` of the
    sections each stage reads). The caller hands the stages (``tools/predict.py``: the pipeline's own)."""
    art = Artifacts(work_dir)
    out = []
    for stage in stages:
        path = art.manifest(stage.name)
        try:
            manifest = json.loads(path.read_text()) if path.is_file() else None
        except json.JSONDecodeError:
            manifest = None
        if manifest is None:
            raise UserInputError(f"--work-dir {work_dir}: stage {stage.name!r} has not finished there "
                                 f"(no {path}); run it first")
        recorded = manifest.get("fingerprint", {}).get("config")
        if recorded != config_hash(cfg, stage.reads):   # the config alone: weight files need not be here
            out.append(stage.name)
    return out


def warn_config_mismatches(cfg, config_path: str, work_dir: Path, stages: Iterable[Stage]) -> None:
    names = config_mismatches(cfg, work_dir, stages)
    if names:
        logger.warning("%s (with the --cfg-options given) differs from the config stage(s) %s of %s ran with, in "
                       "the sections they read: pass the run's own config and --cfg-options, or the predictions "
                       "may not be the run's", config_path, ", ".join(names), work_dir)


def _load(model_cfg: dict, weights: Path, what: str, device=None):
    if not weights.is_file():
        raise FileNotFoundError(f"{what}: trained weights not found: {weights}")
    try:
        model = load_weights(model_cfg, weights)
    except (RuntimeError, KeyError) as exc:  # shapes or keys that do not fit: another config's model
        first = str(exc).strip().splitlines()[0]
        raise UserInputError(f"{weights}: these weights do not fit the {what} the config builds ({first}); "
                             "pass the config (and --cfg-options) of the run") from None
    return model if device is None else model.to(device)   # outside the try: a CUDA error is no misfit


class RunModels:
    """Builds and loads the run's models on demand (eval mode, batch norms folded) on ``device``;
    ``precision`` (fp32, bf16, fp16) defaults to the config's ``precision.test``."""

    def __init__(self, cfg, work_dir: str | Path, device: torch.device | str = "cpu", precision: str | None = None):
        self.cfg, self.art = cfg, Artifacts(work_dir)
        self.device = torch.device(device)
        self.precision = read_precision({"test": precision} if precision else cfg.get("precision", None))["test"]
        autocast(self.device, self.precision)   # one line now, not at the first image, if torch cannot
        if not self.art.classes().is_file():
            raise UserInputError(f"--work-dir {work_dir}: no {self.art.classes()}; is it a pipeline work dir?")
        self.classes = self.art.read_classes()
        self._cls_members = {m["name"]: m for m in cfg.cls.models}

    def infer(self, fn, /, *args, **kwargs):
        """``fn(*args, **kwargs)`` (a model call) in this run's inference precision, outputs float32."""
        return autocast_call(self.device, self.precision, fn, *args, **kwargs)

    def classifiers(self) -> dict:
        n = len(self.classes["clsloc"])
        return {name: _load(member_model_cfg(m, n), self.art.final_weights("cls", name), f"classifier {name}",
                           self.device)
                for name, m in self._cls_members.items()}

    def rpns(self) -> dict:
        n, section = len(self.classes["clsloc"]), self.cfg.rpn
        shapes = self.art.read_fitted_anchors("rpn") if section.get("anchor_fit") else None
        return {m["name"]: _load(rpn_model_cfg(m, section, self._cls_members, n, anchor_shapes=shapes),
                                 self.art.final_weights("rpn", m["name"]), f"RPN {m['name']}", self.device)
                for m in section["models"]}

    def rcnns(self) -> dict:
        n, section = len(self.classes["clsloc"]), self.cfg.rcnn
        return {m["name"]: _load(rcnn_model_cfg(m, section, self._cls_members, n),
                                 self.art.final_weights("rcnn", m["name"]), f"R-CNN {m['name']}", self.device)
                for m in section["models"]}

    def detectors(self, names: list[str]) -> dict:
        if "det" not in self.classes:
            raise UserInputError(f"--work-dir {self.art.work_dir}: the run has no DET classes (no DET data)")
        section = self.cfg.det
        members = {m["name"]: m for m in section["models"]}
        n = len(self.classes["det"])
        return {name: _load(det_model_cfg(members[name], section, self._cls_members, n),
                            self.art.final_weights("det", name), f"detector {name}", self.device)
                for name in names}
