"""Stage ``det``: the C4 Faster R-CNN detectors (appendix A), their test-time improvements
(appendix B), Table 9 on val2 and the DET submissions.

Detectors start from a ``cls`` classifier (CLS-LOC pre-training) and are fine-tuned on DET train +
val1 through mmengine's Runner; val2 scores the rows, test gets the best row's submission. The rows
(``engine/rows.py``: the whole-image floor, then baseline, refine, refine_context,
refine_context_multiscale and ensemble, each with its test mode) are each ``{"mAP", "ap": {devkit
id: AP}}`` by the official DET rules; which detector each row uses is the config's ``det.rows``.
Names of every file are in ``artifacts/paths.py``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..artifacts.parts import read_result_table, table_done
from ..artifacts.tables import DETECTION_COLUMNS, DETECTION_DTYPES, detection_frame, write_det_table
from ..data.det_pyramid import det_test_inputs
from ..data.det_train import DetTestDataset
from ..data.det_val_halves import det_val_half_candidates
from ..engine.chunked_inference import empty_table
from ..engine.rows import DET_FLOOR_ROW, DET_LEARNED, det_row_modes
from ..engine.specs import det_model_cfg, det_train_spec, load_weights
from ..engine.stage import Stage, StageContext, register_stage
from ..evaluation.det import evaluate_det
from ..models.detection.inference import MemberView, detect_image
from ..report.paper import table12_by_split
from ..report.plots import contact_sheet, plot_pr_curves, plot_table9
from ..submission.det_file import read_det_file
from ..utils.io_utils import read_table, write_table_atomic


def run_rows(ctx: StageContext, models: dict, plan: dict, split: str, synsets) -> None:
    """Detections of every planned row on a split, one parted table per row (finished tables and
    parts are kept)."""
    art, test = ctx.artifacts, ctx.section["test"]
    todo = {row: spec for row, spec in plan.items() if not table_done(art.det_detections(row, split))}
    if not todo:
        return
    dataset = DetTestDataset(images=str(art.records("det", split, "images")), **det_test_inputs(test))
    needed = sorted({n for members, _ in todo.values() for n in members})

    def run_image(indices: list[int], batch: list) -> dict[str, pd.DataFrame]:
        item = batch[0]
        meta, inputs = item["data_samples"], item["inputs"]
        views = {n: MemberView(models[n], inputs["pyramid"], inputs["primary"]) for n in needed}
        out = {}
        for row, (members, mode) in todo.items():
            dets = detect_image([views[n] for n in members], mode, meta, ctx.infer)
            ids = synsets.detection_labels_to_ids(dets.labels.numpy())
            out[row] = detection_frame(meta["image_id"], meta["image_index"], ids, dets.scores.numpy(), dets.boxes.numpy())
        return out

    empty = {row: empty_table(DETECTION_COLUMNS, DETECTION_DTYPES) for row in todo}
    ctx.infer_in_chunks({row: art.det_detections(row, split) for row in todo}, empty, len(dataset), run_image,
                        dataset, desc=f"det {split}")


def gt_object_counts(result: dict) -> dict[int, int]:
    """Devkit id -> the scored val2 objects of the class (``npos`` of the official scorer)."""
    return {int(c): int(n) for c, n in result["npos"].items()}


def row_choice_score(result: dict) -> float:
    """What picks the best row: its official mAP, or, when that is NaN because val2 holds no object of
    some class it detects (a val2 cut by ``data.max_images``), its mean AP over the classes val2 holds."""
    if np.isfinite(result["mAP"]):
        return float(result["mAP"])
    held = [ap for c, ap in result["ap"].items() if result["npos"][c] > 0 and np.isfinite(ap)]
    return float(np.mean(held)) if held else -np.inf


def class_frequencies(art, splits, synsets) -> dict[int, float]:
    """Devkit id -> fraction of the training images holding at least one box of the class."""
    images = pd.concat([art.read_images("det", s) for s in splits], ignore_index=True)
    boxes = pd.concat([read_table(art.records("det", s, "boxes")) for s in splits], ignore_index=True)
    per_class = boxes.drop_duplicates(["image_id", "wnid"]).groupby("wnid").size()
    return {synsets.id_of(w): float(per_class.get(w, 0)) / max(len(images), 1) for w in synsets.wnids}


def floor_detections(art, split: str, freq: dict[int, float]) -> pd.DataFrame:
    images = art.read_images("det", split)
    rows = [(r.image_id, int(r.index), c, f, 0.0, 0.0, float(r.width - 1), float(r.height - 1))
            for r in images.itertuples(index=False) for c, f in freq.items() if f > 0]
    return pd.DataFrame(rows, columns=DETECTION_COLUMNS)


def write_and_score(path, table: pd.DataFrame, gt, curves: bool = False) -> dict:
    """Write a devkit DET file, read it back strictly, score it: the number is the file's."""
    write_det_table(path, table)
    return evaluate_det(read_det_file(path), gt, curves=curves)


def member_trainings(ctx: StageContext, synsets) -> list[tuple[str, dict, int]]:
    """``(name, Runner spec, seed)`` of each detector, fine-tuned from its classifier on DET train + val1."""
    section, art = ctx.section, ctx.artifacts
    cls_members = {m["name"]: m for m in ctx.cfg.cls.models}
    trainings = []
    for member in section["models"]:
        seed = int(member.get("seed", 0))
        init = art.final_weights("cls", member["init_from"])
        cfg = det_model_cfg(member, section, cls_members, len(synsets), init)
        spec = det_train_spec(cfg, {**section["train"], **member.get("train", {})}, art, list(synsets.sorted_wnids), seed)
        trainings.append((member["name"], spec, seed))
    return trainings


@register_stage
class DetectStage(Stage):
    """Train the C4 detectors, test every Table 9 row on val2, write the DET submissions."""

    name = "det"
    requires = ("data", "cls")
    reads = ("det", "cls", "precision")
    submits = True

    def run(self, ctx: StageContext) -> dict:
        art, section = ctx.artifacts, ctx.section
        classes = art.read_classes()
        if "det" not in classes or not art.has_records("det", "train"):
            ctx.logger.warning("det: the data root has no DET part; nothing to detect")
            return {"skipped": "no DET data"}
        if not art.ground_truth("det", "val2").is_file():
            lists = " or ".join(map(str, det_val_half_candidates(ctx.data_root, "val2")))
            raise FileNotFoundError(f"{art.ground_truth('det', 'val2')} is missing: the data stage writes it from "
                                    f"a val2 list ({lists}) and the val XMLs (Annotations/DET/val)")
        synsets = classes["det"]
        models = self.train_models(ctx, synsets)
        plan = det_row_modes(section)
        gt = art.read_det_ground_truth("val2")
        run_rows(ctx, models, plan, "val2", synsets)
        train_splits = [s for s in section["train"].get("splits", ("train", "val1")) if art.has_records("det", s)]
        tables = {DET_FLOOR_ROW: floor_detections(art, "val2", class_frequencies(art, train_splits, synsets))}
        tables.update({row: read_result_table(art.det_detections(row, "val2")) for row in plan})
        results = {row: write_and_score(art.det_row_file(row, "val2"), t, gt, curves=True) for row, t in tables.items()}
        absent = sorted(c for c, n in gt_object_counts(results["baseline"]).items() if n == 0)
        if absent:
            ctx.logger.warning("val2 holds no object of %d DET class(es) (ids %s): by the official rules their AP, "
                               "and a row's mAP, is NaN once the row detects them; the best row is chosen on the "
                               "classes val2 holds", len(absent), absent[:10])
        best = max(DET_LEARNED, key=lambda r: row_choice_score(results[r]))
        files = self.write_submissions(ctx, models, {best: plan[best]}, best, synsets)
        rows = {row: {"mAP": r["mAP"], "ap": {int(c): float(v) for c, v in r["ap"].items()},
                      "models": plan[row][0] if row in plan else [], "file": str(art.det_row_file(row, "val2"))}
                for row, r in results.items()}
        metrics = {"mAP": rows[best]["mAP"], "best_row": best, "split": "val2", "files": files, "rows": rows,
                   "paper_table12": table12_by_split()}
        art.write_metrics("det", metrics)
        self.write_tables_and_figures(ctx, rows, results[best], best, synsets)
        table = pd.Series({k: v["mAP"] for k, v in rows.items()}, name="mAP")
        ctx.logger.info("Table 9 (val2, official DET rules):\n%s", table.to_string(float_format=lambda x: f"{x:.4f}"))
        return {"mAP": metrics["mAP"], "best_row": best}

    @staticmethod
    def train_models(ctx: StageContext, synsets) -> dict:
        section = ctx.section
        cls_members = {m["name"]: m for m in ctx.cfg.cls.models}
        return {m["name"]: load_weights(det_model_cfg(m, section, cls_members, len(synsets)), final, device=ctx.device)
                for m, final in zip(section["models"], ctx.train_members(member_trainings(ctx, synsets)))}

    @staticmethod
    def write_submissions(ctx, models, plan, best: str, synsets) -> dict:
        """The best row's devkit files for val2 and test, copied to the submission folder."""
        art = ctx.artifacts
        for p in art.clear_submissions("det_"):
            ctx.logger.info("removed the previous submission %s", p)
        files = {}
        splits = ["val2"] + (["test"] if art.has_records("det", "test") else [])
        for split in splits:
            run_rows(ctx, models, plan, split, synsets)
            write_det_table(art.submission(f"det_{split}.txt"), read_result_table(art.det_detections(best, split)))
            files[split] = str(art.submission(f"det_{split}.txt"))
        return files

    @staticmethod
    def write_tables_and_figures(ctx, rows: dict, best_result: dict, best: str, synsets) -> None:
        art = ctx.artifacts
        write_table_atomic(pd.DataFrame([{"row": k, "mAP": v["mAP"]} for k, v in rows.items()]), art.table9())
        per_class = pd.DataFrame({row: pd.Series(v["ap"]) for row, v in rows.items()})
        per_class.insert(0, "wnid", [synsets.wnid_of_id(c) for c in per_class.index])
        per_class.insert(1, "name", [synsets.name_of(w) for w in per_class.wnid])
        write_table_atomic(per_class.reset_index(names="devkit_id"), art.det_class_ap())
        titles = {c: f"{synsets.name_of(synsets.wnid_of_id(c))} (AP {best_result['ap'][c]:.2f})"
                  for c in best_result["curves"]}
        plot_pr_curves(best_result["curves"], titles, art.det_pr_curves(), f"{best}: precision-recall on val2")
        plot_table9({k: v["mAP"] for k, v in rows.items()}, art.det_table9_plot())
        images = art.read_images("det", "val2").head(8)
        boxes = read_table(art.records("det", "val2", "boxes"))
        dets = read_result_table(art.det_detections(best, "val2"))
        items = []
        for r in images.itertuples(index=False):
            mine = dets[(dets.image_id == r.image_id) & (dets.score >= 0.5)]
            truth = boxes[boxes.image_id == r.image_id]
            items.append({"path": r.path, "title": r.image_id,
                          "truth": truth[["x1", "y1", "x2", "y2"]].to_numpy().tolist(),
                          "boxes": mine[["x1", "y1", "x2", "y2"]].to_numpy().tolist(),
                          "labels": [f"{synsets.name_of(synsets.wnid_of_id(c))[:10]} {s:.2f}"
                                     for c, s in zip(mine.class_id, mine.score)]})
        contact_sheet(items, art.det_contact_sheet())
