"""writers.py: file names, class maps, image sets, Kaggle CSVs and XMLs agree; every trap is written."""
from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from ilsvrc_pipe.data.annotations import parse_annotation
from ilsvrc_pipe.data.synsets import read_synsets
from ilsvrc_pipe.synthetic import writers
from ilsvrc_pipe.synthetic.plan import PRESETS

PRESET = "smoke"


def lines(path: Path) -> list[list[str]]:
    return [ln.split() for ln in path.read_text().splitlines() if ln.strip()]


def read_csv(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["ImageId", "PredictionString"]
    return [tuple(r) for r in rows[1:]]


def groups(prediction: str) -> list[tuple[str, list[int]]]:
    parts = prediction.split()
    return [(parts[i], [int(v) for v in parts[i + 1:i + 5]]) for i in range(0, len(parts), 5)]


def trap_paths(traps: dict, *keys) -> set[str]:
    return {p for k in keys for p in traps[k]}


def test_cls_loc_names_and_image_sets(root):
    il = root / "ILSVRC"
    cfg = PRESETS[PRESET]
    train = lines(il / "ImageSets/CLS-LOC/train_cls.txt")
    assert [int(n) for _, n in train] == list(range(1, len(train) + 1))
    assert len(train) == cfg["cls_classes"] * cfg["cls_train_per_class"]
    numbers = defaultdict(list)
    for stem, _ in train:
        wnid, name = stem.split("/")
        assert re.fullmatch(r"n\d{8}", wnid) and re.fullmatch(rf"{wnid}_[1-9]\d*", name), stem
        assert (il / "Data/CLS-LOC/train" / f"{stem}.JPEG").is_file()
        numbers[wnid].append(int(name.split("_")[1]))
    assert any(np.any(np.diff(sorted(ns)) > 1) for ns in numbers.values()), "numbers should not be consecutive"
    loc = lines(il / "ImageSets/CLS-LOC/train_loc.txt")
    xmls = {str(p.relative_to(il / "Annotations/CLS-LOC/train").with_suffix("")) for p in
            (il / "Annotations/CLS-LOC/train").rglob("*.xml")}
    assert {s for s, _ in loc} == xmls
    assert 0.3 < len(loc) / len(train) < 0.7, "about half of the train images are boxed"
    for split, prefix, count in (("val", "ILSVRC2012_val_", cfg["cls_val"]), ("test", "ILSVRC2012_test_", cfg["cls_test"])):
        rows = lines(il / f"ImageSets/CLS-LOC/{split}.txt")
        assert rows == [[f"{prefix}{i:08d}", str(i)] for i in range(1, count + 1)]
        assert all((il / f"Data/CLS-LOC/{split}/{s}.JPEG").is_file() for s, _ in rows)
    assert len(list((il / "Annotations/CLS-LOC/val").glob("*.xml"))) == cfg["cls_val"]


def test_devkit_ids_are_a_non_identity_permutation_of_sorted_order(root):
    dk = root / "ILSVRC/devkit/data"
    table = read_synsets(dk / "map_clsloc.txt")
    assert list(table.wnids) != sorted(table.wnids)
    assert all(re.fullmatch(r"n\d{8}", w) for w in table.wnids)
    assert len(set(table.names)) == len(table.names)
    mat = read_synsets(dk / "meta_clsloc.mat")
    assert mat.wnids == table.wnids
    syn = scipy.io.loadmat(str(dk / "meta_clsloc.mat"), squeeze_me=True)["synsets"]
    assert syn.dtype.names == ("ILSVRC2015_CLSLOC_ID", "WNID", "name", "description", "num_train_images")
    train = lines(root / "ILSVRC/ImageSets/CLS-LOC/train_cls.txt")
    for rec in syn:
        assert int(rec["num_train_images"]) == sum(s.startswith(str(rec["WNID"]) + "/") for s, _ in train)
    mapping = [ln.split(" ", 1)[0] for ln in (root / "LOC_synset_mapping.txt").read_text().splitlines()]
    assert mapping == sorted(table.wnids)


def test_det_ids_alphabetical_by_name(root):
    dk = root / "ILSVRC/devkit/data"
    table = read_synsets(dk / "map_det.txt")
    assert list(table.names) == sorted(table.names)
    assert read_synsets(dk / "meta_det.mat").wnids == table.wnids
    syn = scipy.io.loadmat(str(dk / "meta_det.mat"), squeeze_me=True)["synsets"]
    assert syn.dtype.names == ("ILSVRC2015_DET_ID", "WNID", "name", "description")


def test_every_trap_is_listed_and_present(traps):
    expected = {"png_named_jpeg", "cmyk_jpeg", "grayscale_jpeg", "depth_not_trustworthy", "xmax_equals_width",
                "bndbox_children_out_of_order", "inverted_box", "det_train_xml_without_objects",
                "det_negatives_without_xml", "det_partial_label", "det_minimal_objects", "kaggle_rows_unsorted",
                "clsloc_val_multiple_boxes", "devkit_ids_not_sorted", "det_val_two_prefixes"}
    assert expected <= set(traps)
    assert all(traps[k] for k in expected), [k for k in expected if not traps[k]]


def test_image_format_traps(root, traps):
    assert {Image.open(root / p).format for p in traps["png_named_jpeg"]} == {"PNG"}
    assert all(p.endswith(".JPEG") for p in traps["png_named_jpeg"])
    assert any("/DET/" in p for p in traps["png_named_jpeg"]) and any("/CLS-LOC/" in p for p in traps["png_named_jpeg"])
    for key, mode in (("cmyk_jpeg", "CMYK"), ("grayscale_jpeg", "L")):
        for p in traps[key]:
            with Image.open(root / p) as img:
                assert (img.format, img.mode) == ("JPEG", mode), p
    for p in traps["depth_not_trustworthy"]:
        assert "<depth>3</depth>" in (root / p).read_text()
    normal = root / "ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000001.JPEG"
    if str(normal.relative_to(root)) not in trap_paths(traps, "png_named_jpeg", "cmyk_jpeg", "grayscale_jpeg"):
        with Image.open(normal) as img:
            assert (img.format, img.mode) == ("JPEG", "RGB")


def test_box_traps(root, traps):
    for p in traps["xmax_equals_width"]:
        ann = parse_annotation(root / p)
        assert any(b[0] == 0 and b[2] == ann.width for b in ann.boxes), p
    for p in traps["bndbox_children_out_of_order"]:
        text = (root / p).read_text()
        assert text.index("<xmax>") < text.index("<ymin>"), p
        assert len(parse_annotation(root / p)) >= 1
    for p in traps["inverted_box"]:
        ann = parse_annotation(root / p, keep_invalid=True)
        inverted = ann.boxes[:, 2] < ann.boxes[:, 0]
        assert inverted.any() and (~inverted).any(), p
        assert len(parse_annotation(root / p)) == int((~inverted).sum())
    for p in traps["clsloc_val_multiple_boxes"]:
        ann = parse_annotation(root / p)
        assert len(ann) >= 2 and len(set(ann.names)) == 1, p
    for p in traps["det_minimal_objects"]:
        text = (root / p).read_text()
        assert "<object>" in text and "<pose>" not in text, p


def test_det_traps(root, traps):
    il = root / "ILSVRC"
    for p in traps["det_train_xml_without_objects"]:
        assert len(parse_annotation(root / p)) == 0
    n_det = len(lines(il / "devkit/data/map_det.txt"))
    labels = {k: dict(lines(il / f"ImageSets/DET/train_{k}.txt")) for k in range(1, n_det + 1)}
    for p in traps["det_negatives_without_xml"]:
        rel = Path(p).relative_to("ILSVRC/Data/DET/train").with_suffix("")
        assert str(rel).startswith("ILSVRC2013_train_extra0/")
        assert not (il / "Annotations/DET/train" / rel.with_suffix(".xml")).exists()
        assert all(labels[k][str(rel)] == "-1" for k in labels)
    for entry in traps["det_partial_label"]:
        stem, k = entry.split()
        assert labels[int(k)][stem] == "0"
    val = [s for s, _ in lines(il / "ImageSets/DET/val.txt")]
    assert {s[:15] for s in val} == {"ILSVRC2012_val_", "ILSVRC2013_val_"}


def test_kaggle_rows_unsorted(root):
    for name in ("LOC_train_solution.csv", "LOC_val_solution.csv"):
        ids = [r[0] for r in read_csv(root / name)]
        assert ids != sorted(ids), name


def test_kaggle_val_agrees_with_xml(root):
    rows = dict(read_csv(root / "LOC_val_solution.csv"))
    stems = [s for s, _ in lines(root / "ILSVRC/ImageSets/CLS-LOC/val.txt")]
    assert set(rows) == set(stems)
    for stem in stems:
        ann = parse_annotation(root / f"ILSVRC/Annotations/CLS-LOC/val/{stem}.xml", keep_invalid=True)
        assert groups(rows[stem]) == [(n, [int(v) for v in b]) for n, b in zip(ann.names, ann.boxes)], stem


def test_kaggle_train_agrees_with_xml(root):
    rows = dict(read_csv(root / "LOC_train_solution.csv"))
    boxed = [s for s, _ in lines(root / "ILSVRC/ImageSets/CLS-LOC/train_loc.txt")]
    assert set(rows) == {s.split("/")[1] for s in boxed}
    for stem in boxed[::3]:
        ann = parse_annotation(root / f"ILSVRC/Annotations/CLS-LOC/train/{stem}.xml", keep_invalid=True)
        assert groups(rows[stem.split("/")[1]]) == [(n, [int(v) for v in b]) for n, b in zip(ann.names, ann.boxes)]
        assert set(ann.names) == {stem.split("/")[0]}


def test_val_ground_truth_agrees_with_xml_via_devkit_ids(root):
    dk = root / "ILSVRC/devkit/data"
    table = read_synsets(dk / "map_clsloc.txt")
    truth = [int(x[0]) for x in lines(dk / "ILSVRC2015_clsloc_validation_ground_truth.txt")]
    stems = [s for s, _ in lines(root / "ILSVRC/ImageSets/CLS-LOC/val.txt")]
    assert len(truth) == len(stems)
    for stem, devkit_id in zip(stems, truth):
        ann = parse_annotation(root / f"ILSVRC/Annotations/CLS-LOC/val/{stem}.xml")
        assert set(ann.names) == {table.wnid_of_id(devkit_id)}, stem
    assert any(table.index_of(table.wnid_of_id(i)) + 1 != i for i in truth), "devkit ids must not be sorted index + 1"
    blacklist = [int(x[0]) for x in lines(dk / "ILSVRC2015_clsloc_validation_blacklist.txt")]
    assert blacklist and all(1 <= b <= len(stems) for b in blacklist)


def test_det_train_labels_agree_with_xml(root):
    il = root / "ILSVRC"
    table = read_synsets(il / "devkit/data/map_det.txt")
    classes_per_image, small = [], 0
    for k, wnid in enumerate(table.wnids, 1):
        for stem, label in lines(il / f"ImageSets/DET/train_{k}.txt"):
            assert (il / f"Data/DET/train/{stem}.JPEG").is_file()
            xml = il / f"Annotations/DET/train/{stem}.xml"
            names = parse_annotation(xml).names if xml.is_file() else []
            assert (wnid in names) == (label in ("1", "0")), (k, stem, label)
    for xml in (il / "Annotations/DET/train").rglob("*.xml"):
        ann = parse_annotation(xml)
        classes_per_image.append(len(set(ann.names)))
        small += int(np.sum(np.maximum(ann.boxes[:, 2] - ann.boxes[:, 0], ann.boxes[:, 3] - ann.boxes[:, 1]) + 1 < 30))
    assert max(classes_per_image) >= 3 and 0 in classes_per_image
    assert small > 0


def test_encode_image_formats():
    pixels = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    want = {"jpeg": ("JPEG", "RGB"), "png": ("PNG", "RGB"), "cmyk": ("JPEG", "CMYK"), "gray": ("JPEG", "L")}
    for fmt, (kind, mode) in want.items():
        with Image.open(io.BytesIO(writers.encode_image(pixels, fmt))) as img:
            assert (img.format, img.mode, img.size) == (kind, mode, (16, 12)), fmt
            if fmt == "png":
                assert np.array_equal(np.asarray(img), pixels)


def test_mat_files_carry_a_fixed_header(root):
    for name in ("meta_clsloc.mat", "meta_det.mat"):
        data = (root / "ILSVRC/devkit/data" / name).read_bytes()
        assert data[:116] == writers.MAT_HEADER.ljust(116, b" "), name
