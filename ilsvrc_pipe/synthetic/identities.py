"""Visual identities of the synthetic classes: shape masks, fill patterns, hues and WNIDs.

Shapes and patterns are functions of the object's normalised frame (u, v in -1..1): a shape returns
the boolean mask, a pattern the weight (0..1) of the main colour against the second tone. Every
class gets its own (shape, pattern, tone) from ``_CATALOGUE`` and a well separated hue, so the
classes are learnable; ``scene.py`` draws them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def _regular_polygon(u, v, sides: int):
    """Regular polygon of circumradius 1, a vertex up: inside every edge's half plane."""
    inside = np.ones(np.broadcast(u, v).shape, dtype=bool)
    apothem = np.cos(np.pi / sides)
    for k in range(sides):
        phi = -np.pi / 2 + (k + 0.5) * 2 * np.pi / sides
        inside &= u * np.cos(phi) + v * np.sin(phi) <= apothem
    return inside


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
    # Shapes of the `cluttered` preset's extra classes (mini draws from the first 14 only).
    "pentagon": lambda u, v: _regular_polygon(u, v, 5),
    "chevron": lambda u, v: (np.abs(u) <= 1) & (v - 0.8 * np.abs(u) <= 0.2) & (v - 0.8 * np.abs(u) >= -0.6),
    "ell": lambda u, v: (np.abs(u) <= 1) & (np.abs(v) <= 1) & ((u <= -0.35) | (v >= 0.35)),
    "keyhole": lambda u, v: ((u * u + (v + 0.35) ** 2) <= 0.42) | ((np.abs(u) <= 0.32 + 0.2 * (v + 0.35)) & (v >= -0.35) & (v <= 1)),
    "trapezoid": lambda u, v: (np.abs(v) <= 0.8) & (np.abs(u) <= 0.55 + 0.45 * (v + 0.8) / 1.6),
    "drop": lambda u, v: ((u * u + (v - 0.35) ** 2) <= 0.42) | ((np.abs(u) <= 0.65 * (v + 1) / 1.35) & (v >= -1) & (v <= 0.35)),
    "frame": lambda u, v: (np.abs(u) <= 1) & (np.abs(v) <= 1) & ((np.abs(u) >= 0.55) | (np.abs(v) >= 0.55)),
    "lens": lambda u, v: (((u - 0.55) ** 2 + v * v) <= 1.1) & (((u + 0.55) ** 2 + v * v) <= 1.1),
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
    "waved": lambda u, v, p: (np.sin(np.pi * (4 * v + 0.6 * np.sin(np.pi * 2 * u) + p)) > 0).astype(np.float32),
    "zigzag": lambda u, v, p: (np.sin(np.pi * (4 * v + 2 * np.abs(_frac(2 * u + p) - 0.5))) > 0).astype(np.float32),
    "quartered": lambda u, v, p: ((u > 0) ^ (v > 0)).astype(np.float32),
    "rimmed": lambda u, v, p: (np.maximum(np.abs(u), np.abs(v)) < 0.6 + 0.1 * p).astype(np.float32),
}

# (shape, pattern, second tone): 22 identities with pairwise different shapes.
_CATALOGUE = [
    ("disc", "striped", "dark"), ("block", "dotted", "light"), ("triangle", "checked", "dark"),
    ("diamond", "ringed", "light"), ("star", "grid", "dark"), ("plus", "slashed", "light"),
    ("ring", "spoked", "dark"), ("crescent", "barred", "light"), ("hexagon", "halved", "dark"),
    ("heart", "shaded", "light"), ("arrow", "striped", "light"), ("tee", "checked", "light"),
    ("dome", "dotted", "dark"), ("bowtie", "ringed", "dark"),
    # the `cluttered` preset's extra identities: new shapes, and new patterns besides reused ones
    ("pentagon", "waved", "dark"), ("chevron", "grid", "light"), ("ell", "zigzag", "dark"),
    ("keyhole", "quartered", "light"), ("trapezoid", "spoked", "light"), ("drop", "rimmed", "dark"),
    ("frame", "shaded", "dark"), ("lens", "slashed", "dark"),
]
MINI_CATALOGUE = 14   # the `mini` and `smoke` presets draw from the first 14 entries (their data is unchanged)


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


def hsv_to_rgb(h, s, v) -> np.ndarray:
    """One HSV colour (all in 0..1) to float RGB in 0..255."""
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, dtype=np.float32) * 255


def make_identities(rng: np.random.Generator, count: int, pool: int | None = None) -> list[Identity]:
    """``count`` identities drawn from the first ``pool`` catalogue entries (all by default), with
    seed-dependent WNIDs and well separated hues."""
    pool = len(_CATALOGUE) if pool is None else min(pool, len(_CATALOGUE))
    if count > pool:
        raise ValueError(f"at most {pool} distinct classes, asked for {count}")
    order = rng.permutation(pool)[:count]
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
