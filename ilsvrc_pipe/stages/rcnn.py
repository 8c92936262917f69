"""Stage ``rcnn``: train the RoI-centric R-CNNs and rescore / move the RPN proposals.

Localizer i is (RPN i, R-CNN i); R-CNN i trains on RPN i's train proposals of the ground-truth
class (RoI-centric batches: regions of many images). At test time every requested (image, class)
has the union of the RPNs' top proposals; each R-CNN scores and regresses all of them once, and:

* ``boxes/<rcnn name>_<split>.parquet``: localizer i alone (its own RPN's proposals, its scores);
* ``boxes/ensemble_<split>.parquet``: the ensemble (union of proposals, scores and regressed boxes
  averaged over the R-CNNs).

Each table holds the best box per (image, class) as rank 1.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
from tqdm import tqdm

from ..data.transforms import load_normalized
from ..io_utils import read_table, write_table_atomic
from ..models.rcnn import refine_proposals
from ..pipeline import StageContext, register_stage
from ..registry import MODELS
from ..training import sgd_schedule, train_to_final
from .data import read_class_lists
from .loc_common import box_table


def rcnn_model_cfg(member: dict, section: dict, cls_members: dict, num_classes: int, init: Path | None) -> dict:
    cfg = {"type": "RoIRCNN", "backbone": copy.deepcopy(cls_members[member["init_from"]]["backbone"]),
           "num_classes": num_classes, **copy.deepcopy(section["model"])}
    if init is not None:
        cfg["init_from_classifier"] = str(init)
    return cfg


def top_proposals(table, top_k: int):
    """The ``top_k`` best proposals of each (image, class)."""
    return table[table["rank"] <= top_k]


def rcnn_train_spec(model_cfg: dict, train: dict, regions: Path, data_dir: Path, num_classes: int) -> dict:
    m = model_cfg
    return dict(
        model=m,
        train_dataloader=dict(
            dataset=dict(type="RoICropDataset", proposals=str(regions), data_dir=str(data_dir), split="train",
                         num_classes=num_classes, crop_size=m.get("crop_size", 224), context_pad=m.get("context_pad", 0),
                         box_coder_weights=m.get("box_coder_weights", (10.0, 10.0, 5.0, 5.0)),
                         fg_iou=train.get("fg_iou", 0.5), bg_iou=tuple(train.get("bg_iou", (0.1, 0.5))),
                         fg_fraction=train.get("fg_fraction", 0.25), cache_images=train.get("cache_images", False)),
            sampler=dict(type="DefaultSampler", shuffle=True),
            collate_fn=dict(type="rcnn_collate"),
            batch_size=train["batch_size"], num_workers=train.get("num_workers", 0)),
        **sgd_schedule(train),
    )


def union_proposals(groups: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Union of several localizers' boxes of one (image, class): (U, 4) boxes and (k, U) membership."""
    boxes = torch.cat(groups)
    unique, inverse = torch.unique(boxes, dim=0, return_inverse=True)
    member = torch.zeros(len(groups), unique.shape[0], dtype=torch.bool)
    start = 0
    for k, g in enumerate(groups):
        member[k, inverse[start: start + g.shape[0]]] = True
        start += g.shape[0]
    return unique, member


def _best(image_id, wnid, boxes: torch.Tensor, scores: torch.Tensor, keep: torch.Tensor | None = None) -> tuple:
    s = scores if keep is None else scores.masked_fill(~keep, -1.0)
    i = int(s.argmax())
    return (image_id, wnid, 1, float(scores[i]), *boxes[i].tolist())


def rescore_split(ctx: StageContext, models: dict, members: list[dict], split: str) -> None:
    """Best box per (image, class) for each localizer alone and for the ensemble."""
    section = ctx.section
    names = [m["name"] for m in members]
    out = {n: ctx.out_dir / "boxes" / f"{n}_{split}.parquet" for n in names + ["ensemble"]}
    if all(p.is_file() for p in out.values()):
        return
    top_k = int(section["test"]["top_k"])
    classes = read_class_lists(ctx.stage_dir("data"))["clsloc"]
    props = [top_proposals(read_table(ctx.stage_dir("rpn") / "proposals" / f"{m['rpn']}_dense_{split}.parquet"), top_k)
             for m in members]
    grouped = [{k: torch.as_tensor(g[["x1", "y1", "x2", "y2"]].to_numpy(), dtype=torch.float32)
                for k, g in p.groupby(["image_id", "wnid"], sort=False)} for p in props]
    images = read_table(ctx.stage_dir("data") / f"loc_{split}_images.parquet").set_index("image_id")
    by_image: dict[str, list[str]] = {}
    for image_id, wnid in grouped[0]:
        by_image.setdefault(image_id, []).append(wnid)
    rows: dict[str, list] = {n: [] for n in out}
    batch = int(section["test"].get("batch_size", 256))
    for image_id, wnids in tqdm(by_image.items(), desc=f"rcnn {split}", unit="img"):
        image = load_normalized(images.at[image_id, "path"])
        unions = {w: union_proposals([g.get((image_id, w), torch.zeros(0, 4)) for g in grouped]) for w in wnids}
        wnids = [w for w in wnids if unions[w][0].shape[0] > 0]
        request = {classes.index_of(w): unions[w][0] for w in wnids}
        outputs = [refine_proposals(models[n], image, request, batch_size=batch, sort=False) for n in names]
        for w in wnids:
            c, (_, member) = classes.index_of(w), unions[w]
            for k, n in enumerate(names):
                if member[k].any():
                    rows[n].append(_best(image_id, w, outputs[k][c].boxes, outputs[k][c].scores, member[k]))
            mean_boxes = torch.stack([o[c].boxes for o in outputs]).mean(0)
            mean_scores = torch.stack([o[c].scores for o in outputs]).mean(0)
            rows["ensemble"].append(_best(image_id, w, mean_boxes, mean_scores))
    for n, path in out.items():
        write_table_atomic(box_table(rows[n]), path)


@register_stage("rcnn", requires=("data", "cls", "rpn"))
def run_rcnn_stage(ctx: StageContext) -> dict:
    """Train each R-CNN on its RPN's proposals; rescore and move the val/test proposals."""
    section = ctx.section
    num_classes = len(read_class_lists(ctx.stage_dir("data"))["clsloc"])
    cls_members = {m["name"]: m for m in ctx.cfg.cls.models}
    torch.set_num_threads(int(section.get("num_threads", torch.get_num_threads())))
    members, models = section["models"], {}
    for member in members:
        name = member["name"]
        train = {**section["train"], **member.get("train", {})}
        regions = ctx.out_dir / "train_regions" / f"{name}.parquet"
        if not regions.is_file():
            table = read_table(ctx.stage_dir("rpn") / "proposals" / f"{member['rpn']}_dense_train.parquet")
            write_table_atomic(top_proposals(table, int(train["top_k"])), regions)
        init = ctx.stage_dir("cls") / "models" / member["init_from"] / "final.pth"
        spec = rcnn_train_spec(rcnn_model_cfg(member, section, cls_members, num_classes, init), train, regions,
                               ctx.stage_dir("data"), num_classes)
        final = train_to_final(spec, ctx.out_dir / "models" / name, seed=int(member.get("seed", 0)),
                               log_interval=int(section.get("log_interval", 10)), logger=ctx.logger)
        model = MODELS.build(rcnn_model_cfg(member, section, cls_members, num_classes, None))
        model.load_state_dict(torch.load(final, map_location="cpu", weights_only=True))
        models[name] = model.eval().to(memory_format=torch.channels_last)
    for split in ("val", "test"):
        if (ctx.stage_dir("rpn") / "proposals" / f"{members[0]['rpn']}_dense_{split}.parquet").is_file():
            rescore_split(ctx, models, members, split)
    return {"members": [m["name"] for m in members]}
