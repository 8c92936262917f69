"""Writers of every file of the dataset but the completion marker, from the plan and drawn scenes.

Images (``encode_image``: JPEG, or a trap format: PNG under a .JPEG name, CMYK, grayscale), the
tab-indented PASCAL-VOC-style XMLs (``annotation_xml``), the devkit class maps (.txt and a .mat
without timestamp), CLS-LOC val ground truth and blacklists, the DET val lists (``write_devkit``), the
ImageSets lists (``write_image_sets``), the Kaggle CSVs (``write_kaggle``) and the traps manifest
(``traps_manifest``). ``results`` maps each job's ``image_rel`` to its drawn ``Scene``.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image

from .plan import Job, Plan, det_lists_layout
from .scene import Scene

TRAPS_FILE = "traps.json"
JPEG_QUALITY = 90
# Header text of the .mat files: the generator's original module name, kept so the bytes stay the same.
MAT_HEADER = b"MATLAB 5.0 MAT-file, written by ilsvrc_pipe.data.mini"


def encode_image(pixels: np.ndarray, fmt: str) -> bytes:
    """Encode as the job's format; PNG content keeps its .JPEG name (a trap)."""
    img = Image.fromarray(pixels, "RGB")
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, format="PNG")
    elif fmt == "cmyk":
        img.convert("CMYK").save(buf, format="JPEG", quality=JPEG_QUALITY)
    elif fmt == "gray":
        img.convert("L").save(buf, format="JPEG", quality=JPEG_QUALITY)
    else:
        img.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _xml_box(box, xxyy: bool) -> str:
    order = ("xmin", "xmax", "ymin", "ymax") if xxyy else ("xmin", "ymin", "xmax", "ymax")
    values = dict(zip(("xmin", "ymin", "xmax", "ymax"), box))
    return "".join(f"\t\t\t<{t}>{values[t]}</{t}>\n" for t in order)


def _xml_object(wnid: str, box, truncated: bool, xxyy: bool, minimal: bool) -> str:
    head = f"\t<object>\n\t\t<name>{wnid}</name>\n"
    if not minimal:
        head += f"\t\t<pose>Unspecified</pose>\n\t\t<truncated>{int(truncated)}</truncated>\n\t\t<difficult>0</difficult>\n"
    return head + "\t\t<bndbox>\n" + _xml_box(box, xxyy) + "\t\t</bndbox>\n\t</object>\n"


def _xml_boxes(plan: Plan, job: Job, scene: Scene) -> list[tuple[str, tuple[int, int, int, int], bool]]:
    """(wnid, box as written, truncated) of the annotated objects, traps applied."""
    out = []
    for obj in scene.objects:
        if not obj.annotated:
            continue
        box = obj.box
        if job.full_width:
            box = (box[0], box[1], job.width, box[3])
        out.append((plan.identities[obj.identity].wnid, box, obj.truncated))
    if job.inverted_extra and out:
        x1, y1, x2, y2 = out[0][1]
        out.append((out[0][0], (max(x2 - 3, x1 + 1), y1, x1, y2), False))
    return out


def annotation_xml(plan: Plan, job: Job, scene: Scene) -> str:
    """PASCAL-VOC-style ILSVRC XML, tab-indented like the real files."""
    depth = 3  # also for grayscale images: the real <depth> is not trustworthy
    body = "".join(_xml_object(w, b, t, job.bndbox_xxyy, job.minimal_objects) for w, b, t in _xml_boxes(plan, job, scene))
    name = job.stem.rsplit("/", 1)[-1]
    return (f"<annotation>\n\t<folder>{job.folder}</folder>\n\t<filename>{name}</filename>\n"
            f"\t<source>\n\t\t<database>{job.database}</database>\n\t</source>\n"
            f"\t<size>\n\t\t<width>{job.width}</width>\n\t\t<height>{job.height}</height>\n"
            f"\t\t<depth>{depth}</depth>\n\t</size>\n\t<segmented>0</segmented>\n{body}</annotation>\n")


def write_file(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


def _write_lines(path: Path, lines) -> None:
    write_file(path, "".join(f"{line}\n" for line in lines))


def _savemat_bytes(mdict: dict) -> bytes:
    """``scipy.io.savemat`` output with a fixed header text (the default one holds a timestamp)."""
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, mdict, format="5", oned_as="row")
    data = bytearray(buf.getvalue())
    data[:116] = MAT_HEADER.ljust(116, b" ")
    return bytes(data)


def _synsets_struct(rows: list[dict]) -> np.ndarray:
    """A 1-D numpy record array that savemat writes as a MATLAB struct array."""
    names = list(rows[0])
    arr = np.zeros((len(rows),), dtype=[(n, object) for n in names])
    for i, row in enumerate(rows):
        for n in names:
            arr[i][n] = row[n]
    return arr


def write_devkit(root: Path, plan: Plan) -> None:
    """Class maps (.txt and .mat), CLS-LOC val ground truth and blacklist, DET blacklist and val lists."""
    dk = root / "ILSVRC/devkit/data"
    idents = plan.identities
    n_train = {i: sum(1 for j in plan.by_split("cls_train") if j.classes[0] == i) for i in plan.cls_ids}
    _write_lines(dk / "map_clsloc.txt", (f"{idents[i].wnid} {k} {idents[i].name}" for k, i in enumerate(plan.cls_ids, 1)))
    rows = [dict(ILSVRC2015_CLSLOC_ID=k, WNID=idents[i].wnid, name=idents[i].name.replace("_", " "),
                 description=idents[i].description, num_train_images=n_train[i]) for k, i in enumerate(plan.cls_ids, 1)]
    write_file(dk / "meta_clsloc.mat", _savemat_bytes({"synsets": _synsets_struct(rows)}))
    devkit_id = {i: k for k, i in enumerate(plan.cls_ids, 1)}
    _write_lines(dk / "ILSVRC2015_clsloc_validation_ground_truth.txt",
                 (devkit_id[j.classes[0]] for j in plan.by_split("cls_val")))
    _write_lines(dk / "ILSVRC2015_clsloc_validation_blacklist.txt", plan.cls_val_blacklist)
    _write_lines(dk / "map_det.txt", (f"{idents[i].wnid} {k} {idents[i].name}" for k, i in enumerate(plan.det_ids, 1)))
    rows = [dict(ILSVRC2015_DET_ID=k, WNID=idents[i].wnid, name=idents[i].name.replace("_", " "),
                 description=idents[i].description) for k, i in enumerate(plan.det_ids, 1)]
    write_file(dk / "meta_det.mat", _savemat_bytes({"synsets": _synsets_struct(rows)}))
    _write_lines(dk / "ILSVRC2015_det_validation_blacklist.txt", (f"{i} {w}" for i, w in plan.det_val_blacklist))
    _write_det_lists(dk / "det_lists", plan)


def _write_det_lists(folder: Path, plan: Plan) -> None:
    """The DET val halves, each list numbered 1..n: ``val1.txt`` and ``val2.txt``, or as the ILSVRC2014
    devkit ships them, ``ilsvrc13_val2.txt`` beside ``val.txt`` (all of val) and no val1."""
    val1, val2 = plan.det_val_split
    numbered = lambda stems: (f"{s} {n}" for n, s in enumerate(stems, 1))  # noqa: E731
    if det_lists_layout(plan) == "ilsvrc2014_devkit":
        _write_lines(folder / "ilsvrc13_val2.txt", numbered(val2))
        _write_lines(folder / "val.txt", numbered(j.stem for j in plan.by_split("det_val")))
        return
    _write_lines(folder / "val1.txt", numbered(val1))
    _write_lines(folder / "val2.txt", numbered(val2))


def write_image_sets(root: Path, plan: Plan, results: dict) -> None:
    """ImageSets/CLS-LOC/* and ImageSets/DET/* (train_<k> labels 1 / 0 / -1)."""
    sets = root / "ILSVRC/ImageSets"
    train = sorted(plan.by_split("cls_train"), key=lambda j: j.stem)
    _write_lines(sets / "CLS-LOC/train_cls.txt", (f"{j.stem} {n}" for n, j in enumerate(train, 1)))
    boxed = [j for j in train if j.xml_rel]
    _write_lines(sets / "CLS-LOC/train_loc.txt", (f"{j.stem} {n}" for n, j in enumerate(boxed, 1)))
    for split, name in (("cls_val", "CLS-LOC/val"), ("cls_test", "CLS-LOC/test"), ("det_val", "DET/val"),
                        ("det_test", "DET/test")):
        _write_lines(sets / f"{name}.txt", (f"{j.stem} {n}" for n, j in enumerate(plan.by_split(split), 1)))
    partial = set(plan.partial)
    det_train = sorted(plan.by_split("det_train"), key=lambda j: j.stem)
    for k, ident_idx in enumerate(plan.det_ids, 1):
        lines = []
        for j in det_train:
            present = any(o.identity == ident_idx and o.annotated for o in results[j.image_rel].objects)
            if (j.stem, ident_idx) in partial:
                lines.append(f"{j.stem} 0")
            elif present:
                lines.append(f"{j.stem} 1")
            elif j.empty:
                lines.append(f"{j.stem} -1")
        _write_lines(sets / f"DET/train_{k}.txt", lines)


def _prediction_string(groups) -> str:
    return " ".join(f"{w} {b[0]} {b[1]} {b[2]} {b[3]}" for w, b in groups)


def write_kaggle(root: Path, plan: Plan, results: dict, rng) -> None:
    """Kaggle CSVs beside ILSVRC/: mapping sorted by WNID, solutions with shuffled rows."""
    idents = [plan.identities[i] for i in plan.cls_ids]
    _write_lines(root / "LOC_synset_mapping.txt",
                 (f"{d.wnid} {d.name.replace('_', ' ')}, {d.shape}" for d in sorted(idents, key=lambda d: d.wnid)))
    for split, name in (("cls_train", "LOC_train_solution.csv"), ("cls_val", "LOC_val_solution.csv")):
        jobs = [j for j in plan.by_split(split) if j.xml_rel]
        rows = [(j.stem.rsplit("/", 1)[-1],
                 _prediction_string((w, b) for w, b, _ in _xml_boxes(plan, j, results[j.image_rel]))) for j in jobs]
        rows = [rows[i] for i in rng.permutation(len(rows))]
        _write_csv(root / name, rows)
    first = sorted(d.wnid for d in idents)[0]
    _write_csv(root / "LOC_sample_submission.csv",
               [(j.stem, f"{first} 0 0 10 10") for j in plan.by_split("cls_test")])


def _write_csv(path: Path, rows) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["ImageId", "PredictionString"])
    writer.writerows(rows)
    write_file(path, buf.getvalue())


def traps_manifest(plan: Plan) -> dict:
    """Which files carry which trap: the tests (and curious users) read this."""
    jobs = plan.jobs
    files = lambda pred, attr="image_rel": [getattr(j, attr) for j in jobs if pred(j)]  # noqa: E731
    return {
        "png_named_jpeg": files(lambda j: j.fmt == "png"),
        "cmyk_jpeg": files(lambda j: j.fmt == "cmyk"),
        "grayscale_jpeg": files(lambda j: j.fmt == "gray"),
        "depth_not_trustworthy": files(lambda j: j.fmt == "gray" and j.xml_rel is not None, "xml_rel"),
        "xmax_equals_width": files(lambda j: j.full_width, "xml_rel"),
        "bndbox_children_out_of_order": files(lambda j: j.bndbox_xxyy, "xml_rel"),
        "inverted_box": files(lambda j: j.inverted_extra, "xml_rel"),
        "det_train_xml_without_objects": files(lambda j: j.empty and j.xml_rel is not None, "xml_rel"),
        "det_negatives_without_xml": files(lambda j: j.split == "det_train" and j.xml_rel is None),
        "det_partial_label": [f"{stem} {plan.det_ids.index(i) + 1}" for stem, i in plan.partial],
        "det_minimal_objects": files(lambda j: j.minimal_objects and not j.empty, "xml_rel"),
        "kaggle_rows_unsorted": ["LOC_train_solution.csv", "LOC_val_solution.csv"],
        "clsloc_val_multiple_boxes": files(lambda j: j.split == "cls_val" and j.n_objects > 1, "xml_rel"),
        "devkit_ids_not_sorted": ["ILSVRC/devkit/data/map_clsloc.txt", "ILSVRC/devkit/data/meta_clsloc.mat"],
        "det_val_two_prefixes": sorted({j.stem[:15] for j in plan.by_split("det_val")}),
    }
