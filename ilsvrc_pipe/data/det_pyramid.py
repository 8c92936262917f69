"""The DET test inputs of one image (appendix B of He et al.): the primary input, the image pyramid,
and the check of their settings (config ``det.test``).

Why this exists: the RPN and the single-scale rows see an image at the shorter side ``scale`` (paper:
600) with the longer side capped at ``max_size`` (1000), while the Fast R-CNN step of the multi-scale
rows sees it at every shorter side of ``pyramid`` (200 ... 1000). Were the pyramid capped at 1000
too, the 800 and 1000 levels of a 4:3 photo would be the same 750 x 1000 image, and the maxout's
scale selection needs distinct scales. So the pyramid has its own cap, ``pyramid_max_size``, and the primary input is its
own image (the same tensor as a pyramid level wherever the two sizes agree). Levels that still come
out the same size (a small cap, an extreme aspect ratio) are merged into one level: a collapsed
pyramid is a legitimate pyramid with fewer scales, not an error.

Sizes are mmcv's (``mmcv.image.rescale_size``, what its keep-ratio ``Resize`` resizes to), so they
can be known before any pixel is touched. The settings check needs neither mmcv nor torch.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real

from ..utils.errors import UserInputError

__all__ = ["check_test_pyramid", "det_test_inputs", "resized_size", "pyramid_levels"]

WHERE = "det.test"
NO_SIZE_CAP = 1_000_000  # the longer-side cap given to mmcv when the longer side is not capped


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _positive_int(test: Mapping, key: str) -> int:
    value = test[key]
    if not _is_int(value) or value <= 0:
        raise UserInputError(f"{WHERE}.{key}: expected a positive integer, got {value!r}")
    return int(value)


def _cap(test: Mapping, key: str, value, largest: int, of: str) -> None:
    """A longer-side cap: None (no cap) or an integer at least the largest shorter side it serves."""
    if value is None:
        return
    if not _is_int(value) or value <= 0:
        raise UserInputError(f"{WHERE}.{key}: expected a positive integer or None (no cap), got {value!r}")
    if value < largest:
        raise UserInputError(f"{WHERE}.{key}: {value} is below {of} {largest}; a cap on the longer side "
                             "must be at least the shorter side it is asked for")


def _pyramid(test: Mapping, scale: int) -> tuple[int, ...]:
    value = test.get("pyramid", (scale,))
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise UserInputError(f"{WHERE}.pyramid: expected a non-empty list of shorter sides, got {value!r}")
    if not all(_is_int(s) and s > 0 for s in value):
        raise UserInputError(f"{WHERE}.pyramid: expected positive integers, got {list(value)!r}")
    sides = tuple(int(s) for s in value)
    repeated = sorted({s for s in sides if sides.count(s) > 1})
    if repeated:
        raise UserInputError(f"{WHERE}.pyramid: {repeated[0]} is listed twice in {list(sides)}")
    if list(sides) != sorted(sides):
        raise UserInputError(f"{WHERE}.pyramid: expected increasing shorter sides, got {list(sides)}")
    if scale not in sides:
        raise UserInputError(f"{WHERE}.scale: {scale} is not one of the pyramid's shorter sides {list(sides)}")
    return sides


def _fraction(test: Mapping, key: str) -> None:
    if key in test and not (isinstance(test[key], Real) and not isinstance(test[key], bool) and 0 < test[key] <= 1):
        raise UserInputError(f"{WHERE}.{key}: expected an overlap in (0, 1], got {test[key]!r}")


def check_test_pyramid(det_test: Mapping) -> None:
    """Raise :class:`UserInputError` (one line naming the ``det.test`` key) for test settings the
    detector cannot run: ``scale`` not a positive integer or not one of ``pyramid``; ``pyramid``
    empty, non-positive, repeated or unsorted; ``max_size`` below ``scale`` or ``pyramid_max_size``
    (default: ``max_size``) below the largest pyramid scale; ``target_size`` not positive; an NMS or
    voting overlap outside (0, 1]; ``max_per_image`` not a positive integer. Keys it does not know are
    left to the config's own checks."""
    if not isinstance(det_test, Mapping):
        raise UserInputError(f"{WHERE}: expected a dict of test settings, got {type(det_test).__name__}")
    if "scale" not in det_test:
        raise UserInputError(f"{WHERE}.scale: missing; expected the primary shorter side (paper: 600)")
    scale = _positive_int(det_test, "scale")
    max_size = det_test.get("max_size")
    _cap(det_test, "max_size", max_size, scale, "the scale")
    pyramid = _pyramid(det_test, scale)
    if "pyramid_max_size" in det_test:
        _cap(det_test, "pyramid_max_size", det_test["pyramid_max_size"], pyramid[-1], "the largest pyramid scale")
    elif max_size is not None and max_size < pyramid[-1]:
        raise UserInputError(f"{WHERE}.pyramid_max_size: not set, so it is max_size {max_size}, below the "
                             f"largest pyramid scale {pyramid[-1]}; set it (at least {pyramid[-1]}) or None")
    target = det_test.get("target_size", 224)
    if not (isinstance(target, Real) and not isinstance(target, bool) and target > 0):
        raise UserInputError(f"{WHERE}.target_size: expected a positive RoI side in pixels, got {target!r}")
    _fraction(det_test, "nms_iou")
    _fraction(det_test, "vote_iou")
    if "max_per_image" in det_test:
        _positive_int(det_test, "max_per_image")


def det_test_inputs(det_test: Mapping) -> dict:
    """The checked ``det.test`` settings as the keyword arguments of ``PackDetPyramid`` and
    ``DetTestDataset``: ``scale``, ``max_size``, ``pyramid`` (default: ``(scale,)``) and
    ``pyramid_max_size`` (default: ``max_size``)."""
    check_test_pyramid(det_test)
    scale = int(det_test["scale"])
    max_size = det_test.get("max_size")
    return dict(scale=scale, max_size=max_size, pyramid=tuple(int(s) for s in det_test.get("pyramid", (scale,))),
                pyramid_max_size=det_test.get("pyramid_max_size", max_size))


def resized_size(height: int, width: int, shorter: int, max_size: int | None) -> tuple[int, int]:
    """``(h, w)`` of a ``height x width`` image resized, ratio kept, to the shorter side ``shorter``
    with the longer side at most ``max_size`` (None: no cap), exactly as mmcv's ``Resize`` does."""
    from mmcv.image import rescale_size   # here, not above: check_test_pyramid stays free of torch

    w, h = rescale_size((int(width), int(height)), (int(max_size) if max_size else NO_SIZE_CAP, int(shorter)))
    return h, w


def pyramid_levels(height: int, width: int, scales: Sequence[int],
                   max_size: int | None) -> list[tuple[int, tuple[int, int]]]:
    """The pyramid of one ``height x width`` image: ``(shorter side asked, (h, w))`` per level, in
    the order of the increasing ``scales``. A level that does not grow on both sides over the level
    before it (the cap reached: the same size) merges into that one, so heights and widths strictly
    increase and scale factors taken from either side do too."""
    if any(b <= a for a, b in zip(scales, scales[1:])):
        raise ValueError(f"pyramid scales must be strictly increasing, got {list(scales)}")
    levels: list[tuple[int, tuple[int, int]]] = []
    for side in scales:
        size = resized_size(height, width, side, max_size)
        if levels and (size[0] <= levels[-1][1][0] or size[1] <= levels[-1][1][1]):
            continue
        levels.append((int(side), size))
    return levels
