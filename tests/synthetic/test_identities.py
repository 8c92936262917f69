"""identities.py: distinct, seed-dependent class identities whose shapes and patterns are drawable."""
from __future__ import annotations

import re

import numpy as np
import pytest

from ilsvrc_pipe.synthetic import identities


def test_identities_are_distinct_and_seeded():
    count = len(identities._CATALOGUE)
    made = identities.make_identities(np.random.default_rng(0), count)
    assert len({d.wnid for d in made}) == len({d.shape for d in made}) == len({d.name for d in made}) == count
    assert all(re.fullmatch(r"n\d{8}", d.wnid) for d in made)
    assert all(d.shape in identities.SHAPES and d.pattern in identities.PATTERNS for d in made)
    assert all(0 <= d.hue < 1 and d.tone in ("dark", "light") for d in made)
    assert made == identities.make_identities(np.random.default_rng(0), count)
    assert made != identities.make_identities(np.random.default_rng(1), count)
    with pytest.raises(ValueError):
        identities.make_identities(np.random.default_rng(0), count + 1)


def test_shapes_fill_part_of_the_unit_square_and_patterns_mix_tones():
    u, v = np.meshgrid(np.linspace(-1.2, 1.2, 97), np.linspace(-1.2, 1.2, 97))
    for name, shape in identities.SHAPES.items():
        mask = shape(u, v)
        assert mask.dtype == bool and 0.1 < mask.mean() < 0.9, name
        assert not mask[0].any() and not mask[-1].any() and not mask[:, 0].any() and not mask[:, -1].any(), name
    for name, pattern in identities.PATTERNS.items():
        weight = pattern(u, v, 0.3)
        assert weight.dtype == np.float32 and weight.min() >= 0 and weight.max() <= 1 and weight.std() > 0.1, name


def test_hsv_to_rgb():
    assert identities.hsv_to_rgb(0.0, 1.0, 1.0).tolist() == [255, 0, 0]
    assert identities.hsv_to_rgb(1 / 3, 1.0, 1.0).tolist() == [0, 255, 0]
    assert identities.hsv_to_rgb(0.5, 0.0, 0.5).tolist() == [127.5, 127.5, 127.5]
