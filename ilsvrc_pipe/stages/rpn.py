"""Stage ``rpn``: train the per-class RPNs (one per localizer of the ensemble) and write proposals.

Each RPN starts from a classifier of the ``cls`` stage. Outputs (names in ``artifacts.py``): each
RPN's Runner work dir and final weights; proposal box tables (top-K per image and class) for val
and test (center and dense modes; the predicted classes, and on val the ground-truth class) and
train (dense; the ground-truth class: the R-CNN's training data).
"""
from __future__ import annotations

from tqdm import tqdm

from ..data.transforms import load_normalized
from ..distributed import gather_dict, is_main, shard
from ..io_utils import write_table_atomic
from ..models.per_class_rpn import propose_center_crop, propose_dense
from ..specs import load_weights, rpn_model_cfg, rpn_train_spec
from ..tables import box_table, requested_classes
from .base import Stage, StageContext, register_stage
from .rpn_anchors import fit_rpn_anchors


def _proposal_rows(image_id: str, per_class: dict, index_to_wnid) -> list[tuple]:
    rows = []
    for c, sb in per_class.items():
        for rank, (box, score) in enumerate(zip(sb.boxes.tolist(), sb.scores.tolist()), 1):
            rows.append((image_id, index_to_wnid(c), rank, score, *box))
    return rows


def write_proposals(ctx: StageContext, model, name: str, split: str, modes: tuple[str, ...]) -> None:
    """Proposals of every requested (image, class) of a split, one table per mode (finished ones kept)."""
    art, test = ctx.artifacts, ctx.section["test"]
    classes = art.read_classes()["clsloc"]
    modes = tuple(m for m in modes if not art.proposals(name, m, split).is_file())
    if not modes:
        return
    images = art.read_images("loc", split).set_index("image_id")
    wanted = requested_classes(art, split)
    per_image: dict[str, dict[str, list]] = {}   # this rank's images (all in one process)
    for image_id in tqdm(shard(list(wanted)), desc=f"rpn {name} {split}", unit="img", disable=not is_main()):
        image = load_normalized(images.at[image_id, "path"]).to(ctx.device)
        idx = [classes.index_of(w) for w in wanted[image_id]]
        per_image[image_id] = {}
        if "center" in modes:
            props = ctx.infer(propose_center_crop, model, [image], [idx], scale=test["scale"], crop=test["crop"])[0]
            per_image[image_id]["center"] = _proposal_rows(image_id, props, classes.wnid_of_index)
        if "dense" in modes:
            props = ctx.infer(propose_dense, model, image, idx, scales=test["dense_scales"])
            per_image[image_id]["dense"] = _proposal_rows(image_id, props, classes.wnid_of_index)
    per_image = gather_dict(per_image)
    for m in modes:
        rows = [row for image_id in wanted for row in per_image[image_id][m]]
        write_table_atomic(box_table(rows), art.proposals(name, m, split))


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
        for member in section["models"]:
            name, seed = member["name"], int(member.get("seed", 0))
            init = art.final_weights("cls", member["init_from"])
            spec = rpn_train_spec(rpn_model_cfg(member, section, cls_members, num_classes, init, shapes),
                                  {**section["train"], **member.get("train", {})}, art, seed)
            final = ctx.train(name, spec, seed=seed)
            model = load_weights(rpn_model_cfg(member, section, cls_members, num_classes, anchor_shapes=shapes),
                                 final, device=ctx.device)
            write_proposals(ctx, model, name, "val", ("center", "dense"))
            write_proposals(ctx, model, name, "train", ("dense",))
            if art.top5("test").is_file():
                write_proposals(ctx, model, name, "test", ("center", "dense"))
            figures[name] = str(final)
        return figures
