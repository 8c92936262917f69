"""plan.py: image sizes per preset, DET val blacklist and halves, each job's own random stream."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ilsvrc_pipe.data.annotations import parse_annotation
from ilsvrc_pipe.synthetic import plan as planning
from ilsvrc_pipe.synthetic.plan import ASPECT_RANGE, PRESETS, plan_dataset, render_job

PRESET, SEED = "smoke", 0


def lines(path: Path) -> list[list[str]]:
    return [ln.split() for ln in path.read_text().splitlines() if ln.strip()]


def test_image_sizes_follow_preset(root, plan):
    low, high = PRESETS[PRESET]["short_side"]
    for job in plan.jobs[::3]:
        with Image.open(root / job.image_rel) as img:
            assert img.size == (job.width, job.height)
        assert low <= min(img.size) <= high
        assert ASPECT_RANGE[0] - 0.02 <= img.width / img.height <= ASPECT_RANGE[1] + 0.02


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


def test_files_hold_the_rendered_pixels(root, plan):
    png = [j for j in plan.jobs if j.fmt == "png"]
    for job in png:
        assert np.array_equal(np.asarray(Image.open(root / job.image_rel)), render_job(plan, job).image)
    for job in [j for j in plan.jobs if j.fmt == "jpeg"][::9]:
        stored = np.asarray(Image.open(root / job.image_rel).convert("RGB"), dtype=np.float32)
        assert np.abs(stored - render_job(plan, job).image).mean() < 12, job.image_rel  # JPEG noise


def test_plan_is_deterministic_and_checks_the_preset(plan):
    again = plan_dataset(PRESET, SEED)
    assert again.jobs == plan.jobs and again.identities == plan.identities
    assert (again.cls_ids, again.det_ids, again.partial) == (plan.cls_ids, plan.det_ids, plan.partial)
    assert plan_dataset(PRESET, SEED + 1).identities != plan.identities
    with pytest.raises(ValueError):
        plan_dataset("huge", SEED)


def test_job_streams_are_independent(plan):
    job = plan.by_split("cls_val")[3]
    first = render_job(plan, job).image
    render_job(plan, plan.by_split("det_val")[0])
    assert np.array_equal(render_job(plan, job).image, first)
    assert set(planning.SPLIT_CODES) == {"plan"} | {j.split for j in plan.jobs}
