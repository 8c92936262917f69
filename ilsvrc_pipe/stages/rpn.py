"""Stage ``rpn``: train the per-class RPNs (one per localizer of the ensemble) and write proposals.

Each RPN starts from a classifier of the ``cls`` stage. Outputs (names in ``artifacts/paths.py``): each
RPN's Runner work dir and final weights; proposal box tables (top-K per image and class) for val
and test (center and dense modes; the predicted classes, and on val the ground-truth class) and
train (dense; the ground-truth class: the R-CNN's training data).
"""
from __future__ import annotations

import pandas as pd

from ..artifacts.parts import table_done
from ..artifacts.tables import box_frame, box_table, requested_classes
from ..data.transforms import NormalizedImages
from ..engine.rows import loc_classifiers
from ..engine.specs import load_weights, rpn_model_cfg, rpn_train_spec
from ..engine.stage import Stage, StageContext, register_stage
from ..models.localization.fitted_anchors import fit_rpn_anchors
from ..models.localization.per_class_rpn import propose_center_crop, propose_dense


def proposal_frame(image_id: str, per_class: dict, index_to_wnid) -> pd.DataFrame:
    """Box-table rows of one image's proposals (class -> scored boxes, best first), from arrays."""
    frames = [box_frame(image_id, index_to_wnid(c), sb.boxes.cpu().numpy(), sb.scores.cpu().numpy())
              for c, sb in per_class.items()]
    return pd.concat(frames, ignore_index=True) if frames else box_table([])


def write_proposals(ctx: StageContext, model, name: str, split: str, modes: tuple[str, ...]) -> None:
    """Proposals of every requested (image, class) of a split, one parted table per mode (finished
    tables and parts are kept)."""
    art, test = ctx.artifacts, ctx.section["test"]
    classes = art.read_classes()["clsloc"]
    modes = tuple(m for m in modes if not table_done(art.proposals(name, m, split)))
    if not modes:
        return
    paths = art.read_images("loc", split).set_index("image_id")["path"]
    wanted = requested_classes(art, split, loc_classifiers(ctx.cfg.cls))
    image_ids = list(wanted)

    def run_image(indices: list[int], batch: list) -> dict[str, pd.DataFrame]:
        image_id, image = image_ids[indices[0]], batch[0].to(ctx.device)
        idx = [classes.index_of(w) for w in wanted[image_id]]
        out = {}
        if "center" in modes:
            props = ctx.infer(propose_center_crop, model, [image], [idx], scale=test["scale"], crop=test["crop"])[0]
            out["center"] = proposal_frame(image_id, props, classes.wnid_of_index)
        if "dense" in modes:
            props = ctx.infer(propose_dense, model, image, idx, scales=test["dense_scales"])
            out["dense"] = proposal_frame(image_id, props, classes.wnid_of_index)
        return out

    ctx.infer_in_chunks({m: art.proposals(name, m, split) for m in modes}, {m: box_table([]) for m in modes},
                        len(image_ids), run_image, NormalizedImages(paths.loc[image_ids].tolist()),
                        desc=f"rpn {name} {split}")


def member_trainings(ctx: StageContext, shapes: list | None) -> list[tuple[str, dict, int]]:
    """``(name, Runner spec, seed)`` of each RPN, each from its classifier, with the fitted anchor ``shapes``."""
    section, art = ctx.section, ctx.artifacts
    num_classes = len(art.read_classes()["clsloc"])
    cls_members = {m["name"]: m for m in ctx.cfg.cls.models}
    trainings = []
    for member in section["models"]:
        seed = int(member.get("seed", 0))
        init = art.final_weights("cls", member["init_from"])
        spec = rpn_train_spec(rpn_model_cfg(member, section, cls_members, num_classes, init, shapes),
                              {**section["train"], **member.get("train", {})}, art, seed)
        trainings.append((member["name"], spec, seed))
    return trainings


@register_stage
class RPNStage(Stage):
    """Train each per-class RPN from its classifier; propose boxes for train, val and test."""

    name = "rpn"
    requires = ("data", "cls")
    reads = ("rpn", "cls", "precision")

    def run(self, ctx: StageContext) -> dict:
        section, art = ctx.section, ctx.artifacts
        num_classes = len(art.read_classes()["clsloc"])
        cls_members = {m["name"]: m for m in ctx.cfg.cls.models}
        shapes = fit_rpn_anchors(art, section)   # every rank fits (deterministic); rank 0 writes
        figures = {"anchor_shapes": shapes} if shapes else {}
        for member, final in zip(section["models"], ctx.train_members(member_trainings(ctx, shapes))):
            name = member["name"]
            model = load_weights(rpn_model_cfg(member, section, cls_members, num_classes, anchor_shapes=shapes),
                                 final, device=ctx.device)
            write_proposals(ctx, model, name, "val", ("center", "dense"))
            write_proposals(ctx, model, name, "train", ("dense",))
            if table_done(art.top5("test")):
                write_proposals(ctx, model, name, "test", ("center", "dense"))
            figures[name] = str(final)
        return figures
