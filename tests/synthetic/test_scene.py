"""scene.py: boxes inside the image and tight around the drawn masks, objects overlap little and stand out."""
from __future__ import annotations

import numpy as np

from ilsvrc_pipe.data.annotations import parse_annotation
from ilsvrc_pipe.ops.boxes import box_iou
from ilsvrc_pipe.synthetic import scene
from ilsvrc_pipe.synthetic.plan import render_job


def trap_paths(traps: dict, *keys) -> set[str]:
    return {p for k in keys for p in traps[k]}


def test_boxes_inside_images_except_traps(root, traps):
    skip = trap_paths(traps, "xmax_equals_width", "inverted_box")
    cover_low, cover_high = scene.CLS_COVER_RANGE
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
        scene = render_job(plan, job)
        ann = parse_annotation(root / job.xml_rel)
        drawn = [o for o in scene.objects if o.annotated]
        assert len(ann) == len(drawn), job.xml_rel
        for box, obj in zip(ann.boxes, drawn):
            mask = obj.full_mask(job.height, job.width)
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            right = job.width if job.full_width else cols[-1]
            assert list(box) == [cols[0], rows[0], right, rows[-1]], job.xml_rel
            assert mask[int(box[1]), int(box[0]):].any() and mask[:, int(box[0])].any()


def test_objects_stand_out_from_background(plan):
    """Learnability smoke check: object pixels are more saturated than the background on average."""
    diffs = []
    for job in plan.by_split("cls_val"):
        scene = render_job(plan, job)
        img = scene.image.astype(np.float32)
        sat = img.max(2) - img.min(2)
        inside = np.zeros(img.shape[:2], bool)
        for o in scene.objects:
            inside |= o.full_mask(job.height, job.width)
        diffs.append(sat[inside].mean() - sat[~inside].mean())
    assert np.mean(diffs) > 30


def test_placed_objects_overlap_little_and_stay_visible(plan):
    """DET objects overlap by at most 0.3 IoU (CLS-LOC: 0.15) and keep MIN_VISIBLE of their pixels."""
    for job in plan.jobs[::4]:
        drawn = render_job(plan, job)
        objs = drawn.objects
        if len(objs) < 2:
            continue
        iou = box_iou([o.box for o in objs], [o.box for o in objs])
        np.fill_diagonal(iou, 0)
        assert iou.max() <= (0.15 if job.split.startswith("cls") else 0.3), job.image_rel
        owner = np.full((job.height, job.width), -1)
        for k, o in enumerate(objs):
            owner[o.full_mask(job.height, job.width)] = k
        for k, o in enumerate(objs):
            assert (owner == k).sum() >= scene.MIN_VISIBLE * o.mask_area, job.image_rel


def test_background_scene_has_no_objects():
    drawn = scene.render_background_scene(np.random.default_rng(0), 40, 50)
    assert drawn.objects == [] and drawn.image.shape == (40, 50, 3) and drawn.image.dtype == np.uint8
