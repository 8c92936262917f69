"""Scenes that carry class evidence outside the object: habitats, companions and look-alikes.

Real photos say something about an object's class beyond its own pixels: a boat sits on water, a
cup near a table, and a small or blurred region that could be either of two classes is told apart by
where it is. The `mini` and `cluttered` presets draw every background independently of the classes,
so a whole-image feature (the detector's global context branch, appendix B) has nothing to add to a
region's own. A preset with a ``SceneContext`` (``scenes``) makes the scene informative:

* **habitats**: every class lives in one of ``habitats`` background kinds (identity index modulo
  ``habitats``); an image is drawn on the habitat of its (first) class with probability
  ``habitat_prob``, else on the class-free background of the other presets;
* **companions**: in a DET image each object beyond the required ones is, with probability
  ``companion_prob``, the companion of the first required class (the next DET class, in DET order,
  of the same habitat), else any DET class;
* **look-alikes**: the DET-only classes come in pairs (consecutive identities, so in different
  habitats) that share shape, fill pattern and tone and whose hues differ by ``lookalike_hue``,
  about the hue jitter: meant to be harder to tell apart by their regions than by their scenes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .identities import Identity, hsv_to_rgb

# (hue, texture) of each habitat: grass-like vertical strokes, water-like horizontal waves, speckled sand
HABITATS = ((0.30, "strokes"), (0.58, "waves"), (0.09, "speckle"))


@dataclass(frozen=True)
class SceneContext:
    """How much a preset's scenes say about their classes (see the module docstring)."""

    habitats: int = 3
    habitat_prob: float = 0.8
    companion_prob: float = 0.5
    lookalike_hue: float = 0.04

    def __post_init__(self):
        if not 1 <= self.habitats <= len(HABITATS):
            raise ValueError(f"habitats must be 1..{len(HABITATS)}, got {self.habitats}")


def habitat_of(identity_index: int, context: SceneContext) -> int:
    return identity_index % context.habitats


def with_lookalikes(identities: list[Identity], det_only: list[int], context: SceneContext) -> list[Identity]:
    """Identities where each pair of consecutive DET-only classes shares the first one's shape,
    pattern and tone, the second's hue ``lookalike_hue`` away (names follow the appearance)."""
    out = list(identities)
    for first, second in zip(det_only[0::2], det_only[1::2]):
        a = identities[first]
        hue = (a.hue + context.lookalike_hue) % 1.0
        out[second] = replace(identities[second], shape=a.shape, pattern=a.pattern, tone=a.tone, hue=hue,
                              name=f"{a.pattern}_{a.shape}_{int(round(hue * 360))}")
    return out


def companion(ident: int, pool, context: SceneContext) -> int:
    """The next class of ``pool`` (in its order, cyclically) in ``ident``'s habitat; ``ident`` if none."""
    pool = [int(i) for i in pool]
    if ident not in pool:
        return ident
    start = pool.index(ident)
    for step in range(1, len(pool)):
        other = pool[(start + step) % len(pool)]
        if habitat_of(other, context) == habitat_of(ident, context):
            return other
    return ident


def habitat_background(rng, height: int, width: int, habitat: int) -> np.ndarray:
    """A float RGB background of one habitat: its colour family with its texture, varied per image."""
    hue, texture = HABITATS[habitat]
    base = hsv_to_rgb((hue + rng.uniform(-0.03, 0.03)) % 1.0, rng.uniform(0.3, 0.55), rng.uniform(0.5, 0.75))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 2)
    if texture == "strokes":
        t = np.sin(2 * np.pi * xx / rng.uniform(5, 9) + 2.5 * np.sin(2 * np.pi * yy / height * 1.5 + phase[0]))
    elif texture == "waves":
        t = np.sin(2 * np.pi * yy / rng.uniform(7, 12) + 2.0 * np.sin(2 * np.pi * xx / width * 2 + phase[1]))
    else:
        t = (rng.random((height, width)) > 0.85).astype(np.float32) * 2 - 1
    shade = 1 + rng.uniform(-0.15, 0.15) * (yy / height - 0.5)
    return base * (1 + 0.18 * t[..., None]) * shade[..., None]
