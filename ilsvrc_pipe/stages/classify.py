"""Stage ``cls``: train the ensemble's classifiers (mmengine Runner), test them, write the top-5 table.

Outputs (names in ``artifacts.py``): each classifier's Runner work dir and final weights; per-model
class probabilities for the test modes center / ten_crop / dense (rows: images in split order,
columns: WNIDs in sorted order) and the ensemble's; the ensemble's top-5 table (the localization
stages' input); ``metrics.json`` with the official top-1/top-5 classification error of each model,
mode and of the ensemble. An image flagged corrupt by ``data`` gets uniform probabilities.

A member with ``pretrained`` weights (``models/pretrained.py``) is fine-tuned from them, or, with
``max_epochs=0``, evaluated as it is: its pretrained weights become its final weights, which later
stages read as they read trained ones. The weight files' bytes enter the stage's fingerprint.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..data.transforms import load_normalized
from ..distributed import gather_dict, is_main, shard
from ..evaluation.loc import evaluate_loc
from ..io_utils import write_table_atomic
from ..models.pretrained import resolve_pretrained, write_pretrained_final
from ..models.test_modes import (DEFAULT_DENSE_AVERAGE, average_probs, predict_center_crop, predict_dense,
                                 predict_ten_crop)
from ..specs import load_weights, member_model_cfg, member_train_spec
from ..tables import top5_table
from .base import Stage, StageContext, register_stage

MODES = ("center", "ten_crop", "dense")


def predict_modes(model, images: list[torch.Tensor], test_cfg: dict, modes=MODES) -> dict[str, torch.Tensor]:
    """Class probabilities of a batch of (normalised, native-size) images for each test mode."""
    out = {}
    if "center" in modes:
        out["center"] = predict_center_crop(model, images, scale=test_cfg["scale"], crop=test_cfg["crop"])
    if "ten_crop" in modes:
        out["ten_crop"] = predict_ten_crop(model, images, scale=test_cfg["scale"], crop=test_cfg["crop"])
    if "dense" in modes:
        out["dense"] = predict_dense(model, images, scales=test_cfg["dense_scales"], flip=True,
                                     average=test_cfg.get("dense_average", DEFAULT_DENSE_AVERAGE))
    return out


def score_split(ctx: StageContext, models: dict, split: str, modes, wnids: list[str]) -> dict[tuple[str, str], pd.DataFrame]:
    """Probabilities per (model, mode) for every image of a split; finished tables are reused."""
    art, test_cfg = ctx.artifacts, ctx.section["test"]
    images = art.read_images("loc", split)
    corrupt = images.corrupt.to_numpy(bool) if "corrupt" in images else np.zeros(len(images), bool)
    todo = [(n, m) for n in models for m in modes if not art.cls_scores(n, m, split).is_file()]
    if todo:
        parts = {key: np.full((len(images), len(wnids)), 1.0 / len(wnids), dtype=np.float32) for key in todo}
        readable = np.flatnonzero(~corrupt)
        chunk = int(test_cfg.get("batch_images", 64))
        done = {}   # this rank's chunks (all of them in one process): start -> {(model, mode): probs}
        for start in tqdm(shard(range(0, len(readable), chunk)), desc=f"cls test {split}", unit="batch",
                          disable=not is_main()):
            rows = readable[start:start + chunk]
            batch = [load_normalized(p).to(ctx.device) for p in images.path.iloc[rows]]  # native size; modes resize
            done[start] = {}
            for name in {n for n, _ in todo}:
                probs = ctx.infer(predict_modes, models[name], batch, test_cfg,
                                  [m for n, m in todo if n == name])
                done[start].update({(name, mode): p.cpu().numpy() for mode, p in probs.items()})
        for start, probs in gather_dict(done).items():
            for key, values in probs.items():
                parts[key][readable[start:start + chunk]] = values
        for (name, mode), values in parts.items():
            art.write_scores(art.cls_scores(name, mode, split),
                             pd.DataFrame(values, columns=wnids, index=images.image_id.to_numpy()))
    return {(n, m): art.read_scores(art.cls_scores(n, m, split)) for n in models for m in modes}


def classification_errors(probs: pd.DataFrame, synsets, gt) -> dict:
    """Official top-1/top-5 classification error (``cls_error`` of the devkit's LOC scorer)."""
    top = top5_table(probs)
    labels = np.array([synsets.id_of(w) for w in top.wnid], dtype=np.int64).reshape(len(probs), -1)
    if list(probs.index) != list(gt.stems):
        raise ValueError("score rows are not in the ground truth's (sorted file-name) order")
    res = evaluate_loc(labels, np.zeros(labels.shape + (4,)), gt)
    return {"top1_error": float(res["cls_error"][0]), "top5_error": float(res["cls_error"][4])}


@register_stage
class ClassifyStage(Stage):
    """Train the classifiers, test them in every mode, ensemble them, write the top-5 tables."""

    name = "cls"
    requires = ("data",)
    reads = ("cls", "precision")

    def external_files(self, cfg) -> dict[str, Path]:
        """Every member's ``pretrained`` weight file (resolved as the stage loads it)."""
        return {f"cls.models.{m['name']}.pretrained":
                resolve_pretrained(m["pretrained"], f"cls member {m['name']}: pretrained")
                for m in (cfg.cls.get("models") or []) if m.get("pretrained")}

    def run(self, ctx: StageContext) -> dict:
        section, art = ctx.section, ctx.artifacts
        classes = art.read_classes()["clsloc"]
        wnids = list(classes.sorted_wnids)
        members = section["models"]
        if len({m["name"] for m in members}) != len(members):
            raise ValueError("cls.models: member names must be unique")
        models = {}
        for m in members:
            spec, seed = member_train_spec(m, section["train"], art, len(classes)), int(m.get("seed", 0))
            if spec["max_epochs"] == 0:
                final = write_pretrained_final(spec["model"], art.final_weights("cls", m["name"]), seed)
            else:
                final = ctx.train(m["name"], spec, seed=seed)
            models[m["name"]] = load_weights(member_model_cfg(m, len(classes)), final, device=ctx.device)
        ens_mode = section.get("ensemble_mode", "dense")
        has_gt = art.ground_truth("loc", "val").is_file()
        gt = art.read_loc_ground_truth("val") if has_gt else None
        metrics: dict = {"ensemble": {}, "models": {}, "ensemble_mode": ens_mode, "members": list(models)}
        for split in ("val", "test"):
            if not art.has_records("loc", split):
                continue
            modes = MODES if split == "val" else (ens_mode,)
            scores = score_split(ctx, models, split, modes, wnids)
            ensemble = average_probs([torch.from_numpy(scores[(n, ens_mode)].to_numpy(copy=True)) for n in models]).numpy()
            ensemble = pd.DataFrame(ensemble, index=scores[(next(iter(models)), ens_mode)].index, columns=wnids)
            art.write_scores(art.ensemble_scores(split), ensemble)
            write_table_atomic(top5_table(ensemble), art.top5(split))
            if split == "val" and gt is not None:
                for (name, mode), probs in scores.items():
                    metrics["models"].setdefault(name, {})[mode] = classification_errors(probs, classes, gt)
                metrics["ensemble"] = classification_errors(ensemble, classes, gt)
        if gt is None:
            ctx.logger.warning("no LOC val ground truth (data stage): classification errors not scored")
        art.write_metrics("cls", metrics)
        for name, per_mode in metrics["models"].items():
            ctx.logger.info("cls %-14s %s", name, "  ".join(
                f"{m}: top1 {v['top1_error']:.4f} top5 {v['top5_error']:.4f}" for m, v in per_mode.items()))
        if metrics["ensemble"]:
            ctx.logger.info("cls %-14s top1 %.4f top5 %.4f", "ensemble", metrics["ensemble"]["top1_error"],
                            metrics["ensemble"]["top5_error"])
        return metrics
