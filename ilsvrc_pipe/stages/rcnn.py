"""Stage ``rcnn``: train the RoI-centric R-CNNs and rescore / move the RPN proposals.

Localizer i is (RPN i, R-CNN i); R-CNN i trains on RPN i's train proposals of the ground-truth
class (RoI-centric batches: regions of many images). At test time every requested (image, class)
has the union of the RPNs' top proposals; each R-CNN scores and regresses all of them once, and
two kinds of box tables are written (names in ``artifacts/paths.py``): localizer i alone (its own RPN's
proposals, its scores), and the ensemble (union of proposals, scores and regressed boxes averaged
over the R-CNNs). Each table holds the best box per (image, class) as rank 1.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..artifacts.parts import PartedTable, table_done
from ..artifacts.tables import box_frame, box_table, requested_classes
from ..data.transforms import NormalizedImages
from ..engine.rows import loc_classifiers
from ..engine.specs import load_weights, rcnn_model_cfg, rcnn_train_spec
from ..engine.stage import Stage, StageContext, register_stage
from ..models.localization.rescoring import rescore_image
from ..utils.io_utils import write_table_atomic


def top_proposals(table, top_k: int):
    """The ``top_k`` best proposals of each (image, class)."""
    return table[table["rank"] <= top_k]


class ProposalsByChunk:
    """One RPN's proposals of the images of the current chunk, grouped by (image, class) as tensors:
    the rescoring loop walks the RPN's image list in order, so each part is read once."""

    def __init__(self, table: PartedTable, top_k: int):
        self.table, self.top_k, self.items, self.groups, self.classes = table, top_k, range(0), {}, {}

    def of(self, item: int, chunk_items: int) -> dict:
        """``(image_id, wnid) -> (P, 4)`` proposals of the chunk holding loop item ``item``."""
        if item not in self.items:
            start = item - item % chunk_items
            self.items = range(start, start + chunk_items)
            rows = top_proposals(self.table.read_items(self.items), self.top_k)
            self.groups = {k: torch.as_tensor(g[["x1", "y1", "x2", "y2"]].to_numpy(), dtype=torch.float32)
                           for k, g in rows.groupby(["image_id", "wnid"], sort=False)}
            self.classes = {}
            for image_id, wnid in self.groups:   # each image's classes, in the table's order
                self.classes.setdefault(image_id, []).append(wnid)
        return self.groups


def rescore_split(ctx: StageContext, models: dict, members: list[dict], split: str) -> None:
    """Best box per (image, class) for each localizer alone and for the ensemble, one parted table
    each, chunk by chunk over the RPNs' image list (the RPN parts read where they are needed)."""
    section, art = ctx.section, ctx.artifacts
    names = [m["name"] for m in members]
    out = {n: art.rcnn_boxes(n, split) for n in names + ["ensemble"]}
    if all(table_done(p) for p in out.values()):
        return
    top_k, batch = int(section["test"]["top_k"]), int(section["test"].get("batch_size", 256))
    chunk_items = int(section["test"].get("chunk_images", 1000))
    classes = art.read_classes()["clsloc"]
    image_ids = list(requested_classes(art, split, loc_classifiers(ctx.cfg.cls)))   # the RPNs' items, in their order
    paths = art.read_images("loc", split).set_index("image_id")["path"]
    rpn = [ProposalsByChunk(PartedTable(art.proposals(m["rpn"], "dense", split)), top_k) for m in members]

    def run_image(indices: list[int], batch_images: list) -> dict[str, pd.DataFrame]:
        image_id = image_ids[indices[0]]
        grouped = [r.of(indices[0], chunk_items) for r in rpn]
        wnids = rpn[0].classes.get(image_id, [])
        if not wnids:
            return {}
        image = batch_images[0].to(ctx.device)
        proposals = [{classes.index_of(w): g.get((image_id, w), torch.zeros(0, 4)) for w in wnids} for g in grouped]
        singles, ensemble = ctx.infer(rescore_image, [models[n] for n in names], image, proposals, batch)
        frames = {n: [] for n in out}
        for w in wnids:
            c = classes.index_of(w)
            for n, best in [*zip(names, singles), ("ensemble", ensemble)]:
                if c in best:
                    frames[n].append(box_frame(image_id, w, np.asarray([best[c][0]]), np.asarray([best[c][1]])))
        return {n: pd.concat(f, ignore_index=True) for n, f in frames.items() if f}

    ctx.infer_in_chunks(out, {n: box_table([]) for n in out}, len(image_ids), run_image,
                        NormalizedImages(paths.loc[image_ids].tolist()), desc=f"rcnn {split}")


def write_train_regions(art, member: dict, top_k: int) -> None:
    """The R-CNN's training regions: the ``top_k`` best train proposals of its RPN, part by part."""
    rpn = PartedTable(art.proposals(member["rpn"], "dense", "train"))
    parts = [top_proposals(part, top_k) for part in rpn.iter_parts()]
    write_table_atomic(pd.concat(parts, ignore_index=True) if parts else box_table([]), art.train_regions(member["name"]))


def member_trainings(ctx: StageContext) -> list[tuple[str, dict, int]]:
    """``(name, Runner spec, seed)`` of each R-CNN, on its RPN's training regions (written first if missing)."""
    section, art = ctx.section, ctx.artifacts
    num_classes = len(art.read_classes()["clsloc"])
    cls_members = {m["name"]: m for m in ctx.cfg.cls.models}
    trainings = []
    for member in section["models"]:
        name, seed = member["name"], int(member.get("seed", 0))
        train = {**section["train"], **member.get("train", {})}
        regions = art.train_regions(name)
        if not regions.is_file():
            write_train_regions(art, member, int(train["top_k"]))
        init = art.final_weights("cls", member["init_from"])
        spec = rcnn_train_spec(rcnn_model_cfg(member, section, cls_members, num_classes, init), train, regions,
                               art, num_classes, seed)
        trainings.append((name, spec, seed))
    return trainings


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
        members = section["models"]
        models = {m["name"]: load_weights(rcnn_model_cfg(m, section, cls_members, num_classes), final, device=ctx.device)
                  for m, final in zip(members, ctx.train_members(member_trainings(ctx)))}
        for split in ("val", "test"):
            if table_done(art.proposals(members[0]["rpn"], "dense", split)):
                rescore_split(ctx, models, members, split)
        return {"members": [m["name"] for m in members]}
