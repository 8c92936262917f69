"""Stage ``rcnn``: train the RoI-centric R-CNNs and rescore / move the RPN proposals.

Localizer i is (RPN i, R-CNN i); R-CNN i trains on RPN i's train proposals of the ground-truth
class (RoI-centric batches: regions of many images). At test time every requested (image, class)
has the union of the RPNs' top proposals; each R-CNN scores and regresses all of them once, and
two kinds of box tables are written (names in ``artifacts.py``): localizer i alone (its own RPN's
proposals, its scores), and the ensemble (union of proposals, scores and regressed boxes averaged
over the R-CNNs). Each table holds the best box per (image, class) as rank 1.
"""
from __future__ import annotations

import torch
from tqdm import tqdm

from ..data.transforms import load_normalized
from ..distributed import gather_dict, is_main, shard
from ..io_utils import read_table, write_table_atomic
from ..models.localizer import rescore_image, union_proposals  # noqa: F401 (union_proposals: re-exported)
from ..specs import load_weights, rcnn_model_cfg, rcnn_train_spec
from ..tables import box_table
from .base import Stage, StageContext, register_stage


def top_proposals(table, top_k: int):
    """The ``top_k`` best proposals of each (image, class)."""
    return table[table["rank"] <= top_k]


def rescore_split(ctx: StageContext, models: dict, members: list[dict], split: str) -> None:
    """Best box per (image, class) for each localizer alone and for the ensemble."""
    section, art = ctx.section, ctx.artifacts
    names = [m["name"] for m in members]
    out = {n: art.rcnn_boxes(n, split) for n in names + ["ensemble"]}
    if all(p.is_file() for p in out.values()):
        return
    top_k = int(section["test"]["top_k"])
    classes = art.read_classes()["clsloc"]
    props = [top_proposals(read_table(art.proposals(m["rpn"], "dense", split)), top_k) for m in members]
    grouped = [{k: torch.as_tensor(g[["x1", "y1", "x2", "y2"]].to_numpy(), dtype=torch.float32)
                for k, g in p.groupby(["image_id", "wnid"], sort=False)} for p in props]
    images = art.read_images("loc", split).set_index("image_id")
    by_image: dict[str, list[str]] = {}
    for image_id, wnid in grouped[0]:
        by_image.setdefault(image_id, []).append(wnid)
    per_image: dict[str, dict[str, list]] = {}   # this rank's images (all in one process)
    batch = int(section["test"].get("batch_size", 256))
    for image_id in tqdm(shard(list(by_image)), desc=f"rcnn {split}", unit="img", disable=not is_main()):
        wnids = by_image[image_id]
        rows = per_image[image_id] = {n: [] for n in out}
        image = load_normalized(images.at[image_id, "path"]).to(ctx.device)
        proposals = [{classes.index_of(w): g.get((image_id, w), torch.zeros(0, 4)) for w in wnids} for g in grouped]
        singles, ensemble = ctx.infer(rescore_image, [models[n] for n in names], image, proposals, batch)
        for w in wnids:
            c = classes.index_of(w)
            for n, best in [*zip(names, singles), ("ensemble", ensemble)]:
                if c in best:
                    rows[n].append((image_id, w, 1, best[c][1], *best[c][0]))
    per_image = gather_dict(per_image)
    for n, path in out.items():
        write_table_atomic(box_table([row for image_id in by_image for row in per_image[image_id][n]]), path)


@register_stage
class RCNNStage(Stage):
    """Train each R-CNN on its RPN's proposals; rescore and move the val/test proposals."""

    name = "rcnn"
    requires = ("data", "cls", "rpn")
    reads = ("rcnn", "cls", "precision")

    def run(self, ctx: StageContext) -> dict:
        section, art = ctx.section, ctx.artifacts
        num_classes = len(art.read_classes()["clsloc"])
        cls_members = {m["name"]: m for m in ctx.cfg.cls.models}
        members, models = section["models"], {}
        for member in members:
            name, seed = member["name"], int(member.get("seed", 0))
            train = {**section["train"], **member.get("train", {})}
            regions = art.train_regions(name)
            if not regions.is_file():
                table = read_table(art.proposals(member["rpn"], "dense", "train"))
                write_table_atomic(top_proposals(table, int(train["top_k"])), regions)
            init = art.final_weights("cls", member["init_from"])
            spec = rcnn_train_spec(rcnn_model_cfg(member, section, cls_members, num_classes, init), train, regions,
                                   art, num_classes, seed)
            final = ctx.train(name, spec, seed=seed)
            models[name] = load_weights(rcnn_model_cfg(member, section, cls_members, num_classes), final,
                                        device=ctx.device)
        for split in ("val", "test"):
            if art.proposals(members[0]["rpn"], "dense", split).is_file():
                rescore_split(ctx, models, members, split)
        return {"members": [m["name"] for m in members]}
