"""The embedded mini dataset: real ILSVRC layout, consistent labels, tight boxes, every trap present."""
from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from ilsvrc_pipe.data import mini
from ilsvrc_pipe.data.annotations import parse_annotation
from ilsvrc_pipe.data.synsets import read_synsets

PRESET, SEED = "smoke", 0


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return mini.generate_mini_ilsvrc(tmp_path_factory.mktemp("mini") / "data", PRESET, SEED)


@pytest.fixture(scope="module")
def plan():
    return mini.plan_dataset(PRESET, SEED)


@pytest.fixture(scope="module")
def traps(root) -> dict:
    return json.loads((root / "traps.json").read_text())


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


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def trap_paths(traps: dict, *keys) -> set[str]:
    return {p for k in keys for p in traps[k]}


# -- layout -------------------------------------------------------------------------------------
def test_layout_files_exist(root):
    il = root / "ILSVRC"
    for rel in ["ImageSets/CLS-LOC/train_cls.txt", "ImageSets/CLS-LOC/train_loc.txt", "ImageSets/CLS-LOC/val.txt",
                "ImageSets/CLS-LOC/test.txt", "ImageSets/DET/val.txt", "ImageSets/DET/test.txt",
                "devkit/data/map_clsloc.txt", "devkit/data/meta_clsloc.mat", "devkit/data/map_det.txt",
                "devkit/data/meta_det.mat", "devkit/data/ILSVRC2015_clsloc_validation_ground_truth.txt",
                "devkit/data/ILSVRC2015_clsloc_validation_blacklist.txt",
                "devkit/data/ILSVRC2015_det_validation_blacklist.txt", "devkit/data/det_lists/val1.txt",
                "devkit/data/det_lists/val2.txt"]:
        assert (il / rel).is_file(), rel
    for rel in ["LOC_synset_mapping.txt", "LOC_train_solution.csv", "LOC_val_solution.csv",
                "LOC_sample_submission.csv", "traps.json", mini.MARKER]:
        assert (root / rel).is_file(), rel
    cfg = mini.PRESETS[PRESET]
    n_det = len(lines(il / "devkit/data/map_det.txt"))
    assert n_det == cfg["det_classes"]
    assert sorted(p.name for p in (il / "ImageSets/DET").glob("train_*.txt")) == sorted(
        f"train_{k}.txt" for k in range(1, n_det + 1))
    assert not list(root.parent.glob(".*tmp*")), "temp folder left behind"


def test_cls_loc_names_and_image_sets(root):
    il = root / "ILSVRC"
    cfg = mini.PRESETS[PRESET]
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


def test_image_sizes_follow_preset(root, plan):
    low, high = mini.PRESETS[PRESET]["short_side"]
    for job in plan.jobs[::3]:
        with Image.open(root / job.image_rel) as img:
            assert img.size == (job.width, job.height)
        assert low <= min(img.size) <= high
        assert mini.ASPECT_RANGE[0] - 0.02 <= img.width / img.height <= mini.ASPECT_RANGE[1] + 0.02


# -- class maps ---------------------------------------------------------------------------------
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


# -- determinism and atomic writes ---------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_differs(root, tmp_path):
    again = mini.generate_mini_ilsvrc(tmp_path / "again", PRESET, SEED)
    assert file_hashes(again) == file_hashes(root)
    other = file_hashes(mini.generate_mini_ilsvrc(tmp_path / "other", PRESET, SEED + 1))
    first = file_hashes(root)
    assert other.keys() != first.keys()
    assert other["ILSVRC/devkit/data/meta_det.mat"] != first["ILSVRC/devkit/data/meta_det.mat"]


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    def boom(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(mini, "_write_kaggle", boom)
    with pytest.raises(KeyboardInterrupt):
        mini.generate_mini_ilsvrc(tmp_path / "data", PRESET, SEED)
    assert list(tmp_path.iterdir()) == []


def test_ensure_generates_only_when_absent(tmp_path):
    target = tmp_path / "data"
    assert mini.ensure_mini_ilsvrc(target, PRESET, SEED) == target
    marker = mini.read_marker(target)
    assert (marker["preset"], marker["seed"], marker["version"]) == (PRESET, SEED, mini.VERSION)
    stamp = (target / mini.MARKER).stat().st_mtime_ns
    mini.ensure_mini_ilsvrc(target, PRESET, SEED)
    assert (target / mini.MARKER).stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError):
        mini.generate_mini_ilsvrc(target, PRESET, SEED)
    user = tmp_path / "user_data"
    user.mkdir()
    (user / "ILSVRC").mkdir()
    assert mini.ensure_mini_ilsvrc(user, PRESET, SEED) == user
    assert [p.name for p in user.iterdir()] == ["ILSVRC"], "an existing root is never touched"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert mini.read_marker(mini.ensure_mini_ilsvrc(empty, PRESET, SEED))["preset"] == PRESET
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "empty", "user_data"]


def test_overwrite_replaces_a_dataset(tmp_path):
    target = mini.generate_mini_ilsvrc(tmp_path / "data", PRESET, SEED)
    mini.generate_mini_ilsvrc(target, PRESET, SEED + 1, overwrite=True)
    assert mini.read_marker(target)["seed"] == SEED + 1
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


# -- traps ----------------------------------------------------------------------------------------
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


# -- labels agree everywhere -------------------------------------------------------------------
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


def test_det_lists_and_blacklist(root):
    il = root / "ILSVRC"
    dk = il / "devkit/data"
    val = lines(il / "ImageSets/DET/val.txt")
    assert [int(n) for _, n in val] == list(range(1, len(val) + 1))
    stems = [s for s, _ in val]
    assert all((il / f"Annotations/DET/val/{s}.xml").is_file() and (il / f"Data/DET/val/{s}.JPEG").is_file() for s in stems)
    black = lines(dk / "ILSVRC2015_det_validation_blacklist.txt")
    assert black
    for index, wnid in black:
        assert wnid in parse_annotation(il / f"Annotations/DET/val/{stems[int(index) - 1]}.xml").names
    halves = [lines(dk / f"det_lists/{n}.txt") for n in ("val1", "val2")]
    for half in halves:
        assert [int(n) for _, n in half] == list(range(1, len(half) + 1))
    val1, val2 = ({s for s, _ in h} for h in halves)
    assert not val1 & val2
    assert val1 | val2 == set(stems) - {stems[int(i) - 1] for i, _ in black}
    assert abs(len(val1) - len(val2)) <= 1
    test = lines(il / "ImageSets/DET/test.txt")
    assert all((il / f"Data/DET/test/{s}.JPEG").is_file() for s, _ in test)


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


# -- boxes are inside the image and tight around the drawn object -------------------------------
def test_boxes_inside_images_except_traps(root, traps):
    skip = trap_paths(traps, "xmax_equals_width", "inverted_box")
    cover_low, cover_high = mini.CLS_COVER_RANGE
    for xml in (root / "ILSVRC/Annotations").rglob("*.xml"):
        rel = str(xml.relative_to(root))
        if rel in skip:
            continue
        ann = parse_annotation(xml, keep_invalid=True)
        b = ann.boxes
        assert np.all(b[:, 0] >= 0) and np.all(b[:, 1] >= 0), rel
        assert np.all(b[:, 2] <= ann.width - 1) and np.all(b[:, 3] <= ann.height - 1), rel
        assert np.all(b[:, 2] >= b[:, 0]) and np.all(b[:, 3] >= b[:, 1]), rel
        if "/CLS-LOC/" in rel:
            cover = np.sum((b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)) / (ann.width * ann.height)
            assert cover_low <= cover <= cover_high, (rel, cover)


def test_boxes_are_the_bounding_boxes_of_the_drawn_masks(root, plan):
    jobs = [j for j in plan.jobs if j.xml_rel][::2]
    for job in jobs:
        scene = mini.render_job(plan, job)
        ann = parse_annotation(root / job.xml_rel)
        drawn = [o for o in scene.objects if o.annotated]
        assert len(ann) == len(drawn), job.xml_rel
        for box, obj in zip(ann.boxes, drawn):
            mask = obj.full_mask(job.height, job.width)
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            right = job.width if job.full_width else cols[-1]
            assert list(box) == [cols[0], rows[0], right, rows[-1]], job.xml_rel
            assert mask[int(box[1]), int(box[0]):].any() and mask[:, int(box[0])].any()


def test_files_hold_the_rendered_pixels(root, plan):
    png = [j for j in plan.jobs if j.fmt == "png"]
    for job in png:
        assert np.array_equal(np.asarray(Image.open(root / job.image_rel)), mini.render_job(plan, job).image)
    for job in [j for j in plan.jobs if j.fmt == "jpeg"][::9]:
        stored = np.asarray(Image.open(root / job.image_rel).convert("RGB"), dtype=np.float32)
        assert np.abs(stored - mini.render_job(plan, job).image).mean() < 12, job.image_rel  # JPEG noise


def test_objects_stand_out_from_background(plan):
    """Learnability smoke check: object pixels are more saturated than the background on average."""
    diffs = []
    for job in plan.by_split("cls_val"):
        scene = mini.render_job(plan, job)
        img = scene.image.astype(np.float32)
        sat = img.max(2) - img.min(2)
        inside = np.zeros(img.shape[:2], bool)
        for o in scene.objects:
            inside |= o.full_mask(job.height, job.width)
        diffs.append(sat[inside].mean() - sat[~inside].mean())
    assert np.mean(diffs) > 30


def test_preview_is_written(root, tmp_path):
    out = mini.write_preview(root, tmp_path / "preview.png", n=4)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 100 and img.height > 100
