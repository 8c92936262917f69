"""Write an ILSVRC 2015 tree at ``scale`` times the real counts (``_scale_counts.py``) for timing the
data stage on the real layout.

Every index file and every XML is written as the real data has them: ImageSets CLS-LOC
(train_cls, train_loc, val, test) and DET (train_<k> of the 200 classes, val, test); the devkit's
map_clsloc.txt, map_det.txt, the CLS-LOC val ground truth and blacklist, the DET val blacklist, and
det_lists/ilsvrc13_val2.txt beside det_lists/val.txt as the ILSVRC2014 devkit ships them; the XMLs of
the boxed CLS-LOC train images, of CLS-LOC val, DET train (but its negatives) and DET val, in the
synthetic generator's format (``ilsvrc_pipe.synthetic.writers.annotation_xml``, the real files'
tab-indented layout).

Images take no space: one small flat JPEG per distinct (width, height) is written under
``_size_jpegs/`` (a copy per ``LINKS_PER_FILE`` images: file systems cap a file's links) and every
image of that size is a hard link to it, so an image's header carries its
size (what ``ilsvrc_pipe.data.images.image_size`` reads for the images without XML) and every image
decodes. Files are written by ``jobs`` forked processes, chunk by chunk as the parent draws them.

A finished tree holds ``MARKER`` (scale, seed, counts); :func:`ensure_tree` reuses a tree whose
marker matches and refuses to replace a folder that holds something else.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator, NamedTuple

import numpy as np
from _scale_counts import (
    CLSLOC_PER_CLASS,
    DET_SHARED_WITH_CLSLOC,
    draw_boxes,
    draw_numbers,
    draw_object_counts,
    draw_sizes,
    draw_wnids,
    scaled_counts,
    split_total,
)

from ilsvrc_pipe.synthetic.writers import annotation_xml, encode_image, write_file

MARKER = ".scale_tree.json"
VERSION = 1
CHUNK = 5000               # images per task handed to a writing process
SIZE_DIR = "_size_jpegs"
LINKS_PER_FILE = 60_000    # ext4 allows 65,000 links to one file: each size gets a copy per 60,000 images


class _Job(NamedTuple):
    """The fields of a synthetic ``Job`` that ``annotation_xml`` reads (no traps here)."""

    stem: str
    folder: str
    database: str
    width: int
    height: int
    full_width: bool = False
    inverted_extra: bool = False
    bndbox_xxyy: bool = False
    minimal_objects: bool = False


class _Object(NamedTuple):
    identity: str          # the WNID: the plan's identities below map it to itself
    box: tuple
    truncated: bool = False
    annotated: bool = True


class _Identities(dict):
    def __missing__(self, wnid: str):
        return SimpleNamespace(wnid=wnid)


_PLAN = SimpleNamespace(identities=_Identities())


def xml_text(stem: str, folder: str, database: str, width: int, height: int, objects) -> str:
    """The XML of one image (``objects``: (wnid, inclusive box) pairs), as the generator writes it."""
    scene = SimpleNamespace(objects=[_Object(w, b) for w, b in objects])
    return annotation_xml(_PLAN, _Job(stem, folder, database, width, height), scene)


# -- writing processes -----------------------------------------------------------------------------
_ROOT: Path | None = None


def _write_chunk(task) -> int:
    """Worker: hard links ``(rel, source JPEG name)`` and XMLs ``(rel, stem, folder, database, w, h, objects)``."""
    links, xmls = task
    root = str(_ROOT)
    for folder in {os.path.dirname(rel) for rel, _ in links} | {os.path.dirname(x[0]) for x in xmls}:
        os.makedirs(f"{root}/{folder}", exist_ok=True)
    for rel, source in links:
        os.link(f"{root}/{SIZE_DIR}/{source}", f"{root}/{rel}")
    for rel, stem, folder, database, w, h, objects in xmls:
        with open(f"{root}/{rel}", "w", encoding="utf-8") as fh:
            fh.write(xml_text(stem, folder, database, w, h, objects))
    return len(links) + len(xmls)


class _Files:
    """Hands chunks of files to ``jobs`` writing processes (forked before anything is drawn, at most
    a few chunks waiting); writes the size JPEGs a chunk needs before handing it over."""

    def __init__(self, root: Path, jobs: int):
        global _ROOT
        _ROOT = root
        self.root, self.images, self.xmls = root, 0, 0
        self.sizes: dict = {}     # (w, h) -> links so far
        self.jpegs: dict = {}     # (w, h) -> JPEG bytes
        (root / SIZE_DIR).mkdir(parents=True, exist_ok=True)
        self.pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else None
        self.pending: list = []
        self.limit = 4 * jobs

    def _source(self, w: int, h: int) -> str:
        """The JPEG of that size the next link goes to (a new copy every ``LINKS_PER_FILE`` links)."""
        copy, links = divmod(self.sizes.get((w, h), 0), LINKS_PER_FILE)
        self.sizes[(w, h)] = self.sizes.get((w, h), 0) + 1
        name = f"{w}x{h}_{copy}.JPEG"
        if links == 0:
            if copy == 0:
                self.jpegs[(w, h)] = encode_image(np.full((h, w, 3), 128, dtype=np.uint8), "jpeg")
            (self.root / SIZE_DIR / name).write_bytes(self.jpegs[(w, h)])
        return name

    def add(self, links: list, xmls: list) -> None:
        """``links``: (rel, w, h) of images; ``xmls``: (rel, stem, folder, database, w, h, objects)."""
        links = [(rel, self._source(w, h)) for rel, w, h in links]
        self.images, self.xmls = self.images + len(links), self.xmls + len(xmls)
        if self.pool is None:
            _write_chunk((links, xmls))
            return
        self.pending.append(self.pool.apply_async(_write_chunk, ((links, xmls),)))
        while len(self.pending) > self.limit:
            self.pending.pop(0).get()

    def close(self) -> None:
        """Wait for every chunk (a worker's error is raised here)."""
        if self.pool is not None:
            for result in self.pending:
                result.get()
            self.pool.close()
            self.pool.join()


def _lines(path: Path, lines) -> None:
    write_file(path, "".join(f"{line}\n" for line in lines))


def _numbered(stems) -> Iterator[str]:
    return (f"{s} {n}" for n, s in enumerate(stems, 1))


def _chunks(n: int) -> Iterator[range]:
    for start in range(0, n, CHUNK):
        yield range(start, min(n, start + CHUNK))


# -- CLS-LOC -----------------------------------------------------------------------------------------
def _clsloc(rng, counts: dict, files: _Files, root: Path) -> list[str]:
    """CLS-LOC train/val/test images, XMLs and ImageSets; returns the WNIDs in devkit-id order."""
    wnids = draw_wnids(rng, counts["clsloc_classes"])       # random order: devkit ids are not sorted order
    per_class = split_total(rng, counts["clsloc_train"], len(wnids), CLSLOC_PER_CLASS)
    stems = []
    for wnid, count in zip(wnids, per_class):
        stems.extend(f"{wnid}/{wnid}_{n}" for n in draw_numbers(rng, int(count), 40 * int(count)))
    stems.sort()
    boxed = np.zeros(len(stems), dtype=bool)
    boxed[rng.choice(len(stems), counts["clsloc_train_boxed"], replace=False)] = True
    sizes, n_obj = draw_sizes(rng, len(stems)), draw_object_counts(rng, len(stems))
    sets, data, ann = root / "ILSVRC/ImageSets/CLS-LOC", "ILSVRC/Data/CLS-LOC", "ILSVRC/Annotations/CLS-LOC"
    for part in _chunks(len(stems)):
        links = [(f"{data}/train/{stems[i]}.JPEG", *map(int, sizes[i])) for i in part]
        xmls = [(f"{ann}/train/{stems[i]}.xml", stems[i], stems[i].split("/")[0], "ILSVRC_2012", *map(int, sizes[i]),
                 [(stems[i].split("/")[0], b) for b in draw_boxes(rng, *sizes[i], n_obj[i])]) for i in part if boxed[i]]
        files.add(links, xmls)
    _lines(sets / "train_cls.txt", _numbered(stems))
    _lines(sets / "train_loc.txt", _numbered(s for s, b in zip(stems, boxed) if b))

    n_val = counts["clsloc_val"]
    val_class = rng.integers(0, len(wnids), n_val)
    val_stems = [f"ILSVRC2012_val_{n:08d}" for n in range(1, n_val + 1)]
    sizes, n_obj = draw_sizes(rng, n_val), draw_object_counts(rng, n_val)
    for part in _chunks(n_val):
        files.add([(f"{data}/val/{val_stems[i]}.JPEG", *map(int, sizes[i])) for i in part],
                  [(f"{ann}/val/{val_stems[i]}.xml", val_stems[i], "val", "ILSVRC_2012", *map(int, sizes[i]),
                    [(wnids[val_class[i]], b) for b in draw_boxes(rng, *sizes[i], n_obj[i])]) for i in part])
    _lines(sets / "val.txt", _numbered(val_stems))
    devkit = root / "ILSVRC/devkit/data"
    _lines(devkit / "ILSVRC2015_clsloc_validation_ground_truth.txt", (int(c) + 1 for c in val_class))
    _lines(devkit / "ILSVRC2015_clsloc_validation_blacklist.txt",
           draw_numbers(rng, min(counts["clsloc_val_blacklist"], n_val), n_val))

    test_stems = [f"ILSVRC2012_test_{n:08d}" for n in range(1, counts["clsloc_test"] + 1)]
    sizes = draw_sizes(rng, len(test_stems))
    for part in _chunks(len(test_stems)):
        files.add([(f"{data}/test/{test_stems[i]}.JPEG", *map(int, sizes[i])) for i in part], [])
    _lines(sets / "test.txt", _numbered(test_stems))
    _lines(devkit / "map_clsloc.txt", (f"{w} {k} clsloc_class_{k:04d}" for k, w in enumerate(wnids, 1)))
    return wnids


# -- DET -----------------------------------------------------------------------------------------------
def _det_objects(rng, classes: list[str], size, count: int, first: str | None = None) -> list:
    names = [classes[k] for k in rng.integers(0, len(classes), count)]
    if first is not None:
        names[0] = first
    return list(zip(names, draw_boxes(rng, *size, count)))


def _det_train(rng, counts: dict, classes: list[str], files: _Files) -> dict[str, list]:
    """DET train images and XMLs; returns each class's train list entries ``(stem, label)``."""
    data, ann = "ILSVRC/Data/DET/train", "ILSVRC/Annotations/DET/train"
    per_class = split_total(rng, counts["det_train_2013"], len(classes), (500, 3000))
    positives = []   # (stem, folder field, database)
    for wnid, count in zip(classes, per_class):
        positives.extend((f"ILSVRC2013_train/{wnid}/{wnid}_{n}", wnid, "ILSVRC_2013")
                         for n in draw_numbers(rng, int(count), 40 * int(count)))
    n2014 = counts["det_train_2014"]
    positives.extend((f"ILSVRC2014_train_{min(6, (n - 1) // 10000):04d}/ILSVRC2014_train_{n:08d}",
                      f"ILSVRC2014_train_{min(6, (n - 1) // 10000):04d}", "ILSVRC_2014") for n in range(1, n2014 + 1))
    lists: dict[str, list] = {w: [] for w in classes}
    sizes, n_obj = draw_sizes(rng, len(positives)), draw_object_counts(rng, len(positives))
    for part in _chunks(len(positives)):
        links, xmls = [], []
        for i in part:
            stem, folder, database = positives[i]
            first = folder if database == "ILSVRC_2013" else None
            objects = _det_objects(rng, classes, sizes[i], n_obj[i], first)
            links.append((f"{data}/{stem}.JPEG", *map(int, sizes[i])))
            xmls.append((f"{ann}/{stem}.xml", stem, folder, database, *map(int, sizes[i]), objects))
            for wnid in dict.fromkeys(w for w, _ in objects):
                lists[wnid].append((stem, 0 if rng.random() < 0.01 else 1))   # 1 % partially boxed
        files.add(links, xmls)
    n_neg = counts["det_train_negatives"]
    numbers = draw_numbers(rng, n_neg, 2 * n_neg)
    negatives = [f"ILSVRC2013_train_extra{k * 11 // n_neg}/ILSVRC2013_train_{n:08d}" for k, n in enumerate(numbers)]
    sizes = draw_sizes(rng, n_neg)
    for part in _chunks(n_neg):
        files.add([(f"{data}/{negatives[i]}.JPEG", *map(int, sizes[i])) for i in part], [])
    for stem in negatives:   # a verified negative of one or two classes
        for k in rng.choice(len(classes), int(rng.integers(1, 3)), replace=False):
            lists[classes[k]].append((stem, -1))
    return lists


def _det(rng, counts: dict, clsloc_wnids: list[str], files: _Files, root: Path) -> None:
    shared = [clsloc_wnids[k] for k in rng.choice(len(clsloc_wnids), DET_SHARED_WITH_CLSLOC, replace=False)]
    classes = shared + draw_wnids(rng, counts["det_classes"] - len(shared), set(clsloc_wnids))
    classes = [classes[k] for k in rng.permutation(len(classes))]   # DET id order
    sets, devkit = root / "ILSVRC/ImageSets/DET", root / "ILSVRC/devkit/data"
    for k, (wnid, entries) in enumerate(_det_train(rng, counts, classes, files).items(), 1):
        _lines(sets / f"train_{k}.txt", (f"{s} {label}" for s, label in sorted(entries)))

    n_val = counts["det_val"]
    n12 = n_val // 2
    val_stems = sorted([f"ILSVRC2012_val_{n:08d}" for n in draw_numbers(rng, n12, 50_000)]
                       + [f"ILSVRC2013_val_{n:08d}" for n in range(1, n_val - n12 + 1)])
    sizes, n_obj = draw_sizes(rng, n_val), draw_object_counts(rng, n_val)
    for part in _chunks(n_val):
        files.add([(f"ILSVRC/Data/DET/val/{val_stems[i]}.JPEG", *map(int, sizes[i])) for i in part],
                  [(f"ILSVRC/Annotations/DET/val/{val_stems[i]}.xml", val_stems[i], "val", "ILSVRC_2013",
                    *map(int, sizes[i]), _det_objects(rng, classes, sizes[i], n_obj[i])) for i in part])
    _lines(sets / "val.txt", _numbered(val_stems))
    _lines(devkit / "det_lists/val.txt", _numbered(val_stems))
    val2 = rng.choice(n_val, counts["det_val2"], replace=False)   # its own order, not sorted
    _lines(devkit / "det_lists/ilsvrc13_val2.txt", _numbered(val_stems[i] for i in val2))
    black = np.sort(rng.integers(1, n_val + 1, counts["det_val_blacklist"]))
    _lines(devkit / "ILSVRC2015_det_validation_blacklist.txt",
           (f"{i} {classes[k]}" for i, k in zip(black, rng.integers(0, len(classes), len(black)))))

    test_stems = [f"ILSVRC2015_test_{n:08d}" for n in range(1, counts["det_test"] + 1)]
    sizes = draw_sizes(rng, len(test_stems))
    for part in _chunks(len(test_stems)):
        files.add([(f"ILSVRC/Data/DET/test/{test_stems[i]}.JPEG", *map(int, sizes[i])) for i in part], [])
    _lines(sets / "test.txt", _numbered(test_stems))
    names = sorted(f"det_class_{k:03d}" for k in range(1, len(classes) + 1))   # ids alphabetical by name
    _lines(devkit / "map_det.txt", (f"{w} {k} {n}" for k, (w, n) in enumerate(zip(classes, names), 1)))


# -- the tree ------------------------------------------------------------------------------------------
def read_marker(out: Path) -> dict | None:
    try:
        return json.loads((Path(out) / MARKER).read_text())
    except (OSError, ValueError):
        return None


def write_tree(out: Path, scale: float, seed: int = 0, jobs: int = 1) -> dict:
    """Write the tree into the new folder ``out``; returns its marker (scale, seed, counts, files)."""
    out = Path(out)
    out.mkdir(parents=True)
    counts = scaled_counts(scale)
    rng = np.random.default_rng(seed)
    files = _Files(out, jobs)
    try:
        wnids = _clsloc(rng, counts, files, out)
        _det(rng, counts, wnids, files, out)
    finally:
        files.close()
    marker = {"version": VERSION, "scale": scale, "seed": seed, "counts": counts, "images": files.images,
              "xml_files": files.xmls, "distinct_image_sizes": len(files.sizes)}
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return marker


def ensure_tree(out: Path, scale: float, seed: int = 0, jobs: int = 1) -> tuple[dict, bool]:
    """The tree at ``out`` (reused when its marker says the same scale and seed, else rewritten);
    returns its marker and whether it was written now. A folder that is not such a tree is refused."""
    out = Path(out)
    marker = read_marker(out)
    if marker is not None and (marker["version"], marker["scale"], marker["seed"]) == (VERSION, scale, seed):
        return marker, False
    if out.exists():
        if marker is None and any(out.iterdir()):
            raise SystemExit(f"{out} exists and is no scale tree (no {MARKER}): give another --out")
        shutil.rmtree(out)
    return write_tree(out, scale, seed, jobs), True
