"""The `paper_size` preset: ImageNet-sized images in both orientations, every trap, and the DET val
lists as the public ILSVRC2014 devkit ships them; the other presets' plans stay as they were."""
from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from ilsvrc_pipe.data.annotations import parse_annotation
from ilsvrc_pipe.data.det_records import load_det_records
from ilsvrc_pipe.synthetic import CLS_COVER_RANGE, TRAPS_FILE, generate_mini_ilsvrc, plan_dataset
from ilsvrc_pipe.synthetic.plan import PRESETS
from ilsvrc_pipe.synthetic.writers import traps_manifest

PRESET = "paper_size"


@pytest.fixture(scope="module")
def paper_plan():
    return plan_dataset(PRESET, 0)


@pytest.fixture(scope="module")
def paper_root(tmp_path_factory):
    return generate_mini_ilsvrc(tmp_path_factory.mktemp("paper_size") / "data", PRESET, 0)


def plan_digest(preset: str) -> str:
    plan = plan_dataset(preset, 0)
    data = dict(jobs=[dataclasses.asdict(j) for j in plan.jobs], cls=plan.cls_ids, det=plan.det_ids,
                black=plan.cls_val_blacklist, partial=plan.partial,
                identities=[dataclasses.asdict(i) for i in plan.identities])
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@pytest.mark.parametrize("preset, digest", [("smoke", "f3c47dc7515e777c"), ("mini", "581eeadf69dab110"),
                                            ("cluttered", "cabe9c695984b976")])
def test_other_presets_plan_the_same_files_as_before(preset, digest):
    assert plan_digest(preset) == digest


def test_images_are_imagenet_sized_in_both_orientations(paper_plan):
    for job in paper_plan.jobs:
        assert 281 <= min(job.width, job.height) <= 500, job.image_rel
        assert 0.5 - 0.01 <= job.width / job.height <= 2.0 + 0.01, job.image_rel
    for split in ("cls_val", "det_val"):
        jobs = paper_plan.by_split(split)
        assert any(j.height > j.width for j in jobs) and any(j.width > j.height for j in jobs), split


def test_counts_and_every_trap(paper_plan):
    count = {s: len(paper_plan.by_split(s)) for s in ("cls_train", "cls_val", "cls_test", "det_train", "det_val",
                                                        "det_test")}
    assert count == dict(cls_train=4 * 8, cls_val=8, cls_test=4, det_train=4 * 2 + 3 + 1, det_val=6, det_test=2)
    assert sum(1 for j in paper_plan.by_split("cls_train") if j.xml_rel) == 16
    assert len(paper_plan.det_ids) == 4 and len(set(paper_plan.cls_ids) & set(paper_plan.det_ids)) == 2
    traps = traps_manifest(paper_plan)
    assert all(traps[name] for name in traps), [name for name in traps if not traps[name]]


def test_det_val_lists_are_laid_out_like_the_ilsvrc2014_devkit(paper_root, paper_plan):
    il = paper_root / "ILSVRC"
    lists = il / "devkit/data/det_lists"
    assert sorted(p.name for p in lists.iterdir()) == ["ilsvrc13_val2.txt", "val.txt"]
    assert (lists / "val.txt").read_text() == (il / "ImageSets/DET/val.txt").read_text()
    val2 = [ln.split() for ln in (lists / "ilsvrc13_val2.txt").read_text().splitlines()]
    assert [int(n) for _, n in val2] == list(range(1, len(val2) + 1))
    stems = [s for s, _ in val2]
    assert stems != sorted(stems), "the devkit's val2 is in its own order, not sorted"
    assert len(stems) == 2   # 6 val images, 2 blacklisted, the other 4 halved
    records = load_det_records(paper_root, "val2").images
    assert records["image_id"].tolist() == stems
    val1 = load_det_records(paper_root, "val1").images
    black = {int(ln.split()[0]) for ln in (il / "devkit/data/ILSVRC2015_det_validation_blacklist.txt").read_text().splitlines()}
    assert len(val1) == 6 - len(stems) - len(black) and not set(val1["index"]) & black
    assert not set(val1["image_id"]) & set(stems)


def test_traps_manifest_names_files_that_exist(paper_root):
    traps = json.loads((paper_root / TRAPS_FILE).read_text())
    for name, files in traps.items():
        for rel in files:
            if rel.startswith("ILSVRC/"):
                assert (paper_root / rel).is_file(), (name, rel)


def test_objects_are_sized_relative_to_the_image(paper_root, paper_plan):
    """DET boxes 5-70 % of the shorter side (small ones included); CLS-LOC boxes by area, as in mini."""
    sides = []
    for job in paper_plan.by_split("det_val"):
        ann = parse_annotation(paper_root / job.xml_rel)
        w, h = ann.boxes[:, 2] - ann.boxes[:, 0] + 1, ann.boxes[:, 3] - ann.boxes[:, 1] + 1
        sides.extend(np.sqrt(w * h) / min(job.width, job.height))
    sides = np.asarray(sides)
    assert sides.min() >= 0.03 and sides.max() <= 0.9 and 0.15 <= np.median(sides) <= 0.6, sides
    low, high = CLS_COVER_RANGE
    for job in paper_plan.by_split("cls_val"):
        if job.full_width:
            continue
        ann = parse_annotation(paper_root / job.xml_rel)
        area = np.sum((ann.boxes[:, 2] - ann.boxes[:, 0] + 1) * (ann.boxes[:, 3] - ann.boxes[:, 1] + 1))
        assert low <= area / (job.width * job.height) <= high, job.xml_rel


@pytest.mark.parametrize("aspect_range", [(1.2, 1.5), (1.0, 1.0)])   # all landscape; all square
def test_a_draw_without_both_orientations_is_turned(monkeypatch, aspect_range):
    monkeypatch.setitem(PRESETS, "paper_size_flat", dict(PRESETS[PRESET], aspect_range=aspect_range))
    plan = plan_dataset("paper_size_flat", 0)
    for split in ("cls_val", "det_val"):
        jobs = plan.by_split(split)
        assert jobs[0].height > jobs[0].width and jobs[-1].width > jobs[-1].height, split
        assert 281 <= min(jobs[0].width, jobs[0].height) <= 500
    assert all(j.width >= j.height for j in plan.by_split("cls_train"))
