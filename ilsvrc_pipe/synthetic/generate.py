"""Writing the whole dataset to a folder atomically, and generating it on first use.

``generate_mini_ilsvrc`` plans the dataset (``plan.py``), renders and writes every file
(``writers.py``) into a temp folder beside the target, adds the completion marker ``MARKER`` last
and renames the folder into place. ``ensure_mini_ilsvrc`` does that only when the root is absent or
an empty folder; ``read_marker`` tells a generated dataset (its preset, seed, version and counts)
from any other folder.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .plan import SPLIT_CODES, Plan, finish_det_val_lists, plan_dataset, render_job
from .writers import (
    TRAPS_FILE,
    annotation_xml,
    encode_image,
    traps_manifest,
    write_devkit,
    write_file,
    write_image_sets,
    write_kaggle,
)

logger = logging.getLogger(__name__)

VERSION = 1
MARKER = ".mini_ilsvrc.json"
# ``generator`` of the marker: the generator's original module name, kept so the bytes stay the same.
GENERATOR = "ilsvrc_pipe.data.mini"


def _counts(plan: Plan) -> dict:
    count = {s: len(plan.by_split(s)) for s in SPLIT_CODES if s != "plan"}
    count["cls_train_boxed"] = sum(1 for j in plan.by_split("cls_train") if j.xml_rel)
    count["det_negatives"] = sum(1 for j in plan.by_split("det_train") if j.xml_rel is None)
    return count


def _write_dataset(root: Path, plan: Plan) -> dict:
    """Render and write every file of the plan under ``root``; returns the counts."""
    results = {}
    for job in tqdm(plan.jobs, desc="render images", unit="img", leave=False, disable=len(plan.jobs) < 500):
        scene = render_job(plan, job)
        results[job.image_rel] = scene
        write_file(root / job.image_rel, encode_image(scene.image, job.fmt))
        if job.xml_rel:
            write_file(root / job.xml_rel, annotation_xml(plan, job, scene))
        scene.image = None  # keep only the objects' boxes in memory
        for obj in scene.objects:
            obj.mask = None
    rng = np.random.default_rng([plan.seed, SPLIT_CODES["plan"], 1])
    finish_det_val_lists(rng, plan, results)
    write_devkit(root, plan)
    write_image_sets(root, plan, results)
    write_kaggle(root, plan, results, rng)
    write_file(root / TRAPS_FILE, json.dumps(traps_manifest(plan), indent=1, sort_keys=True) + "\n")
    return _counts(plan)



def _swap_in(new: Path, out: Path) -> None:
    """Replace ``out`` by ``new`` with two renames, deleting the old copy only afterwards."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    out.rename(old)
    new.rename(out)
    shutil.rmtree(old) if old.is_dir() else old.unlink()


def generate_mini_ilsvrc(out_dir: str | os.PathLike, preset: str = "mini", seed: int = 0,
                         overwrite: bool = False) -> Path:
    """Write the dataset to ``out_dir`` atomically: built in a temp folder beside it, then renamed.

    An existing ``out_dir`` is an error unless ``overwrite``. Returns ``out_dir``.
    """
    out = Path(out_dir).absolute()
    plan = plan_dataset(preset, seed)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        start = time.perf_counter()
        counts = _write_dataset(tmp, plan)
        marker = dict(generator=GENERATOR, version=VERSION, preset=preset, seed=seed, counts=counts)
        write_file(tmp / MARKER, json.dumps(marker, indent=1, sort_keys=True) + "\n")
        if overwrite and out.exists():
            _swap_in(tmp, out)
        else:
            tmp.rename(out)  # raises if another writer finished first: its copy is kept
        logger.info("wrote %s preset %r seed %d in %.1f s: %s", out, preset, seed, time.perf_counter() - start, counts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_marker(root: str | os.PathLike) -> dict | None:
    """The completion marker of a generated dataset, or None for any other folder."""
    path = Path(root) / MARKER
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def ensure_mini_ilsvrc(root: str | os.PathLike, preset: str = "mini", seed: int = 0) -> Path:
    """Generate the dataset at ``root`` only when ``root`` is absent (or an empty folder); return it.

    An existing root is used as it is (it may be the user's real data); a generated one whose marker
    names another preset/seed/version only earns a warning. Concurrent callers are safe: the loser
    of the final rename keeps the winner's copy.
    """
    root = Path(root)
    empty_dir = root.is_dir() and not any(root.iterdir())
    if root.exists() and not empty_dir:
        marker = read_marker(root)
        want = dict(preset=preset, seed=seed, version=VERSION)
        if marker is not None and any(marker.get(k) != v for k, v in want.items()):
            logger.warning("%s holds a generated dataset %s, not %s; using it as it is (delete it to regenerate)",
                           root, {k: marker.get(k) for k in want}, want)
        return root
    try:
        return generate_mini_ilsvrc(root, preset, seed, overwrite=empty_dir)
    except (FileExistsError, OSError):
        if read_marker(root) is not None:
            return root
        raise
