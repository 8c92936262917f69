"""Generator of the small ILSVRC-layout dataset that the pipeline uses by default.

The real ILSVRC 2015 data is 160 GB and not redistributable, yet every stage must run end to end on
a laptop and meet every trap of the real files. This module writes a synthetic dataset in the exact
real on-disk layout (see ``/work/shared/ILSVRC_FORMATS.md``)::

    <root>/ILSVRC/Data/CLS-LOC/{train/<wnid>/<wnid>_<n>.JPEG, val/, test/}
    <root>/ILSVRC/Annotations/CLS-LOC/{train/<wnid>/<stem>.xml (about half), val/<stem>.xml (all)}
    <root>/ILSVRC/ImageSets/CLS-LOC/{train_cls,train_loc,val,test}.txt
    <root>/ILSVRC/Data/DET/train/{ILSVRC2013_train/<wnid>/, ILSVRC2013_train_extra0/, ILSVRC2014_train_0000/}
    <root>/ILSVRC/Data/DET/{val,test}/ and Annotations/DET/{train,val}/<same relative stem>.xml
    <root>/ILSVRC/ImageSets/DET/{train_<k>,val,test}.txt
    <root>/ILSVRC/devkit/data/{map_clsloc.txt, meta_clsloc.mat, ILSVRC2015_clsloc_validation_*.txt,
                               map_det.txt, meta_det.mat, ILSVRC2015_det_validation_blacklist.txt,
                               det_lists/val1.txt, det_lists/val2.txt}
    <root>/LOC_synset_mapping.txt, LOC_train_solution.csv, LOC_val_solution.csv, LOC_sample_submission.csv
    <root>/traps.json, <root>/.mini_ilsvrc.json (completion marker: preset, seed, version, counts)

Images are learnable: every class has its own shape, fill pattern and colour family, and instances
vary in scale, aspect, rotation (within +-30 degrees), border truncation, colour and lighting. They
sit on cluttered backgrounds (gradients, smooth noise, irregular blobs) with distractors (spiky
solid polygons, line strokes) that belong to no class. Boxes are inclusive integer pixel boxes equal
to the bounding box of the object's drawn mask (amodal when objects overlap), so they are tight.

Presets (``PRESETS``; image sizes are the shorter side in pixels, width/height in 0.75..1.33):

========  =============================================  ===========================================  ========
preset    CLS-LOC                                        DET                                          size
========  =============================================  ===========================================  ========
smoke     4 classes x 16 train (half boxed), 16 val,     4 classes (2 shared with CLS-LOC), 8 train   64-96
          8 test                                         per class + 8 ILSVRC2014 + 4 negatives,
                                                         16 val, 8 test
mini      10 classes x 80 train (half boxed), 200 val,   8 classes (4 shared), 30 train per class +   96-160
          100 test                                       60 ILSVRC2014 + 30 negatives, 100 val,
                                                         50 test
========  =============================================  ===========================================  ========

Deliberate traps (each at least once, chosen deterministically; ``traps.json`` lists the files):

* ``png_named_jpeg``: PNG content under a ``.JPEG`` name (CLS-LOC train and DET train).
* ``cmyk_jpeg``: CMYK JPEGs in CLS-LOC train.
* ``grayscale_jpeg``: single-channel JPEGs (CLS-LOC train/val, DET train); their XML still says
  ``<depth>3</depth>`` (``depth_not_trustworthy``).
* ``xmax_equals_width``: a CLS-LOC val object spanning the whole width, written ``xmin=0`` and
  ``xmax=width`` (one past the last pixel), in the XML and in ``LOC_val_solution.csv``.
* ``bndbox_children_out_of_order``: XMLs whose ``<bndbox>`` children come as xmin, xmax, ymin, ymax.
* ``inverted_box``: a CLS-LOC train XML with a good box plus an extra object with ``xmax < xmin``
  (also in ``LOC_train_solution.csv``, which mirrors the XML).
* ``det_train_xml_without_objects``: ILSVRC2014 DET train XMLs with zero ``<object>``.
* ``det_negatives_without_xml``: ``ILSVRC2013_train_extra0`` images, listed ``-1`` in every
  ``train_<k>.txt``, with no XML.
* ``det_partial_label``: DET train images listed ``0`` in ``train_<k>.txt``: one instance of class k
  is boxed, another one is drawn but not annotated.
* ``det_minimal_objects``: ILSVRC2014 DET XMLs whose objects carry only ``<name>`` and ``<bndbox>``.
* ``kaggle_rows_unsorted``: rows of ``LOC_train_solution.csv`` and ``LOC_val_solution.csv`` shuffled.
* ``clsloc_val_multiple_boxes``: CLS-LOC val images with 2-3 objects of their class.
* ``devkit_ids_not_sorted``: devkit ids are a (non-identity) permutation of sorted-WNID order.
* ``det_val_two_prefixes``: DET val holds both ``ILSVRC2012_val_`` and ``ILSVRC2013_val_`` names.

The output is byte-identical for the same (preset, seed, VERSION): every image draws from its own
random stream keyed on (seed, split, index), and the .mat headers carry no timestamp.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

logger = logging.getLogger(__name__)

VERSION = 1
MARKER = ".mini_ilsvrc.json"
TRAPS_FILE = "traps.json"

PRESETS: dict[str, dict] = {
    "smoke": dict(
        cls_classes=4, cls_train_per_class=16, cls_val=16, cls_test=8,
        det_classes=4, det_shared=2, det_train_per_class=8, det_train_2014=8, det_negatives=4,
        det_val=16, det_test=8, short_side=(64, 96)),
    "mini": dict(
        cls_classes=10, cls_train_per_class=80, cls_val=200, cls_test=100,
        det_classes=8, det_shared=4, det_train_per_class=30, det_train_2014=60, det_negatives=30,
        det_val=100, det_test=50, short_side=(96, 160)),
}
ASPECT_RANGE = (0.75, 1.33)          # image width / height
CLS_COVER_RANGE = (0.15, 0.80)       # summed box area / image area in CLS-LOC images
BOXED_FRACTION = 0.5                 # CLS-LOC train images with an XML
MAX_ROTATION = np.deg2rad(30.0)      # keeps e.g. block and diamond apart
SMALL_OBJECT_PX = (10, 28)           # DET small-object box side (< 30 px)
MIN_VISIBLE = 0.6                    # an object keeps at least this share of its pixels unoccluded
JPEG_QUALITY = 90

_SPLIT_CODES = {"plan": 0, "cls_train": 1, "cls_val": 2, "cls_test": 3, "det_train": 4, "det_val": 5,
                "det_test": 6}


# ================================================================================================
# Visual identities: shape masks and fill patterns in the object's normalised frame (u, v in -1..1)
# ================================================================================================
def _polar(u, v):
    return np.hypot(u, v), np.arctan2(v, u)


def _star(u, v):
    """Five-pointed star (outer radius 1, inner 0.45), a point up: straight edges between vertices."""
    r, phi = _polar(u, v)
    sector = 2 * np.pi / 5
    a = np.mod(phi + np.pi / 2, sector)
    a = np.where(a > sector / 2, sector - a, a)
    ri, half = 0.45, sector / 2
    p2x, p2y = ri * np.cos(half), ri * np.sin(half)
    dx, dy = p2x - 1.0, p2y
    r_edge = (1.0 * dy) / (np.cos(a) * dy - np.sin(a) * dx)
    return r <= r_edge


def _heart(u, v):
    x, y = u * 1.2, -v * 1.25 + 0.2
    return (x * x + y * y - 1) ** 3 - x * x * y ** 3 <= 0


SHAPES = {
    "disc": lambda u, v: u * u + v * v <= 1,
    "block": lambda u, v: (np.abs(u) <= 1) & (np.abs(v) <= 1),
    "triangle": lambda u, v: (v <= 1) & (np.abs(u) <= (v + 1) / 2),
    "diamond": lambda u, v: np.abs(u) + np.abs(v) <= 1,
    "star": _star,
    "plus": lambda u, v: ((np.abs(u) <= 0.32) & (np.abs(v) <= 1)) | ((np.abs(v) <= 0.32) & (np.abs(u) <= 1)),
    "ring": lambda u, v: (u * u + v * v <= 1) & (u * u + v * v >= 0.55 ** 2),
    "crescent": lambda u, v: (u * u + v * v <= 1) & ((u - 0.5) ** 2 + v * v > 0.8 ** 2),
    "hexagon": lambda u, v: (np.abs(v) <= 0.866) & (1.732 * np.abs(u) + np.abs(v) <= 1.732),
    "heart": _heart,
    "arrow": lambda u, v: (((u >= -1) & (u <= 0.15) & (np.abs(v) <= 0.3))
                           | ((u > 0.15) & (u <= 1) & (np.abs(v) <= (1 - u) / 0.85))),
    "tee": lambda u, v: (((np.abs(u) <= 1) & (v >= -1) & (v <= -0.45))
                         | ((np.abs(u) <= 0.3) & (v >= -1) & (v <= 1))),
    "dome": lambda u, v: (u * u + v * v <= 1) & (v <= 0.2),
    "bowtie": lambda u, v: (np.abs(u) <= 1) & (np.abs(v) <= 1) & (np.abs(v) <= 0.9 * np.abs(u) + 0.12),
}


def _frac(x):
    return x - np.floor(x)


PATTERNS = {
    "striped": lambda u, v, p: (np.sin(np.pi * (4 * v + p)) > 0).astype(np.float32),
    "barred": lambda u, v, p: (np.sin(np.pi * (4 * u + p)) > 0).astype(np.float32),
    "checked": lambda u, v, p: (np.sin(np.pi * (3 * u + p)) * np.sin(np.pi * (3 * v + p)) > 0).astype(np.float32),
    "dotted": lambda u, v, p: (((_frac(3 * u + p) - 0.5) ** 2 + (_frac(3 * v + p) - 0.5) ** 2) > 0.08).astype(np.float32),
    "ringed": lambda u, v, p: (np.sin(np.pi * (5 * np.hypot(u, v) + p)) > 0).astype(np.float32),
    "slashed": lambda u, v, p: (np.sin(np.pi * (3 * (u + v) + p)) > 0).astype(np.float32),
    "spoked": lambda u, v, p: (np.sin(6 * np.arctan2(v, u) + p) > 0).astype(np.float32),
    "halved": lambda u, v, p: (u > 0.1 * np.sin(np.pi * p)).astype(np.float32),
    "grid": lambda u, v, p: ((np.abs(_frac(3 * u + p) - 0.5) < 0.38) & (np.abs(_frac(3 * v + p) - 0.5) < 0.38)).astype(np.float32),
    "shaded": lambda u, v, p: np.clip((v + 1) / 2, 0, 1).astype(np.float32),
}

# (shape, pattern, second tone): 14 identities with pairwise different shapes.
_CATALOGUE = [
    ("disc", "striped", "dark"), ("block", "dotted", "light"), ("triangle", "checked", "dark"),
    ("diamond", "ringed", "light"), ("star", "grid", "dark"), ("plus", "slashed", "light"),
    ("ring", "spoked", "dark"), ("crescent", "barred", "light"), ("hexagon", "halved", "dark"),
    ("heart", "shaded", "light"), ("arrow", "striped", "light"), ("tee", "checked", "light"),
    ("dome", "dotted", "dark"), ("bowtie", "ringed", "dark"),
]


@dataclass(frozen=True)
class Identity:
    """What makes a class recognisable: shape, fill pattern, hue and tone of its second colour."""

    wnid: str
    name: str
    shape: str
    pattern: str
    hue: float
    tone: str

    @property
    def description(self) -> str:
        return f"a {self.pattern} {self.shape} of hue {int(self.hue * 360)} deg with a {self.tone} second tone (synthetic)"


def _hsv_to_rgb(h, s, v) -> np.ndarray:
    """One HSV colour (all in 0..1) to float RGB in 0..255."""
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, dtype=np.float32) * 255


def _make_identities(rng: np.random.Generator, count: int) -> list[Identity]:
    """``count`` identities with seed-dependent WNIDs and well separated hues."""
    if count > len(_CATALOGUE):
        raise ValueError(f"at most {len(_CATALOGUE)} distinct classes, asked for {count}")
    order = rng.permutation(len(_CATALOGUE))[:count]
    hue0 = rng.random()
    hues = [(hue0 + i * 0.618034) % 1.0 for i in range(count)]
    wnids: set[str] = set()
    while len(wnids) < count:
        wnids.add(f"n{int(rng.integers(1_000_000, 4_999_999)):08d}")
    out = []
    for wnid, k, hue in zip(rng.permutation(sorted(wnids)), order, hues):
        shape, pattern, tone = _CATALOGUE[k]
        out.append(Identity(str(wnid), f"{pattern}_{shape}", shape, pattern, hue, tone))
    return out


# ================================================================================================
# Drawing
# ================================================================================================
@dataclass
class SceneObject:
    """One drawn object: identity index, inclusive box of its mask, truncation, whether annotated.

    ``mask`` (pixels of the object inside its window, whose top-left image pixel is ``origin``) is
    kept so tests can check boxes against what was drawn; the writer drops it.
    """

    identity: int
    box: tuple[int, int, int, int]
    truncated: bool
    annotated: bool = True
    mask_area: int = 0
    mask: np.ndarray | None = field(default=None, repr=False)
    origin: tuple[int, int] = (0, 0)

    def full_mask(self, height: int, width: int) -> np.ndarray:
        """The object's mask in the image frame."""
        out = np.zeros((height, width), dtype=bool)
        y0, x0 = self.origin
        out[y0:y0 + self.mask.shape[0], x0:x0 + self.mask.shape[1]] = self.mask
        return out


@dataclass
class Scene:
    image: np.ndarray  # (H, W, 3) uint8
    objects: list[SceneObject] = field(default_factory=list)


def _smooth_noise(rng, height, width, cells, channels=1) -> np.ndarray:
    """Value noise: a random (cells+1)^2 grid, smoothstep-interpolated to (H, W, channels) in 0..1."""
    grid = rng.random((cells + 1, cells + 1, channels)).astype(np.float32)
    ys = np.linspace(0, cells, height, endpoint=False, dtype=np.float32)
    xs = np.linspace(0, cells, width, endpoint=False, dtype=np.float32)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = ys - y0, xs - x0
    fy, fx = (fy * fy * (3 - 2 * fy))[:, None, None], (fx * fx * (3 - 2 * fx))[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _muted_colour(rng) -> np.ndarray:
    """A background colour: random RGB pulled half-way to grey so objects stand out by saturation."""
    return (rng.random(3).astype(np.float32) * 255) * 0.5 + 64


def _background(rng, height, width) -> np.ndarray:
    """Gradient + smooth colour noise + irregular blobs: clutter that is no class."""
    c1, c2 = _muted_colour(rng), _muted_colour(rng)
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (np.cos(ang) * xx / width + np.sin(ang) * yy / height)
    t = ((t - t.min()) / max(float(np.ptp(t)), 1e-6))[..., None]
    img = c1 * (1 - t) + c2 * t
    img += (_smooth_noise(rng, height, width, int(rng.integers(3, 6)), 3) - 0.5) * 60
    for _ in range(int(rng.integers(1, 4))):
        field_ = _smooth_noise(rng, height, width, int(rng.integers(3, 7)))[..., 0]
        blob = field_ > rng.uniform(0.62, 0.75)
        img[blob] = img[blob] * 0.4 + _muted_colour(rng) * 0.6
    return img


def _draw_distractors(rng, img: np.ndarray, count: int) -> None:
    """Solid spiky polygons and line strokes: shapes that belong to no class."""
    height, width = img.shape[:2]
    short = min(height, width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for _ in range(count):
        colour = rng.random(3).astype(np.float32) * 255
        if rng.random() < 0.5:
            x0, y0, x1, y1 = rng.uniform(0, 1, 4) * [width, height, width, height]
            dx, dy = x1 - x0, y1 - y0
            t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-6), 0, 1)
            mask = np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy)) <= rng.uniform(0.8, 2.0)
        else:
            radius = rng.uniform(0.06, 0.16) * short
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            radii = rng.uniform(0.3, 1.0, 9)
            phi = np.mod(np.arctan2(yy - cy, xx - cx), 2 * np.pi)
            edge = np.interp(phi, np.linspace(0, 2 * np.pi, 10), np.append(radii, radii[0])) * radius
            mask = np.hypot(xx - cx, yy - cy) <= edge
        img[mask] = colour


@dataclass
class _Pose:
    """Where and how one instance is drawn (pixels; a, b are the half extents before rotation)."""

    cx: float
    cy: float
    a: float
    b: float
    theta: float


def _object_mask(shape: str, pose: _Pose, height: int, width: int):
    """Mask of one instance in its window plus the (u, v) frame there; window = (y0, y1, x0, x1)."""
    reach = np.hypot(pose.a, pose.b) + 2
    y0, y1 = max(int(pose.cy - reach), 0), min(int(np.ceil(pose.cy + reach)) + 1, height)
    x0, x1 = max(int(pose.cx - reach), 0), min(int(np.ceil(pose.cx + reach)) + 1, width)
    if y1 <= y0 or x1 <= x0:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - pose.cx, yy - pose.cy
    c, s = np.cos(pose.theta), np.sin(pose.theta)
    u, v = (c * dx + s * dy) / pose.a, (-s * dx + c * dy) / pose.b
    mask = SHAPES[shape](u, v)
    if not mask.any():
        return None
    return mask, u, v, (y0, y1, x0, x1)


def _mask_box(mask: np.ndarray, window) -> tuple[int, int, int, int]:
    """Inclusive image-frame box of a window mask's pixels."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, _, x0, _ = window
    return x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]), y0 + int(rows[-1])


def _paint(rng, img: np.ndarray, ident: Identity, mask, u, v, window) -> None:
    """Fill the mask with the identity's pattern in two jittered tones of its hue, lit unevenly."""
    hue = (ident.hue + rng.uniform(-0.025, 0.025)) % 1.0
    main = _hsv_to_rgb(hue, rng.uniform(0.65, 1.0), rng.uniform(0.7, 1.0))
    second = main * rng.uniform(0.25, 0.4) if ident.tone == "dark" else main * 0.35 + 255 * rng.uniform(0.55, 0.65)
    weight = PATTERNS[ident.pattern](u, v, rng.uniform(0, 1))[..., None]
    light_dir = rng.uniform(-1, 1, 2)
    light = 1 + 0.15 * (light_dir[0] * u + light_dir[1] * v)[..., None]
    colours = (weight * main + (1 - weight) * second) * light
    y0, y1, x0, x1 = window
    region = img[y0:y1, x0:x1]
    region[mask] = colours[mask]


def _random_pose(rng, height, width, box_w, box_h, truncate: bool) -> _Pose:
    """Pose for a target box size; a truncating pose may push the object up to ~35% off the image."""
    slack = 0.35 if truncate else 0.0
    cx = rng.uniform(box_w / 2 - slack * box_w, width - box_w / 2 + slack * box_w)
    cy = rng.uniform(box_h / 2 - slack * box_h, height - box_h / 2 + slack * box_h)
    if box_w > width:
        cx = width / 2
    if box_h > height:
        cy = height / 2
    return _Pose(cx, cy, box_w / 2, box_h / 2, rng.uniform(-MAX_ROTATION, MAX_ROTATION))


def _iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@dataclass
class _Canvas:
    """An image being drawn, which object owns each pixel (-1: none) and the objects placed so far."""

    img: np.ndarray
    owner: np.ndarray
    placed: list

    @classmethod
    def over(cls, img: np.ndarray) -> "_Canvas":
        return cls(img, np.full(img.shape[:2], -1, dtype=np.int32), [])

    def hides_too_much(self, mask, window, keep=MIN_VISIBLE) -> bool:
        """Would drawing ``mask`` leave some placed object with less than ``keep`` of its pixels seen?"""
        if not self.placed:
            return False
        y0, y1, x0, x1 = window
        covered = self.owner[y0:y1, x0:x1][mask]
        lost = np.bincount(covered[covered >= 0], minlength=len(self.placed))
        seen = np.bincount(self.owner[self.owner >= 0], minlength=len(self.placed))
        areas = np.array([o.mask_area for o in self.placed])
        return bool(np.any(seen - lost < keep * areas))

    def claim(self, mask, window) -> None:
        y0, y1, x0, x1 = window
        self.owner[y0:y1, x0:x1][mask] = len(self.placed)


def _try_place(rng, canvas: _Canvas, identities, ident_idx, size_fn, max_iou, annotated=True, tries=30):
    """Draw one instance overlapping the placed boxes by at most ``max_iou`` IoU and hiding no
    placed object below MIN_VISIBLE of its pixels; None if there is no room."""
    img, placed = canvas.img, canvas.placed
    height, width = img.shape[:2]
    for _ in range(tries):
        box_w, box_h, truncate = size_fn(rng)
        pose = _random_pose(rng, height, width, box_w, box_h, truncate)
        got = _object_mask(identities[ident_idx].shape, pose, height, width)
        if got is None:
            continue
        mask, u, v, window = got
        box = _mask_box(mask, window)
        if min(box[2] - box[0], box[3] - box[1]) < 4:
            continue
        if any(_iou(box, o.box) > max_iou for o in placed) or canvas.hides_too_much(mask, window):
            continue
        _paint(rng, img, identities[ident_idx], mask, u, v, window)
        canvas.claim(mask, window)
        touches = box[0] == 0 or box[1] == 0 or box[2] == width - 1 or box[3] == height - 1
        obj = SceneObject(ident_idx, box, bool(touches), annotated, int(mask.sum()), mask, (window[0], window[2]))
        placed.append(obj)
        return obj
    return None


def _finish(rng, img: np.ndarray) -> np.ndarray:
    """Sensor noise and quantisation."""
    img = img + rng.normal(0, rng.uniform(2, 6), img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _cls_size_fn(height, width, n_objects):
    """Box sizes whose summed area is 15%-80% of the image (leaving room for truncation)."""
    def size(rng):
        frac = rng.uniform(0.22, 0.62) / n_objects
        aspect = np.exp(rng.uniform(np.log(0.6), np.log(1.65)))
        area = frac * width * height
        box_w = min(np.sqrt(area * aspect), width * 0.98)
        return box_w, min(area / box_w, height * 0.98), rng.random() < 0.25
    return size


def _full_width_pose(ident: Identity, height, width) -> _Pose:
    """An upright instance centred on the image, wide enough to touch the left and right edges."""
    a = 0.62 * width
    while True:
        pose = _Pose(width / 2 - 0.5, height / 2, a, 0.22 * height, 0.0)
        mask, _, _, window = _object_mask(ident.shape, pose, height, width)
        box = _mask_box(mask, window)
        if box[0] == 0 and box[2] == width - 1:
            return pose
        a *= 1.2


def render_cls_scene(rng, identities, ident_idx, height, width, n_objects=1, full_width=False) -> Scene:
    """A CLS-LOC image: background, distractors, then ``n_objects`` instances of one class."""
    img = _background(rng, height, width)
    _draw_distractors(rng, img, int(rng.integers(1, 4)))
    canvas = _Canvas.over(img)
    if full_width:
        pose = _full_width_pose(identities[ident_idx], height, width)
        mask, u, v, window = _object_mask(identities[ident_idx].shape, pose, height, width)
        _paint(rng, img, identities[ident_idx], mask, u, v, window)
        canvas.placed.append(SceneObject(ident_idx, _mask_box(mask, window), True, True, int(mask.sum()),
                                         mask, (window[0], window[2])))
    else:
        _place_cls_objects(rng, canvas, identities, ident_idx, n_objects)
    return Scene(_finish(rng, img), canvas.placed)


def _place_cls_objects(rng, canvas: _Canvas, identities, ident_idx, n_objects) -> None:
    """Place instances until the summed box area lands in CLS_COVER_RANGE (restarting if it cannot)."""
    img, placed = canvas.img, canvas.placed
    height, width = img.shape[:2]
    base = img.copy()
    for _attempt in range(20):
        img[...] = base
        canvas.owner[...] = -1
        placed.clear()
        for _ in range(n_objects):
            _try_place(rng, canvas, identities, ident_idx, _cls_size_fn(height, width, n_objects), 0.15)
        cover = sum((o.box[2] - o.box[0] + 1) * (o.box[3] - o.box[1] + 1) for o in placed) / (width * height)
        if len(placed) == n_objects and CLS_COVER_RANGE[0] <= cover <= CLS_COVER_RANGE[1]:
            return
    if not placed:
        raise RuntimeError("could not place any object")


def _det_size_fn(height, width):
    """DET box sizes: a third small (10-28 px), the rest 25%-60% of the shorter side."""
    short = min(height, width)

    def size(rng):
        aspect = np.exp(rng.uniform(np.log(0.6), np.log(1.65)))
        if rng.random() < 0.35:
            side = rng.uniform(*SMALL_OBJECT_PX)
        else:
            side = rng.uniform(0.25, 0.6) * short
        return side * np.sqrt(aspect), side / np.sqrt(aspect), rng.random() < 0.15
    return size


def render_det_scene(rng, identities, required, pool, height, width, n_objects, hidden=None) -> Scene:
    """A DET image: the required classes first, then random classes from ``pool`` up to ``n_objects``.

    ``hidden``: a class drawn twice, once annotated and once not (a partially boxed image).
    """
    img = _background(rng, height, width)
    _draw_distractors(rng, img, int(rng.integers(1, 5)))
    canvas = _Canvas.over(img)
    wanted = list(required) + [int(rng.choice(pool)) for _ in range(max(n_objects - len(required), 0))]
    size = _det_size_fn(height, width)
    for ident_idx in wanted:
        _try_place(rng, canvas, identities, ident_idx, size, 0.3)
    if hidden is not None:
        _try_place(rng, canvas, identities, hidden, size, 0.3)
        _try_place(rng, canvas, identities, hidden, size, 0.3, annotated=False)
    missing = [i for i in required if not any(o.identity == i for o in canvas.placed)]
    if missing:
        raise RuntimeError(f"could not place required classes {missing}")
    return Scene(_finish(rng, img), canvas.placed)


def render_background_scene(rng, height, width) -> Scene:
    """A verified negative: clutter and distractors only."""
    img = _background(rng, height, width)
    _draw_distractors(rng, img, int(rng.integers(2, 6)))
    return Scene(_finish(rng, img), [])


# ================================================================================================
# Plan: every image of the dataset as a job (what to draw, where to write it, which traps apply)
# ================================================================================================
@dataclass
class Job:
    """One image to render and write. Paths are relative to the dataset root."""

    split: str                 # key of _SPLIT_CODES
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


def _image_size(rng, short_range) -> tuple[int, int]:
    """(width, height) with the shorter side in ``short_range`` and width/height in ASPECT_RANGE."""
    short = int(rng.integers(short_range[0], short_range[1] + 1))
    aspect = float(np.exp(rng.uniform(np.log(ASPECT_RANGE[0]), np.log(ASPECT_RANGE[1]))))
    return (int(round(short * aspect)), short) if aspect >= 1 else (short, int(round(short / aspect)))


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
    identities = _make_identities(rng, n_cls + n_det - shared)
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
                *_image_size(rng, cfg["short_side"]), folder=wnid, database="ILSVRC_2012",
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
            *_image_size(rng, cfg["short_side"]), folder=tag, database="ILSVRC_2012",
            classes=(int(ident_idx),), n_objects=n_obj))
    return jobs


def _det_train_job(rng, cfg, index, rel, database, folder, classes, n_objects, **kw) -> Job:
    return Job("det_train", index, f"ILSVRC/Data/DET/train/{rel}.JPEG",
               f"ILSVRC/Annotations/DET/train/{rel}.xml", rel, *_image_size(rng, cfg["short_side"]),
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
                        *_image_size(rng, cfg["short_side"]), folder=tag, database="ILSVRC_2013",
                        classes=req, n_objects=int(rng.integers(1, 6))))
    return jobs


def _pick(rng, jobs, count, where=lambda j: True) -> list[Job]:
    """``count`` distinct jobs satisfying ``where`` (deterministic for the stream)."""
    cands = [j for j in jobs if where(j) and j.fmt == "jpeg" and not j.full_width and not j.inverted_extra]
    if len(cands) < count:
        raise RuntimeError("preset too small for its traps")
    return [cands[i] for i in sorted(rng.choice(len(cands), size=count, replace=False))]


def _assign_traps(rng, plan: Plan) -> None:
    """Mark the jobs that carry the deliberate traps (see the module docstring)."""
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

    The DET val blacklist and val1/val2 depend on what was drawn, so the writer fills them in.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    cfg = PRESETS[preset]
    rng = np.random.default_rng([seed, _SPLIT_CODES["plan"]])
    identities, cls_ids, det_ids = _plan_classes(rng, cfg)
    jobs = (_plan_cls_train(rng, cfg, identities, cls_ids) + _plan_cls_eval(rng, cfg, "cls_val", cls_ids)
            + _plan_cls_eval(rng, cfg, "cls_test", cls_ids) + _plan_det_train(rng, cfg, identities, det_ids)
            + _plan_det_eval(rng, cfg, "det_val", det_ids) + _plan_det_eval(rng, cfg, "det_test", det_ids))
    plan = Plan(preset, seed, identities, cls_ids, det_ids, jobs, [], [], ([], []), [])
    _assign_traps(rng, plan)
    n_val = cfg["cls_val"]
    plan.cls_val_blacklist = sorted(int(i) + 1 for i in rng.choice(n_val, size=max(2, n_val // 50), replace=False))
    return plan


def render_job(plan: Plan, job: Job) -> Scene:
    """Pixels and objects of one job, from its own random stream (independent of other images)."""
    rng = np.random.default_rng([plan.seed, _SPLIT_CODES[job.split], job.index])
    if job.empty:
        return render_background_scene(rng, job.height, job.width)
    if job.split.startswith("cls"):
        return render_cls_scene(rng, plan.identities, job.classes[0], job.height, job.width,
                                job.n_objects, job.full_width)
    return render_det_scene(rng, plan.identities, job.classes, plan.det_ids, job.height, job.width,
                            job.n_objects, job.hidden)


# ================================================================================================
# Writers
# ================================================================================================
def _encode_image(pixels: np.ndarray, fmt: str) -> bytes:
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


def _annotation_xml(plan: Plan, job: Job, scene: Scene) -> str:
    """PASCAL-VOC-style ILSVRC XML, tab-indented like the real files."""
    depth = 3  # also for grayscale images: the real <depth> is not trustworthy
    body = "".join(_xml_object(w, b, t, job.bndbox_xxyy, job.minimal_objects) for w, b, t in _xml_boxes(plan, job, scene))
    name = job.stem.rsplit("/", 1)[-1]
    return (f"<annotation>\n\t<folder>{job.folder}</folder>\n\t<filename>{name}</filename>\n"
            f"\t<source>\n\t\t<database>{job.database}</database>\n\t</source>\n"
            f"\t<size>\n\t\t<width>{job.width}</width>\n\t\t<height>{job.height}</height>\n"
            f"\t\t<depth>{depth}</depth>\n\t</size>\n\t<segmented>0</segmented>\n{body}</annotation>\n")


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


def _write_lines(path: Path, lines) -> None:
    _write(path, "".join(f"{line}\n" for line in lines))


def _savemat_bytes(mdict: dict) -> bytes:
    """``scipy.io.savemat`` output with a fixed header text (the default one holds a timestamp)."""
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, mdict, format="5", oned_as="row")
    data = bytearray(buf.getvalue())
    header = b"MATLAB 5.0 MAT-file, written by ilsvrc_pipe.data.mini"
    data[:116] = header.ljust(116, b" ")
    return bytes(data)


def _synsets_struct(rows: list[dict]) -> np.ndarray:
    """A 1-D numpy record array that savemat writes as a MATLAB struct array."""
    names = list(rows[0])
    arr = np.zeros((len(rows),), dtype=[(n, object) for n in names])
    for i, row in enumerate(rows):
        for n in names:
            arr[i][n] = row[n]
    return arr


def _write_devkit(root: Path, plan: Plan) -> None:
    """Class maps (.txt and .mat), CLS-LOC val ground truth and blacklist, DET blacklist and val1/val2."""
    dk = root / "ILSVRC/devkit/data"
    idents = plan.identities
    n_train = {i: sum(1 for j in plan.by_split("cls_train") if j.classes[0] == i) for i in plan.cls_ids}
    _write_lines(dk / "map_clsloc.txt", (f"{idents[i].wnid} {k} {idents[i].name}" for k, i in enumerate(plan.cls_ids, 1)))
    rows = [dict(ILSVRC2015_CLSLOC_ID=k, WNID=idents[i].wnid, name=idents[i].name.replace("_", " "),
                 description=idents[i].description, num_train_images=n_train[i]) for k, i in enumerate(plan.cls_ids, 1)]
    _write(dk / "meta_clsloc.mat", _savemat_bytes({"synsets": _synsets_struct(rows)}))
    devkit_id = {i: k for k, i in enumerate(plan.cls_ids, 1)}
    _write_lines(dk / "ILSVRC2015_clsloc_validation_ground_truth.txt",
                 (devkit_id[j.classes[0]] for j in plan.by_split("cls_val")))
    _write_lines(dk / "ILSVRC2015_clsloc_validation_blacklist.txt", plan.cls_val_blacklist)
    _write_lines(dk / "map_det.txt", (f"{idents[i].wnid} {k} {idents[i].name}" for k, i in enumerate(plan.det_ids, 1)))
    rows = [dict(ILSVRC2015_DET_ID=k, WNID=idents[i].wnid, name=idents[i].name.replace("_", " "),
                 description=idents[i].description) for k, i in enumerate(plan.det_ids, 1)]
    _write(dk / "meta_det.mat", _savemat_bytes({"synsets": _synsets_struct(rows)}))
    _write_lines(dk / "ILSVRC2015_det_validation_blacklist.txt", (f"{i} {w}" for i, w in plan.det_val_blacklist))
    for name, stems in zip(("val1", "val2"), plan.det_val_split):
        _write_lines(dk / "det_lists" / f"{name}.txt", (f"{s} {n}" for n, s in enumerate(stems, 1)))


def _finish_det_val_lists(rng, plan: Plan, results: dict) -> None:
    """DET val blacklist (image, class present on it) and the val1/val2 halves without those images."""
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


def _write_image_sets(root: Path, plan: Plan, results: dict) -> None:
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


def _write_kaggle(root: Path, plan: Plan, results: dict, rng) -> None:
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
    _write(path, buf.getvalue())


def _traps_manifest(plan: Plan) -> dict:
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


def _counts(plan: Plan) -> dict:
    count = {s: len(plan.by_split(s)) for s in _SPLIT_CODES if s != "plan"}
    count["cls_train_boxed"] = sum(1 for j in plan.by_split("cls_train") if j.xml_rel)
    count["det_negatives"] = sum(1 for j in plan.by_split("det_train") if j.xml_rel is None)
    return count


def _write_dataset(root: Path, plan: Plan) -> dict:
    """Render and write every file of the plan under ``root``; returns the counts."""
    results = {}
    for job in plan.jobs:
        scene = render_job(plan, job)
        results[job.image_rel] = scene
        _write(root / job.image_rel, _encode_image(scene.image, job.fmt))
        if job.xml_rel:
            _write(root / job.xml_rel, _annotation_xml(plan, job, scene))
        scene.image = None  # keep only the objects' boxes in memory
        for obj in scene.objects:
            obj.mask = None
    rng = np.random.default_rng([plan.seed, _SPLIT_CODES["plan"], 1])
    _finish_det_val_lists(rng, plan, results)
    _write_devkit(root, plan)
    _write_image_sets(root, plan, results)
    _write_kaggle(root, plan, results, rng)
    _write(root / TRAPS_FILE, json.dumps(_traps_manifest(plan), indent=1, sort_keys=True) + "\n")
    return _counts(plan)


# ================================================================================================
# Public API
# ================================================================================================
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
        marker = dict(generator="ilsvrc_pipe.data.mini", version=VERSION, preset=preset, seed=seed, counts=counts)
        _write(tmp / MARKER, json.dumps(marker, indent=1, sort_keys=True) + "\n")
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


# ================================================================================================
# Preview
# ================================================================================================
def _preview_items(root: Path, n: int) -> list[tuple[Path, Path]]:
    """(image, xml) pairs: CLS-LOC val first, then DET train and val, n of each kind at most."""
    il = root / "ILSVRC"
    groups = [sorted((il / "Annotations/CLS-LOC/val").glob("*.xml"))[:n],
              sorted((il / "Annotations/DET/train/ILSVRC2013_train").rglob("*.xml"))[::7][:n],
              sorted((il / "Annotations/DET/val").glob("*.xml"))[:n]]
    items = []
    for xmls in groups:
        for xml in xmls:
            rel = xml.relative_to(il / "Annotations").with_suffix(".JPEG")
            items.append((il / "Data" / rel, xml))
    return items


def _draw_tile(image_path: Path, xml_path: Path, names: dict, cell: int) -> Image.Image:
    """One image scaled to ``cell`` px high with its XML boxes and class names drawn on it."""
    from .annotations import parse_annotation

    img = Image.open(image_path).convert("RGB")
    scale = cell / img.height
    img = img.resize((max(1, round(img.width * scale)), cell), Image.NEAREST)
    ann = parse_annotation(xml_path, keep_invalid=True)
    draw = ImageDraw.Draw(img)
    for name, box in zip(ann.names, ann.boxes):
        x1, y1, x2, y2 = (float(c) for c in box)
        rect = [x1 * scale, y1 * scale, (x2 + 1) * scale - 1, (y2 + 1) * scale - 1]
        if rect[2] < rect[0] or rect[3] < rect[1]:
            continue
        draw.rectangle(rect, outline=(255, 255, 0), width=1)
        draw.text((rect[0] + 2, rect[1] + 1), names.get(name, name), fill=(255, 255, 0))
    return img


def write_preview(root: str | os.PathLike, png_path: str | os.PathLike, n: int = 12, cell: int = 192) -> Path:
    """Contact sheet of CLS-LOC val, DET train and DET val images with their XML boxes and names.

    Made to eyeball that objects are recognisable and boxes tight.
    """
    from .synsets import find_clsloc_synsets, find_det_synsets

    root = Path(root)
    names = {}
    for table in (find_clsloc_synsets(root), find_det_synsets(root)):
        names.update({w: table.name_of(w) for w in table.wnids})
    tiles = [_draw_tile(img, xml, names, cell) for img, xml in _preview_items(root, n)]
    cols = 6
    col_w = max(t.width for t in tiles) + 4
    sheet = Image.new("RGB", (cols * col_w, ((len(tiles) + cols - 1) // cols) * (cell + 4)), (32, 32, 32))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % cols) * col_w + 2, (k // cols) * (cell + 4) + 2))
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(png_path)
    return png_path
