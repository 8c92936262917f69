"""The image counts of ILSVRC 2015 and what a full-layout benchmark tree draws from: class ids,
image names, image sizes and boxes, all from one seeded generator.

Real counts (``REAL``): CLS-LOC train 1,281,167 images in 1,000 class folders (732-1,300 each), of
which 544,546 have an XML; val 50,000 (a blacklist of 1,762); test 100,000. DET train 456,567 images
in 200 classes, val 20,121 (R-CNN's val2: 9,917), test 51,294 (40,152 in 2014). How DET train splits
into its folders is not published per folder; the split below is an assumption that sums to the real
total: ILSVRC2013_train class folders with XMLs, ILSVRC2013_train_extra0..10 negatives without XML,
ILSVRC2014_train_0000..0006 with XMLs. The DET val blacklist's length is also an assumption.

Image sizes follow ImageNet's shape: most photos are 500 on their longer side (500x375, 375x500,
500x333, 500x500 the commonest), the shorter side elsewhere spread over 281-500, and a few larger
photos (longer side 600-2,000, a few camera sizes: one JPEG per distinct size stays cheap). Each
image holds 1-3 objects.
"""
from __future__ import annotations

import numpy as np

REAL = {
    "clsloc_classes": 1000, "det_classes": 200,
    "clsloc_train": 1_281_167, "clsloc_train_boxed": 544_546, "clsloc_val": 50_000, "clsloc_test": 100_000,
    "clsloc_val_blacklist": 1_762,
    "det_train_2013": 300_000, "det_train_negatives": 95_909, "det_train_2014": 60_658,   # sum 456,567
    "det_val": 20_121, "det_val2": 9_917, "det_test": 51_294, "det_val_blacklist": 2_000,
}
CLSLOC_PER_CLASS = (732, 1300)
DET_SHARED_WITH_CLSLOC = 60      # DET classes whose WNID is also a CLS-LOC class
COMMON_SIZES = ((500, 375, 0.42), (375, 500, 0.10), (500, 333, 0.12), (333, 500, 0.04), (500, 500, 0.05),
                (500, 334, 0.02), (500, 332, 0.02))
LARGE_FRACTION = 0.03            # longer side 600-2000, from a few camera sizes
LARGE_SIDES = (600, 640, 800, 1000, 1024, 1200, 1280, 1600, 2000)
LARGE_ASPECTS = (0.5625, 0.6, 0.667, 0.75, 0.8, 1.0)   # shorter / longer side
OBJECT_COUNTS = (1, 2, 3)
OBJECT_COUNT_P = (0.75, 0.18, 0.07)


def scaled_counts(scale: float) -> dict[str, int]:
    """The real counts times ``scale`` (at least one per class where a split needs every class)."""
    if not 0 < scale <= 1:
        raise ValueError(f"--scale must be in (0, 1], got {scale}")
    out = {k: max(1, round(v * scale)) for k, v in REAL.items()}
    out["clsloc_classes"], out["det_classes"] = REAL["clsloc_classes"], REAL["det_classes"]
    out["clsloc_train"] = max(out["clsloc_train"], out["clsloc_classes"])
    out["clsloc_train_boxed"] = min(out["clsloc_train_boxed"], out["clsloc_train"])
    out["det_train_2013"] = max(out["det_train_2013"], out["det_classes"])
    out["det_val2"] = min(out["det_val2"], out["det_val"])
    return out


def draw_wnids(rng: np.random.Generator, count: int, taken: set[str] = frozenset()) -> list[str]:
    """``count`` distinct plausible WNIDs (``n0`` and 7 digits), none of ``taken``, in random order."""
    out: list[str] = []
    seen = set(taken)
    while len(out) < count:
        for number in rng.integers(1_000_000, 9_999_999, 2 * count):
            wnid = f"n0{int(number):07d}"
            if wnid not in seen and len(out) < count:
                seen.add(wnid)
                out.append(wnid)
    return out


def split_total(rng: np.random.Generator, total: int, parts: int, low_high: tuple[int, int]) -> np.ndarray:
    """``parts`` positive counts summing to ``total``, shaped like uniform draws in ``low_high``."""
    weights = rng.uniform(*low_high, parts)
    counts = np.maximum(1, np.floor(weights / weights.sum() * total)).astype(np.int64)
    for k in rng.permutation(parts)[:max(0, total - int(counts.sum()))]:
        counts[k] += 1
    while counts.sum() > total:   # the floors of a tiny total can overshoot with the minimum of 1
        counts[int(np.argmax(counts))] -= 1
    return counts


def draw_numbers(rng: np.random.Generator, count: int, high: int) -> np.ndarray:
    """``count`` distinct sorted numbers in 1..high (image numbers: not consecutive, not padded)."""
    high = max(high, count)
    return np.sort(rng.choice(high, size=count, replace=False) + 1)


def draw_sizes(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 2) int64 (width, height) of ImageNet-like photos (see the module docstring)."""
    sizes = np.empty((n, 2), dtype=np.int64)
    common = np.array([(w, h) for w, h, _ in COMMON_SIZES])
    p_common = np.array([p for _, _, p in COMMON_SIZES])
    kind = rng.choice(len(COMMON_SIZES) + 2, size=n, p=[*p_common, 1 - p_common.sum() - LARGE_FRACTION, LARGE_FRACTION])
    is_common = kind < len(COMMON_SIZES)
    sizes[is_common] = common[kind[is_common]]
    other = np.flatnonzero(kind >= len(COMMON_SIZES))
    large = kind[other] == len(COMMON_SIZES) + 1
    longer = np.where(large, rng.choice(LARGE_SIDES, len(other)), 500)
    shorter = np.where(large, np.round(longer * rng.choice(LARGE_ASPECTS, len(other))).astype(np.int64),
                       rng.integers(281, 501, len(other)))
    landscape = rng.random(len(other)) < 0.8
    sizes[other, 0] = np.where(landscape, longer, shorter)
    sizes[other, 1] = np.where(landscape, shorter, longer)
    return sizes


def draw_object_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(OBJECT_COUNTS, size=n, p=OBJECT_COUNT_P).astype(np.int64)


def draw_boxes(rng: np.random.Generator, width: int, height: int, count: int) -> list[tuple[int, int, int, int]]:
    """``count`` inclusive integer boxes inside a ``width`` x ``height`` image, 10-100 % of each side."""
    bw = np.maximum(2, (width * rng.uniform(0.1, 1.0, count)).astype(np.int64))
    bh = np.maximum(2, (height * rng.uniform(0.1, 1.0, count)).astype(np.int64))
    x1 = (rng.random(count) * (width - bw + 1)).astype(np.int64)
    y1 = (rng.random(count) * (height - bh + 1)).astype(np.int64)
    return [(int(a), int(b), int(a + w - 1), int(b + h - 1)) for a, b, w, h in zip(x1, y1, bw, bh)]
