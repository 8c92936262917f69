"""Stage ``cls``: train the ensemble's classifiers (mmengine Runner), test them, write the top-5 table.

Outputs (names in ``artifacts/paths.py``): each classifier's Runner work dir and final weights; per-model
class probabilities for the test modes center / ten_crop / dense (rows: images in split order,
columns: WNIDs in sorted order) and the ensemble's; the ensemble's top-5 table (the localization
stages' input); ``metrics.json`` with the official top-1/top-5 classification error of each model,
mode and of the ensemble. An image flagged corrupt by ``data`` gets uniform probabilities.

A member with ``pretrained`` weights (``models/backbone/pretrained.py``) is fine-tuned from them, or, with
``max_epochs=0``, evaluated as it is: its pretrained weights become its final weights, which later
stages read as they read trained ones. The weight files' bytes enter the stage's fingerprint.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..artifacts.parts import PartedTable, read_result_table
from ..artifacts.tables import top5_table
from ..data.transforms import NormalizedImages
from ..engine.chunked_inference import empty_table
from ..engine.specs import load_weights, member_model_cfg, member_train_spec
from ..engine.stage import Stage, StageContext, register_stage
from ..evaluation.loc import evaluate_loc
from ..models.backbone.pretrained import resolve_pretrained, write_pretrained_final
from ..models.classification.view_modes import MODES, average_probs, predict_modes


def score_split(ctx: StageContext, models: dict, split: str, modes, wnids: list[str]) -> None:
    """Probabilities per (model, mode) for every image of a split, as parted tables (rows: images in
    split order; an image flagged corrupt gets uniform probabilities); finished parts are kept."""
    art, test_cfg = ctx.artifacts, ctx.section["test"]
    images = art.read_images("loc", split)
    corrupt = images.corrupt.to_numpy(bool) if "corrupt" in images else np.zeros(len(images), bool)
    image_ids = images.image_id.to_numpy()
    keys = [(n, m) for n in models for m in modes]
    tables = {f"{n}/{m}": art.cls_scores(n, m, split) for n, m in keys}
    empty = {key: empty_table(["image_id", *wnids], {w: np.float32 for w in wnids}) for key in tables}

    def run_batch(indices: list[int], batch: list) -> dict[str, pd.DataFrame]:
        rows = np.asarray(indices)
        readable = [k for k, i in enumerate(indices) if not corrupt[i]]
        probs = {key: np.full((len(indices), len(wnids)), 1.0 / len(wnids), dtype=np.float32) for key in tables}
        if readable:
            inputs = [batch[k].to(ctx.device) for k in readable]   # native size; the modes resize
            for name in models:
                out = ctx.infer(predict_modes, models[name], inputs, test_cfg, list(modes))
                for mode, p in out.items():
                    probs[f"{name}/{mode}"][readable] = p.cpu().numpy()
        return {key: score_frame(image_ids[rows], values, wnids) for key, values in probs.items()}

    ctx.infer_in_chunks(tables, empty, len(images), run_batch, NormalizedImages(images.path, np.flatnonzero(corrupt)),
                        batch_size=int(test_cfg.get("batch_images", 64)), desc=f"cls test {split}")


def score_frame(image_ids, probs: np.ndarray, wnids: list[str]) -> pd.DataFrame:
    """A score table's rows: ``image_id`` and one float32 column per WNID (sorted order)."""
    frame = pd.DataFrame(probs, columns=wnids)
    frame.insert(0, "image_id", image_ids)
    return frame


def ensemble_split(ctx: StageContext, members: list[str], split: str, modes, ens_mode: str, wnids: list[str]) -> None:
    """Chunk by chunk, from the members' score parts: the ensemble's probabilities (the members'
    ``ens_mode`` scores averaged), its top-5 table, and every member's top-5 table per mode."""
    art = ctx.artifacts
    first = PartedTable(art.cls_scores(members[0], ens_mode, split))
    tables = {"ensemble": art.ensemble_scores(split), "top5": art.top5(split),
              **{f"top5/{n}/{m}": art.member_top5(n, m, split) for n in members for m in modes}}
    top5_columns = {"rank": np.int64, "score": np.float32}
    empty = {key: empty_table(["image_id", *wnids], {w: np.float32 for w in wnids}) if key == "ensemble"
             else empty_table(["image_id", "rank", "wnid", "score"], top5_columns) for key in tables}
    chunk_images = int(ctx.section["test"].get("chunk_images", 1000))

    def run_chunk(indices: list[int], _) -> dict[str, pd.DataFrame]:
        chunk = indices[0] // chunk_images
        scores = {(n, m): PartedTable(art.cls_scores(n, m, split)).read_part(chunk).set_index("image_id")
                  for n in members for m in modes}
        ensemble = average_probs([torch.from_numpy(scores[(n, ens_mode)].to_numpy(copy=True)) for n in members]).numpy()
        ensemble = pd.DataFrame(ensemble, index=scores[(members[0], ens_mode)].index, columns=wnids)
        out = {"ensemble": ensemble.reset_index(names="image_id"), "top5": top5_table(ensemble)}
        out.update({f"top5/{n}/{m}": top5_table(probs) for (n, m), probs in scores.items()})
        return out

    ctx.infer_in_chunks(tables, empty, first.n_parts() * chunk_images if first.is_complete() else 0, run_chunk,
                        batch_size=chunk_images)


def classification_errors(top5: pd.DataFrame, synsets, gt) -> dict:
    """Official top-1/top-5 classification error (``cls_error`` of the devkit's LOC scorer) of a
    top-5 table whose images are the ground truth's, in its (sorted file-name) order."""
    n = len(gt.stems)
    if len(top5) % max(n, 1) or list(top5.image_id.to_numpy().reshape(n, -1)[:, 0]) != list(gt.stems):
        raise ValueError("score rows are not in the ground truth's (sorted file-name) order")
    # k guesses per image: 5, or every class when there are fewer
    labels = np.array([synsets.id_of(w) for w in top5.wnid], dtype=np.int64).reshape(n, -1)
    res = evaluate_loc(labels, np.zeros(labels.shape + (4,)), gt)
    return {"top1_error": float(res["cls_error"][0]), "top5_error": float(res["cls_error"][4])}


def member_trainings(ctx: StageContext) -> list[tuple[str, dict, int]]:
    """``(name, Runner spec, seed)`` of each classifier; a spec with ``max_epochs`` 0 is a member that
    evaluates its pretrained weights untrained."""
    section, art = ctx.section, ctx.artifacts
    classes = len(art.read_classes()["clsloc"])
    return [(m["name"], member_train_spec(m, section["train"], art, classes), int(m.get("seed", 0)))
            for m in section["models"]]


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
        finals, trainings = {}, []
        for name, spec, seed in member_trainings(ctx):
            if spec["max_epochs"] == 0:
                finals[name] = write_pretrained_final(spec["model"], art.final_weights("cls", name), seed)
            else:
                trainings.append((name, spec, seed))
        finals.update(zip([t[0] for t in trainings], ctx.train_members(trainings)))
        models = {m["name"]: load_weights(member_model_cfg(m, len(classes)), finals[m["name"]], device=ctx.device)
                  for m in members}
        ens_mode = section.get("ensemble_mode", "dense")
        has_gt = art.ground_truth("loc", "val").is_file()
        gt = art.read_loc_ground_truth("val") if has_gt else None
        metrics: dict = {"ensemble": {}, "models": {}, "ensemble_mode": ens_mode, "members": list(models)}
        for split in ("val", "test"):
            if not art.has_records("loc", split):
                continue
            modes = MODES if split == "val" else (ens_mode,)
            score_split(ctx, models, split, modes, wnids)
            ensemble_split(ctx, list(models), split, modes, ens_mode, wnids)
            if split == "val" and gt is not None:
                for name in models:
                    for mode in modes:
                        top5 = read_result_table(art.member_top5(name, mode, split))
                        metrics["models"].setdefault(name, {})[mode] = classification_errors(top5, classes, gt)
                metrics["ensemble"] = classification_errors(read_result_table(art.top5(split)), classes, gt)
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
