"""Stage ``cls``: train the ensemble's classifiers (mmengine Runner), test them, write the top-5 table.

Outputs under ``work_dir/cls/``:

* ``models/<name>/``: the Runner's work dir (checkpoints, logs; an interrupted training resumes) and
  ``final.pth`` (the trained weights, written last);
* ``scores/<name>_<mode>_<split>.parquet``: per-model class probabilities (rows = images in split
  order, columns = WNIDs in sorted order) for modes center / ten_crop / dense; ``ensemble_<split>``;
* ``top5_<split>.parquet``: ``image_id, rank, wnid, score`` (the localization stages' input);
* ``metrics.json``: top-1/top-5 classification error of each model and mode and of the ensemble,
  through the official scorer.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..data.transforms import load_normalized
from ..evaluation.ground_truth import load_loc_ground_truth
from ..evaluation.loc import evaluate_loc
from ..io_utils import read_table, write_json_atomic, write_table_atomic
from ..models.classifier import average_probs, predict_center_crop, predict_dense, predict_ten_crop
from ..pipeline import StageContext, register_stage
from ..training import sgd_schedule
from ..registry import MODELS
from .data import read_class_lists

MODES = ("center", "ten_crop", "dense")


# -- training ------------------------------------------------------------------------------------
def member_model_cfg(member: dict, num_classes: int) -> dict:
    return {"type": "ResNetClassifier", "backbone": copy.deepcopy(member["backbone"]), "num_classes": num_classes}


def member_train_spec(member: dict, train_cfg: dict, data_dir: Path, num_classes: int) -> dict:
    """The Runner spec of one ensemble member (its own keys override the shared ``train`` ones)."""
    t = {**train_cfg, **member.get("train", {})}
    return dict(
        model=member_model_cfg(member, num_classes),
        train_dataloader=dict(
            dataset=dict(type="ClsLocDataset", data_dir=str(data_dir), split="train",
                         transform=dict(scale=tuple(t["scale"]), crop=t["crop"], flip=True, pca_std=t.get("pca_std", 0.1)),
                         cache_images=t.get("cache_images", False)),
            sampler=dict(type="DefaultSampler", shuffle=True),
            collate_fn=dict(type="default_collate"),
            batch_size=t["batch_size"], num_workers=t.get("num_workers", 0),
            persistent_workers=t.get("num_workers", 0) > 0),
        **sgd_schedule(t),
    )


def train_member(ctx: StageContext, member: dict, num_classes: int) -> Path:
    """Train one classifier unless its ``final.pth`` exists; returns that file."""
    from ..training import train_to_final

    spec = member_train_spec(member, ctx.section["train"], ctx.stage_dir("data"), num_classes)
    torch.set_num_threads(int(ctx.section.get("num_threads", torch.get_num_threads())))
    return train_to_final(spec, ctx.out_dir / "models" / member["name"], seed=int(member.get("seed", 0)),
                          log_interval=int(ctx.section.get("log_interval", 10)), logger=ctx.logger)


def load_member(member: dict, num_classes: int, weights: Path) -> torch.nn.Module:
    model = MODELS.build(member_model_cfg(member, num_classes))
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval().to(memory_format=torch.channels_last)


# -- testing -------------------------------------------------------------------------------------
def predict_modes(model, images: list[torch.Tensor], test_cfg: dict, modes=MODES) -> dict[str, torch.Tensor]:
    """Class probabilities of a batch of (normalised, native-size) images for each test mode."""
    out = {}
    if "center" in modes:
        out["center"] = predict_center_crop(model, images, scale=test_cfg["scale"], crop=test_cfg["crop"])
    if "ten_crop" in modes:
        out["ten_crop"] = predict_ten_crop(model, images, scale=test_cfg["scale"], crop=test_cfg["crop"])
    if "dense" in modes:
        out["dense"] = predict_dense(model, images, scales=test_cfg["dense_scales"], flip=True)
    return out


def score_split(ctx: StageContext, models: dict, split: str, modes) -> dict[tuple[str, str], pd.DataFrame]:
    """Probabilities per (model, mode) for every image of a split; cached tables are reused."""
    test_cfg = ctx.section["test"]
    images = read_table(ctx.stage_dir("data") / f"loc_{split}_images.parquet")
    wnids = list(read_class_lists(ctx.stage_dir("data"))["clsloc"].sorted_wnids)
    scores_dir = ctx.out_dir / "scores"
    todo = [(n, m) for n in models for m in modes if not (scores_dir / f"{n}_{m}_{split}.parquet").is_file()]
    if todo:
        # Images are decoded at native size; each test mode resizes them itself.
        parts = {key: [] for key in todo}
        chunk = int(test_cfg.get("batch_images", 64))
        for start in tqdm(range(0, len(images), chunk), desc=f"cls test {split}", unit="batch"):
            batch = [load_normalized(p) for p in images.path.iloc[start:start + chunk]]
            for name in {n for n, _ in todo}:
                probs = predict_modes(models[name], batch, test_cfg, [m for n, m in todo if n == name])
                for mode, p in probs.items():
                    parts[(name, mode)].append(p.numpy())
        for (name, mode), chunks in parts.items():
            table = pd.DataFrame(np.concatenate(chunks), columns=wnids, index=images.image_id.to_numpy())
            write_table_atomic(table.reset_index(names="image_id"), scores_dir / f"{name}_{mode}_{split}.parquet")
    return {(n, m): read_table(scores_dir / f"{n}_{m}_{split}.parquet").set_index("image_id") for n in models for m in modes}


def top5_table(probs: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """``image_id, rank (1..k), wnid, score``, best first."""
    values = probs.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    cols = np.asarray(probs.columns)
    return pd.DataFrame({
        "image_id": np.repeat(probs.index.to_numpy(), order.shape[1]),
        "rank": np.tile(np.arange(1, order.shape[1] + 1), len(probs)),
        "wnid": cols[order].ravel(),
        "score": np.take_along_axis(values, order, axis=1).ravel(),
    })


def classification_errors(probs: pd.DataFrame, synsets, gt) -> dict:
    """Official top-1/top-5 classification error (``cls_error`` of the devkit's LOC scorer)."""
    top = top5_table(probs)
    labels = np.array([synsets.id_of(w) for w in top.wnid], dtype=np.int64).reshape(len(probs), -1)
    if list(probs.index) != list(gt.stems):
        raise ValueError("score rows are not in the ground truth's (sorted file-name) order")
    res = evaluate_loc(labels, np.zeros(labels.shape + (4,)), gt)
    return {"top1_error": float(res["cls_error"][0]), "top5_error": float(res["cls_error"][4])}


@register_stage("cls", requires=("data",))
def run_cls_stage(ctx: StageContext) -> dict:
    """Train the classifiers, test them in every mode, ensemble them, write the top-5 tables."""
    section = ctx.section
    classes = read_class_lists(ctx.stage_dir("data"))["clsloc"]
    members = section["models"]
    if len({m["name"] for m in members}) != len(members):
        raise ValueError("cls.models: member names must be unique")
    models = {m["name"]: load_member(m, len(classes), train_member(ctx, m, len(classes))) for m in members}
    ens_mode = section.get("ensemble_mode", "dense")
    gt = load_loc_ground_truth(data_root=ctx.data_root, split="val")
    metrics: dict = {"ensemble": {}, "models": {}, "ensemble_mode": ens_mode, "members": list(models)}
    for split in ("val", "test"):
        if not (ctx.stage_dir("data") / f"loc_{split}_images.parquet").is_file():
            continue
        modes = MODES if split == "val" else (ens_mode,)
        scores = score_split(ctx, models, split, modes)
        ensemble = average_probs([torch.from_numpy(scores[(n, ens_mode)].to_numpy()) for n in models]).numpy()
        ensemble = pd.DataFrame(ensemble, index=scores[(next(iter(models)), ens_mode)].index,
                                columns=list(classes.sorted_wnids))
        write_table_atomic(ensemble.reset_index(names="image_id"), ctx.out_dir / "scores" / f"ensemble_{split}.parquet")
        write_table_atomic(top5_table(ensemble), ctx.out_dir / f"top5_{split}.parquet")
        if split == "val":
            for (name, mode), probs in scores.items():
                metrics["models"].setdefault(name, {})[mode] = classification_errors(probs, classes, gt)
            metrics["ensemble"] = classification_errors(ensemble, classes, gt)
    write_json_atomic(ctx.out_dir / "metrics.json", metrics)
    for name, per_mode in metrics["models"].items():
        ctx.logger.info("cls %-14s %s", name, "  ".join(
            f"{m}: top1 {v['top1_error']:.4f} top5 {v['top5_error']:.4f}" for m, v in per_mode.items()))
    ctx.logger.info("cls %-14s top1 %.4f top5 %.4f", "ensemble", metrics["ensemble"]["top1_error"],
                    metrics["ensemble"]["top5_error"])
    return metrics
