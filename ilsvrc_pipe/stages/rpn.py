"""Stage ``rpn``: train the per-class RPNs (one per localizer of the ensemble) and write proposals.

Each RPN starts from a classifier of the ``cls`` stage. Outputs under ``work_dir/rpn/``:

* ``models/<name>/`` Runner work dir and ``final.pth``;
* ``proposals/<name>_<mode>_<split>.parquet``: box tables (top-K per image and class) for
  val and test (center and dense modes; the predicted classes, and on val the ground-truth class)
  and train (dense; the ground-truth class: the R-CNN's training data).
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
from tqdm import tqdm

from ..data.transforms import load_normalized
from ..io_utils import read_table, write_table_atomic
from ..models.per_class_rpn import propose_center_crop, propose_dense
from ..pipeline import StageContext, register_stage
from ..registry import MODELS
from ..training import sgd_schedule, train_to_final
from .data import read_class_lists
from .loc_common import box_table, requested_classes


def rpn_model_cfg(member: dict, section: dict, cls_members: dict, num_classes: int, init: Path | None) -> dict:
    """PerClassRPN config: the trunk of classifier ``member['init_from']`` up to ``out_stage``."""
    source = cls_members[member["init_from"]]
    backbone = {**copy.deepcopy(source["backbone"]), "out_indices": (int(section.get("out_stage", 3)),)}
    cfg = {"type": "PerClassRPN", "backbone": backbone, "num_classes": num_classes, **copy.deepcopy(section["model"])}
    if init is not None:
        cfg["init_from_classifier"] = str(init)
    return cfg


def rpn_train_spec(model_cfg: dict, train: dict, data_dir: Path) -> dict:
    return dict(
        model=model_cfg,
        train_dataloader=dict(
            dataset=dict(type="RPNCropDataset", data_dir=str(data_dir), split="train", crop_size=train["crop"],
                         scale=tuple(train["scale"]), flip=True, cache_images=train.get("cache_images", False)),
            sampler=dict(type="DefaultSampler", shuffle=True),
            collate_fn=dict(type="rpn_collate"),
            batch_size=train["batch_size"], num_workers=train.get("num_workers", 0)),
        **sgd_schedule(train),
    )


def _proposal_rows(image_id: str, per_class: dict, index_to_wnid) -> list[tuple]:
    rows = []
    for c, sb in per_class.items():
        for rank, (box, score) in enumerate(zip(sb.boxes.tolist(), sb.scores.tolist()), 1):
            rows.append((image_id, index_to_wnid(c), rank, score, *box))
    return rows


def write_proposals(ctx: StageContext, model, name: str, split: str, modes: tuple[str, ...]) -> None:
    """Proposals of every requested (image, class) of a split, one table per mode (cached)."""
    test = ctx.section["test"]
    classes = read_class_lists(ctx.stage_dir("data"))["clsloc"]
    out = {m: ctx.out_dir / "proposals" / f"{name}_{m}_{split}.parquet" for m in modes}
    modes = tuple(m for m in modes if not out[m].is_file())
    if not modes:
        return
    images = read_table(ctx.stage_dir("data") / f"loc_{split}_images.parquet").set_index("image_id")
    wanted = requested_classes(ctx.work_dir, split)
    rows: dict[str, list] = {m: [] for m in modes}
    for image_id, wnids in tqdm(wanted.items(), desc=f"rpn {name} {split}", unit="img"):
        image = load_normalized(images.at[image_id, "path"])
        idx = [classes.index_of(w) for w in wnids]
        if "center" in modes:
            props = propose_center_crop(model, [image], [idx], scale=test["scale"], crop=test["crop"])[0]
            rows["center"] += _proposal_rows(image_id, props, classes.wnid_of_index)
        if "dense" in modes:
            props = propose_dense(model, image, idx, scales=test["dense_scales"])
            rows["dense"] += _proposal_rows(image_id, props, classes.wnid_of_index)
    for m in modes:
        write_table_atomic(box_table(rows[m]), out[m])


@register_stage("rpn", requires=("data", "cls"))
def run_rpn_stage(ctx: StageContext) -> dict:
    """Train each per-class RPN from its classifier; propose boxes for train, val and test."""
    section = ctx.section
    num_classes = len(read_class_lists(ctx.stage_dir("data"))["clsloc"])
    cls_members = {m["name"]: m for m in ctx.cfg.cls.models}
    torch.set_num_threads(int(section.get("num_threads", torch.get_num_threads())))
    figures = {}
    for member in section["models"]:
        name = member["name"]
        init = ctx.stage_dir("cls") / "models" / member["init_from"] / "final.pth"
        spec = rpn_train_spec(rpn_model_cfg(member, section, cls_members, num_classes, init),
                              {**section["train"], **member.get("train", {})}, ctx.stage_dir("data"))
        final = train_to_final(spec, ctx.out_dir / "models" / name, seed=int(member.get("seed", 0)),
                               log_interval=int(section.get("log_interval", 10)), logger=ctx.logger)
        model = MODELS.build(rpn_model_cfg(member, section, cls_members, num_classes, None))
        model.load_state_dict(torch.load(final, map_location="cpu", weights_only=True))
        model.eval().to(memory_format=torch.channels_last)
        write_proposals(ctx, model, name, "val", ("center", "dense"))
        write_proposals(ctx, model, name, "train", ("dense",))
        if (ctx.stage_dir("cls") / "top5_test.parquet").is_file():
            write_proposals(ctx, model, name, "test", ("center", "dense"))
        figures[name] = str(final)
    return figures
