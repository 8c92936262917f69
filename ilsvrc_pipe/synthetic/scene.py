"""Scene rendering: backgrounds, distractors, object poses and masks, and placing objects on a canvas.

``render_cls_scene`` (one class, its summed box area in CLS_COVER_RANGE), ``render_det_scene`` (several
classes, about a third of the boxes small) and ``render_background_scene`` (a verified negative) return a
``Scene``: the uint8 pixels plus one ``SceneObject`` per drawn instance, whose box is the inclusive
bounding box of its drawn mask. Every function draws from the ``rng`` it is given, in a fixed order,
so the same stream gives the same pixels; ``plan.py`` keys one stream per image.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ops.boxes import box_iou
from .context import SceneContext, companion, habitat_background, habitat_of
from .identities import PATTERNS, SHAPES, Identity, hsv_to_rgb

CLS_COVER_RANGE = (0.15, 0.80)       # summed box area / image area in `mini` CLS-LOC images
MAX_ROTATION = np.deg2rad(30.0)      # keeps e.g. block and diamond apart
SMALL_OBJECT_PX = (10, 28)           # DET small-object box side in mini (< 30 px)
MIN_VISIBLE = 0.6                    # an object keeps at least this share of its pixels unoccluded


@dataclass(frozen=True)
class SceneStyle:
    """How a preset's scenes look: object sizes, clutter and appearance variation.

    The defaults are `mini`'s (and `smoke`'s); ``plan.PRESETS`` gives `cluttered` its own. With the
    defaults the random draws happen in exactly the order they always did, so mini's data is stable.
    """

    cls_cover: tuple[float, float] | None = CLS_COVER_RANGE   # summed box area / image; None: any
    cls_side: tuple[float, float] | None = None   # per-object sqrt(box area) / shorter side,
    #                                               log-uniform; None: sized by area (mini)
    det_small_fraction: float = 0.35              # DET boxes of det_small_px
    det_small_px: tuple[float, float] = SMALL_OBJECT_PX   # their side in pixels
    det_side: tuple[float, float] = (0.25, 0.6)   # other DET boxes: side / shorter side
    cls_distractors: tuple[int, int] = (1, 4)     # [low, high) count ranges
    det_distractors: tuple[int, int] = (1, 5)
    textured_distractors: float = 0.0             # chance a distractor wears a class's fill pattern
    hue_jitter: float = 0.025
    saturation: tuple[float, float] = (0.65, 1.0)
    lighting: float = 0.15                        # strength of the uneven light across an object
    blur: float = 0.0                             # chance an image is softened (3x3 box blur)
    context: SceneContext | None = None           # scenes that say something of their classes (context.py)


MINI_STYLE = SceneStyle()


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


def _scene_background(rng, height, width, ident_idx, style: SceneStyle) -> np.ndarray:
    """The class-free background, or, in a style with a ``context``, often the class's habitat
    (no extra random draw without one, so the other presets' images stay as they were)."""
    ctx = style.context
    if ctx is not None and ident_idx is not None and rng.random() < ctx.habitat_prob:
        return habitat_background(rng, height, width, habitat_of(ident_idx, ctx))
    return _background(rng, height, width)


def _draw_distractors(rng, img: np.ndarray, count: int, style: SceneStyle = MINI_STYLE) -> None:
    """Spiky polygons and line strokes: shapes that belong to no class. Solid in mini; in a style
    with ``textured_distractors`` some polygons wear a class's fill pattern, so texture alone does
    not tell an object."""
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
            if style.textured_distractors and rng.random() < style.textured_distractors:
                pattern = PATTERNS[sorted(PATTERNS)[int(rng.integers(len(PATTERNS)))]]
                weight = pattern((xx - cx) / radius, (yy - cy) / radius, rng.uniform(0, 1))[..., None]
                img[mask] = (weight * colour + (1 - weight) * colour * 0.35)[mask]
                continue
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


def _paint(rng, img: np.ndarray, ident: Identity, mask, u, v, window, style: SceneStyle = MINI_STYLE) -> None:
    """Fill the mask with the identity's pattern in two jittered tones of its hue, lit unevenly."""
    hue = (ident.hue + rng.uniform(-style.hue_jitter, style.hue_jitter)) % 1.0
    main = hsv_to_rgb(hue, rng.uniform(*style.saturation), rng.uniform(0.7, 1.0))
    second = main * rng.uniform(0.25, 0.4) if ident.tone == "dark" else main * 0.35 + 255 * rng.uniform(0.55, 0.65)
    weight = PATTERNS[ident.pattern](u, v, rng.uniform(0, 1))[..., None]
    light_dir = rng.uniform(-1, 1, 2)
    light = 1 + style.lighting * (light_dir[0] * u + light_dir[1] * v)[..., None]
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


def _try_place(rng, canvas: _Canvas, identities, ident_idx, size_fn, max_iou, annotated=True, tries=30,
               style: SceneStyle = MINI_STYLE):
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
        if np.any(box_iou(box, [o.box for o in placed]) > max_iou) or canvas.hides_too_much(mask, window):
            continue
        _paint(rng, img, identities[ident_idx], mask, u, v, window, style)
        canvas.claim(mask, window)
        touches = box[0] == 0 or box[1] == 0 or box[2] == width - 1 or box[3] == height - 1
        obj = SceneObject(ident_idx, box, bool(touches), annotated, int(mask.sum()), mask, (window[0], window[2]))
        placed.append(obj)
        return obj
    return None


def _finish(rng, img: np.ndarray, style: SceneStyle = MINI_STYLE) -> np.ndarray:
    """Optional softening, sensor noise and quantisation."""
    if style.blur and rng.random() < style.blur:
        padded = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
        img = sum(padded[dy:dy + img.shape[0], dx:dx + img.shape[1]] for dy in range(3) for dx in range(3)) / 9
    img = img + rng.normal(0, rng.uniform(2, 6), img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _cls_size_fn(height, width, n_objects, style: SceneStyle = MINI_STYLE):
    """Box sizes: in mini, summed area 15%-80% of the image (leaving room for truncation); with a
    style's ``cls_side``, each object's side a log-uniform share of the shorter side."""
    def size(rng):
        if style.cls_side is not None:
            side = min(height, width) * np.exp(rng.uniform(*np.log(style.cls_side)))
            frac = side * side / (width * height)
        else:
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


def render_cls_scene(rng, identities, ident_idx, height, width, n_objects=1, full_width=False,
                     style: SceneStyle = MINI_STYLE) -> Scene:
    """A CLS-LOC image: background, distractors, then ``n_objects`` instances of one class."""
    img = _scene_background(rng, height, width, ident_idx, style)
    _draw_distractors(rng, img, int(rng.integers(*style.cls_distractors)), style)
    canvas = _Canvas.over(img)
    if full_width:
        pose = _full_width_pose(identities[ident_idx], height, width)
        mask, u, v, window = _object_mask(identities[ident_idx].shape, pose, height, width)
        _paint(rng, img, identities[ident_idx], mask, u, v, window, style)
        canvas.placed.append(SceneObject(ident_idx, _mask_box(mask, window), True, True, int(mask.sum()),
                                         mask, (window[0], window[2])))
    else:
        _place_cls_objects(rng, canvas, identities, ident_idx, n_objects, style)
    return Scene(_finish(rng, img, style), canvas.placed)


def _place_cls_objects(rng, canvas: _Canvas, identities, ident_idx, n_objects, style: SceneStyle = MINI_STYLE) -> None:
    """Place instances until the summed box area lands in the style's cover range (restarting if it
    cannot)."""
    img, placed = canvas.img, canvas.placed
    height, width = img.shape[:2]
    base = img.copy()
    for _attempt in range(20):
        img[...] = base
        canvas.owner[...] = -1
        placed.clear()
        for _ in range(n_objects):
            _try_place(rng, canvas, identities, ident_idx, _cls_size_fn(height, width, n_objects, style), 0.15,
                       style=style)
        cover = sum((o.box[2] - o.box[0] + 1) * (o.box[3] - o.box[1] + 1) for o in placed) / (width * height)
        low, high = style.cls_cover or (0.0, 1.0)
        if len(placed) == n_objects and low <= cover <= high:
            return
    if not placed:
        raise RuntimeError("could not place any object")


def _det_size_fn(height, width, style: SceneStyle = MINI_STYLE):
    """DET box sizes: in mini a third small (10-28 px), the rest 25%-60% of the shorter side."""
    short = min(height, width)

    def size(rng):
        aspect = np.exp(rng.uniform(np.log(0.6), np.log(1.65)))
        if rng.random() < style.det_small_fraction:
            side = rng.uniform(*style.det_small_px)
        else:
            side = rng.uniform(*style.det_side) * short
        return side * np.sqrt(aspect), side / np.sqrt(aspect), rng.random() < 0.15
    return size


def render_det_scene(rng, identities, required, pool, height, width, n_objects, hidden=None,
                     style: SceneStyle = MINI_STYLE) -> Scene:
    """A DET image: the required classes first, then random classes from ``pool`` up to ``n_objects``.

    ``hidden``: a class drawn twice, once annotated and once not (a partially boxed image).
    """
    img = _scene_background(rng, height, width, required[0] if required else None, style)
    _draw_distractors(rng, img, int(rng.integers(*style.det_distractors)), style)
    canvas = _Canvas.over(img)
    wanted = list(required) + [_extra_class(rng, required, pool, style) for _ in range(max(n_objects - len(required), 0))]
    size = _det_size_fn(height, width, style)
    for ident_idx in wanted:
        _try_place(rng, canvas, identities, ident_idx, size, 0.3, style=style)
    if hidden is not None:
        _try_place(rng, canvas, identities, hidden, size, 0.3, style=style)
        _try_place(rng, canvas, identities, hidden, size, 0.3, annotated=False, style=style)
    missing = [i for i in required if not any(o.identity == i for o in canvas.placed)]
    if missing:
        raise RuntimeError(f"could not place required classes {missing}")
    return Scene(_finish(rng, img, style), canvas.placed)


def _extra_class(rng, required, pool, style: SceneStyle) -> int:
    """A DET image's object beyond its required classes: any class of ``pool``, or with a style's
    ``context`` often the first required class's companion."""
    ctx = style.context
    if ctx is not None and required and rng.random() < ctx.companion_prob:
        return companion(int(required[0]), pool, ctx)
    return int(rng.choice(pool))


def render_background_scene(rng, height, width, style: SceneStyle = MINI_STYLE) -> Scene:
    """A verified negative: clutter and distractors only."""
    img = _background(rng, height, width)
    low, high = style.det_distractors
    _draw_distractors(rng, img, int(rng.integers(low + 1, high + 1)), style)
    return Scene(_finish(rng, img, style), [])
