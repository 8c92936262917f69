"""The dataset plan: every image as a ``Job`` (what to draw, where to write it, which traps apply).

``plan_dataset(preset, seed)`` decides everything but pixels: the class identities, CLS-LOC devkit
order and DET id order, every file name, image size and object count, the CLS-LOC val blacklist
and which jobs carry the deliberate traps (listed in ``__init__.py``). ``render_job`` draws one job
from its own random stream keyed on (seed, split, index), so images are independent of each other.
``finish_det_val_lists`` fills in the DET val blacklist and val1/val2 once the images are drawn.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .context import SceneContext, with_lookalikes
from .identities import MINI_CATALOGUE, Identity, make_identities
from .scene import MINI_STYLE, Scene, SceneStyle, render_background_scene, render_cls_scene, render_det_scene

_CLUTTERED = dict(
    cls_classes=14, cls_train_per_class=60, cls_val=210, cls_test=112,
    det_classes=10, det_shared=4, det_train_per_class=24, det_train_2014=60, det_negatives=30,
    det_val=100, det_test=50, short_side=(96, 160), catalogue=22,
    style=SceneStyle(cls_cover=None, cls_side=(0.15, 0.85), det_small_fraction=0.25, det_side=(0.15, 0.7),
                     cls_distractors=(2, 7), det_distractors=(2, 8), textured_distractors=0.25,
                     hue_jitter=0.04, saturation=(0.45, 1.0), lighting=0.3, blur=0.2))

# Sizes of each preset. ``style`` (how scenes look) and ``catalogue`` (how many identities the
# classes are drawn from) default to mini's, ``aspect_range`` (image width / height) to ASPECT_RANGE,
# ``det_lists`` (how the DET val halves are written, see DET_LISTS) to ``val1_val2``, and
# ``both_orientations`` (CLS-LOC val and DET val each hold a portrait and a landscape image) to False.
PRESETS: dict[str, dict] = {
    "smoke": dict(
        cls_classes=4, cls_train_per_class=16, cls_val=16, cls_test=8,
        det_classes=4, det_shared=2, det_train_per_class=8, det_train_2014=8, det_negatives=4,
        det_val=16, det_test=8, short_side=(64, 96)),
    "mini": dict(
        cls_classes=10, cls_train_per_class=80, cls_val=200, cls_test=100,
        det_classes=8, det_shared=4, det_train_per_class=30, det_train_2014=60, det_negatives=30,
        det_val=100, det_test=50, short_side=(96, 160)),
    # Unlike mini the way real data is: more classes, 8 of them shapes and patterns mini never
    # draws; CLS-LOC objects 15-85 % of the shorter side (mini: by area, about 35-80 %); more and
    # textured distractors; wider colour, saturation and lighting variation; some soft images.
    "cluttered": _CLUTTERED,
    # `cluttered` whose scenes say something of their classes (context.py): habitats, companions,
    # look-alike DET classes; backgrounds elsewhere are independent of the classes.
    "scenes": dict(_CLUTTERED, style=replace(_CLUTTERED["style"], context=SceneContext())),
    # The paper config end to end at ImageNet's image sizes, with the fewest images that still carry
    # every trap; its DET val lists are laid out as the public ILSVRC2014 devkit ships them. Small DET
    # objects are 20-60 px (mini's 10-28 px would be specks on these images).
    "paper_size": dict(
        cls_classes=4, cls_train_per_class=8, cls_val=8, cls_test=4,
        det_classes=4, det_shared=2, det_train_per_class=2, det_train_2014=3, det_negatives=1,
        det_val=6, det_test=2, short_side=(281, 500), aspect_range=(0.5, 2.0), both_orientations=True,
        det_lists="ilsvrc2014_devkit", style=SceneStyle(det_small_px=(20, 60))),
}
ASPECT_RANGE = (0.75, 1.33)          # image width / height, unless a preset sets its aspect_range
# How the DET val halves are written: both as det_lists/val1.txt and val2.txt (sorted), or as the
# ILSVRC2014 devkit ships them: det_lists/ilsvrc13_val2.txt (val2 in its own order) and
# det_lists/val.txt (all of val), no val1 (readers derive it).
DET_LISTS = ("val1_val2", "ilsvrc2014_devkit")
BOXED_FRACTION = 0.5                 # CLS-LOC train images with an XML

# Random stream of each split (and of the plan itself): part of the key of every image's stream.
SPLIT_CODES = {"plan": 0, "cls_train": 1, "cls_val": 2, "cls_test": 3, "det_train": 4, "det_val": 5,
               "det_test": 6}


@dataclass
class Job:
    """One image to render and write. Paths are relative to the dataset root."""

    split: str                 # key of SPLIT_CODES
    index: int                 # position within the split: seeds the image's random stream
    image_rel: str
    xml_rel: str | None
    stem: str                  # name used in ImageSets / CSVs
    width: int
    height: int
    folder: str
    database: str
    classes: tuple[int, ...] = ()   # identity indices that must appear
    n_objects: int = 1
    fmt: str = "jpeg"               # jpeg | png | cmyk | gray
    full_width: bool = False        # trap: object spanning the width, written xmax = width
    bndbox_xxyy: bool = False       # trap: bndbox children as xmin, xmax, ymin, ymax
    inverted_extra: bool = False    # trap: an extra object with xmax < xmin
    minimal_objects: bool = False   # DET objects with only name and bndbox
    empty: bool = False             # DET image with no class objects
    hidden: int | None = None       # DET partial label: class with an unannotated instance


@dataclass
class Plan:
    preset: str
    seed: int
    identities: list[Identity]
    cls_ids: list[int]              # identity indices of the CLS-LOC classes, devkit order
    det_ids: list[int]              # identity indices of the DET classes, DET id order
    jobs: list[Job]
    cls_val_blacklist: list[int]
    det_val_blacklist: list[tuple[int, str]]
    det_val_split: tuple[list[str], list[str]]
    partial: list[tuple[str, int]]  # (DET train stem, identity index) listed 0

    def by_split(self, split: str) -> list[Job]:
        return [j for j in self.jobs if j.split == split]


def _image_size(rng, cfg) -> tuple[int, int]:
    """(width, height): the shorter side in the preset's ``short_side``, width/height log-uniform in
    its ``aspect_range``."""
    low, high = cfg.get("aspect_range", ASPECT_RANGE)
    short = int(rng.integers(cfg["short_side"][0], cfg["short_side"][1] + 1))
    aspect = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return (int(round(short * aspect)), short) if aspect >= 1 else (short, int(round(short / aspect)))


def _ensure_both_orientations(jobs: list[Job]) -> None:
    """Make one image portrait and one landscape if the draw gave none (no random draw: the first
    and last jobs are turned, so the other images and the plan's stream stay as drawn)."""
    if not any(j.height > j.width for j in jobs):
        _turn(jobs[0], portrait=True)
    if not any(j.width > j.height for j in jobs):
        _turn(jobs[-1], portrait=False)


def _turn(job: Job, portrait: bool) -> None:
    """Swap a job's sides into the orientation asked for (a square one gets a 4:3 long side)."""
    short, long_ = min(job.width, job.height), max(job.width, job.height)
    long_ = long_ if long_ > short else int(round(short * 4 / 3))
    job.width, job.height = (short, long_) if portrait else (long_, short)


def _image_numbers(rng, count, low, high) -> list[int]:
    """Sorted, distinct, non-consecutive image numbers like the real ``<wnid>_<n>``."""
    return sorted(int(n) for n in rng.choice(np.arange(low, high), size=count, replace=False))


def _devkit_order(rng, count) -> np.ndarray:
    """A permutation of sorted order that is not the identity (so id/index confusion shows)."""
    while True:
        perm = rng.permutation(count)
        if count < 2 or not np.array_equal(perm, np.arange(count)):
            return perm


def _plan_classes(rng, cfg):
    """Identities plus CLS-LOC classes in devkit order and DET classes in DET id order."""
    n_cls, n_det, shared = cfg["cls_classes"], cfg["det_classes"], cfg["det_shared"]
    identities = make_identities(rng, n_cls + n_det - shared, cfg.get("catalogue", MINI_CATALOGUE))
    context = cfg.get("style", MINI_STYLE).context
    if context is not None:
        identities = with_lookalikes(identities, list(range(n_cls, n_cls + n_det - shared)), context)
    by_wnid = sorted(range(n_cls), key=lambda i: identities[i].wnid)
    cls_ids = [by_wnid[p] for p in _devkit_order(rng, n_cls)]
    det_pool = list(range(n_cls - shared, n_cls + n_det - shared))
    det_ids = sorted(det_pool, key=lambda i: identities[i].name)
    return identities, cls_ids, det_ids


def _plan_cls_train(rng, cfg, identities, cls_ids) -> list[Job]:
    jobs = []
    for ident_idx in sorted(cls_ids, key=lambda i: identities[i].wnid):
        wnid = identities[ident_idx].wnid
        numbers = _image_numbers(rng, cfg["cls_train_per_class"], 1, 40000)
        boxed = set(rng.choice(len(numbers), size=int(round(len(numbers) * BOXED_FRACTION)), replace=False).tolist())
        for k, n in enumerate(numbers):
            stem = f"{wnid}/{wnid}_{n}"
            jobs.append(Job(
                "cls_train", len(jobs), f"ILSVRC/Data/CLS-LOC/train/{stem}.JPEG",
                f"ILSVRC/Annotations/CLS-LOC/train/{stem}.xml" if k in boxed else None, stem,
                *_image_size(rng, cfg), folder=wnid, database="ILSVRC_2012",
                classes=(ident_idx,), n_objects=1 if rng.random() < 0.85 or k not in boxed else 2))
    return jobs


def _plan_cls_eval(rng, cfg, split, cls_ids) -> list[Job]:
    """Val or test jobs: classes balanced then shuffled; val gets 2-3 objects in ~12% of images."""
    count = cfg["cls_val"] if split == "cls_val" else cfg["cls_test"]
    labels = rng.permutation(np.resize(np.asarray(cls_ids), count))
    tag = "val" if split == "cls_val" else "test"
    jobs = []
    for i, ident_idx in enumerate(labels, 1):
        stem = f"ILSVRC2012_{tag}_{i:08d}"
        n_obj = int(rng.integers(2, 4)) if split == "cls_val" and rng.random() < 0.12 else 1
        jobs.append(Job(
            split, i - 1, f"ILSVRC/Data/CLS-LOC/{tag}/{stem}.JPEG",
            f"ILSVRC/Annotations/CLS-LOC/val/{stem}.xml" if tag == "val" else None, stem,
            *_image_size(rng, cfg), folder=tag, database="ILSVRC_2012",
            classes=(int(ident_idx),), n_objects=n_obj))
    return jobs


def _det_train_job(rng, cfg, index, rel, database, folder, classes, n_objects, **kw) -> Job:
    return Job("det_train", index, f"ILSVRC/Data/DET/train/{rel}.JPEG",
               f"ILSVRC/Annotations/DET/train/{rel}.xml", rel, *_image_size(rng, cfg),
               folder=folder, database=database, classes=classes, n_objects=n_objects, **kw)


def _plan_det_train(rng, cfg, identities, det_ids) -> list[Job]:
    """Class folders of ILSVRC2013_train, mixed ILSVRC2014 images, and extra0 negatives without XML."""
    jobs: list[Job] = []
    for ident_idx in sorted(det_ids, key=lambda i: identities[i].wnid):
        wnid = identities[ident_idx].wnid
        for n in _image_numbers(rng, cfg["det_train_per_class"], 1, 60000):
            jobs.append(_det_train_job(rng, cfg, len(jobs), f"ILSVRC2013_train/{wnid}/{wnid}_{n}",
                                       "ILSVRC_2013", "ILSVRC2013_train", (ident_idx,), int(rng.integers(1, 5))))
    for n in _image_numbers(rng, cfg["det_train_2014"], 1, 7000):
        req = tuple(int(i) for i in rng.choice(det_ids, size=2, replace=False))
        jobs.append(_det_train_job(rng, cfg, len(jobs), f"ILSVRC2014_train_0000/ILSVRC2014_train_{n:08d}",
                                   "ILSVRC_2014", "ILSVRC2014_train_0000", req, int(rng.integers(2, 6)),
                                   minimal_objects=True))
    for n in _image_numbers(rng, cfg["det_negatives"], 1, 200000):
        rel = f"ILSVRC2013_train_extra0/ILSVRC2013_train_{n:08d}"
        job = _det_train_job(rng, cfg, len(jobs), rel, "ILSVRC_2013", "ILSVRC2013_train_extra0", (), 0, empty=True)
        jobs.append(replace(job, xml_rel=None))
    return jobs


def _plan_det_eval(rng, cfg, split, det_ids) -> list[Job]:
    """DET val (two name prefixes, all with XML) or test jobs with 1-5 objects each."""
    count = cfg["det_val"] if split == "det_val" else cfg["det_test"]
    if split == "det_val":
        n2012 = count * 2 // 5
        stems = [f"ILSVRC2012_val_{n:08d}" for n in _image_numbers(rng, n2012, 1, 50001)]
        stems += [f"ILSVRC2013_val_{n:08d}" for n in _image_numbers(rng, count - n2012, 1, 30000)]
    else:
        stems = [f"ILSVRC2015_test_{i:08d}" for i in range(1, count + 1)]
    tag = "val" if split == "det_val" else "test"
    jobs = []
    for i, stem in enumerate(sorted(stems)):
        req = (int(rng.choice(det_ids)),)
        jobs.append(Job(split, i, f"ILSVRC/Data/DET/{tag}/{stem}.JPEG",
                        f"ILSVRC/Annotations/DET/val/{stem}.xml" if tag == "val" else None, stem,
                        *_image_size(rng, cfg), folder=tag, database="ILSVRC_2013",
                        classes=req, n_objects=int(rng.integers(1, 6))))
    return jobs


def _pick(rng, jobs, count, where=lambda j: True) -> list[Job]:
    """``count`` distinct jobs satisfying ``where`` (deterministic for the stream)."""
    cands = [j for j in jobs if where(j) and j.fmt == "jpeg" and not j.full_width and not j.inverted_extra]
    if len(cands) < count:
        raise RuntimeError("preset too small for its traps")
    return [cands[i] for i in sorted(rng.choice(len(cands), size=count, replace=False))]


def _assign_traps(rng, plan: Plan) -> None:
    """Mark the jobs that carry the deliberate traps (see ``__init__.py``)."""
    cls_train, cls_val = plan.by_split("cls_train"), plan.by_split("cls_val")
    det_train, det_val = plan.by_split("det_train"), plan.by_split("det_val")
    det_pos = lambda j: j.folder == "ILSVRC2013_train"  # noqa: E731
    for j in _pick(rng, cls_train, 1):
        j.fmt = "png"
    for j in _pick(rng, det_train, 1, det_pos):
        j.fmt = "png"
    for j in _pick(rng, cls_train, 2):
        j.fmt = "cmyk"
    for j in _pick(rng, cls_train, 1) + _pick(rng, cls_val, 1, lambda j: j.n_objects == 1) + _pick(rng, det_train, 2, det_pos):
        j.fmt = "gray"
    for j in _pick(rng, cls_val, 1, lambda j: j.n_objects == 1):
        j.full_width = True
    if not any(j.n_objects > 1 for j in cls_val):
        _pick(rng, cls_val, 1, lambda j: not j.full_width)[0].n_objects = 2
    for j in _pick(rng, cls_val, 2) + _pick(rng, cls_train, 1, lambda j: j.xml_rel is not None) + _pick(rng, det_val, 2):
        j.bndbox_xxyy = True
    for j in _pick(rng, cls_train, 1, lambda j: j.xml_rel is not None):
        j.inverted_extra = True
    for j in _pick(rng, det_train, 2, lambda j: j.folder == "ILSVRC2014_train_0000"):
        j.empty, j.classes, j.n_objects = True, (), 0
    for j in _pick(rng, det_train, 2, det_pos):
        j.hidden = int(rng.choice([i for i in plan.det_ids if i not in j.classes]))
        plan.partial.append((j.stem, j.hidden))


def plan_dataset(preset: str = "mini", seed: int = 0) -> Plan:
    """Everything about the dataset but pixels: classes, files, splits, CLS-LOC blacklist and traps.

    The DET val blacklist and val1/val2 depend on what was drawn: ``finish_det_val_lists`` adds them.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    cfg = PRESETS[preset]
    rng = np.random.default_rng([seed, SPLIT_CODES["plan"]])
    identities, cls_ids, det_ids = _plan_classes(rng, cfg)
    jobs = (_plan_cls_train(rng, cfg, identities, cls_ids) + _plan_cls_eval(rng, cfg, "cls_val", cls_ids)
            + _plan_cls_eval(rng, cfg, "cls_test", cls_ids) + _plan_det_train(rng, cfg, identities, det_ids)
            + _plan_det_eval(rng, cfg, "det_val", det_ids) + _plan_det_eval(rng, cfg, "det_test", det_ids))
    plan = Plan(preset, seed, identities, cls_ids, det_ids, jobs, [], [], ([], []), [])
    if cfg.get("both_orientations", False):
        for split in ("cls_val", "det_val"):
            _ensure_both_orientations(plan.by_split(split))
    _assign_traps(rng, plan)
    n_val = cfg["cls_val"]
    plan.cls_val_blacklist = sorted(int(i) + 1 for i in rng.choice(n_val, size=max(2, n_val // 50), replace=False))
    return plan


def render_job(plan: Plan, job: Job) -> Scene:
    """Pixels and objects of one job, from its own random stream (independent of other images)."""
    rng = np.random.default_rng([plan.seed, SPLIT_CODES[job.split], job.index])
    style = PRESETS[plan.preset].get("style", MINI_STYLE)
    if job.empty:
        return render_background_scene(rng, job.height, job.width, style)
    if job.split.startswith("cls"):
        return render_cls_scene(rng, plan.identities, job.classes[0], job.height, job.width,
                                job.n_objects, job.full_width, style)
    return render_det_scene(rng, plan.identities, job.classes, plan.det_ids, job.height, job.width,
                            job.n_objects, job.hidden, style)


def finish_det_val_lists(rng, plan: Plan, results: dict) -> None:
    """DET val blacklist (image, class present on it) and the val1/val2 halves without those images,
    sorted; in the ILSVRC2014 devkit layout val2 is shuffled (that list is in its own order)."""
    val = plan.by_split("det_val")
    count = max(2, len(val) // 25)
    picks = sorted(rng.choice(len(val), size=count, replace=False))
    plan.det_val_blacklist = []
    for p in picks:
        objs = [o for o in results[val[p].image_rel].objects if o.annotated]
        plan.det_val_blacklist.append((int(p) + 1, plan.identities[objs[int(rng.integers(len(objs)))].identity].wnid))
    banned = {val[i - 1].stem for i, _ in plan.det_val_blacklist}
    kept = [j.stem for j in val if j.stem not in banned]
    order = rng.permutation(len(kept))
    half = len(kept) // 2
    plan.det_val_split = (sorted(kept[i] for i in order[:half]), sorted(kept[i] for i in order[half:]))
    if det_lists_layout(plan) == "ilsvrc2014_devkit":
        val2 = plan.det_val_split[1]
        plan.det_val_split = (plan.det_val_split[0], [val2[i] for i in _devkit_order(rng, len(val2))])


def det_lists_layout(plan: Plan) -> str:
    """The preset's DET val list layout, one of DET_LISTS."""
    layout = PRESETS[plan.preset].get("det_lists", "val1_val2")
    if layout not in DET_LISTS:
        raise ValueError(f"preset {plan.preset!r}: det_lists {layout!r} is not one of {DET_LISTS}")
    return layout

