"""Test-time classification of a trained classifier: centre crop, 10-crop, dense multi-scale.

All functions take normalised float images, either a ``(B, 3, H, W)`` tensor or a list of
``(3, H, W)`` tensors of different sizes, and return ``(B, C)`` class probabilities. The model is
a :class:`~ilsvrc_pipe.models.classification.classifier.ResNetClassifier` (or anything with the same ``logits`` and
``score_map`` methods); it runs in eval mode and its previous mode is restored afterwards.

Dense testing follows the paper (Sec. 3.4: "the fully-convolutional form as in [41]", i.e.
Simonyan & Zisserman): the fc layer is applied as a 1x1 convolution over the last feature map
(``score_map``, same weights, no model copy) of the image with its shorter side resized to each
scale; as in [41] the class score map is averaged spatially, then softmaxed, then averaged over
scales and horizontal flips (``average='logits'``; the fc being linear, the map's spatial mean is
the fc of the spatially pooled features, ``logits``, which is how it is computed). ``average='probs'`` softmaxes each position
first: positions near the border see mostly padding and vote as loudly as the centre, which cost
the mini classifiers up to 3.5 points of dense top-1 error (docs/results.md, "Two presets, two seeds each").
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from ...ops.geometry import center_crop, resize_shorter, ten_crop

PAPER_SCALES = (224, 256, 384, 480, 640)
Images = Tensor | Sequence[Tensor]


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode without grad, then restore its training flag."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def _resized_batch(images: Images, scale: int) -> Tensor:
    """Shorter side to ``scale``; a tensor batch in one call, a list image by image."""
    if isinstance(images, Tensor):
        return resize_shorter(images, scale)
    return [resize_shorter(im, scale) for im in images]


def _crop_batch(resized: Images, crop_fn: Callable[[Tensor], Tensor]) -> Tensor:
    """``crop_fn`` of a ``(B, 3, H, W)`` batch, or of each image of a list (batched one by one)."""
    if isinstance(resized, Tensor):
        return crop_fn(resized)
    return torch.cat([crop_fn(im.unsqueeze(0)) for im in resized])


def predict_center_crop(model: nn.Module, images: Images, scale: int = 256,
                        crop: int = 224) -> Tensor:
    """Shorter side to ``scale``, centre ``crop``, softmax: the paper's single-crop error."""
    batch = _crop_batch(_resized_batch(images, scale), lambda x: center_crop(x, crop))
    with eval_mode(model):
        return model.logits(batch).softmax(dim=1)


def predict_ten_crop(model: nn.Module, images: Images, scale: int = 256,
                     crop: int = 224) -> Tensor:
    """Softmax averaged over the 10 crops (corners, centre, flips) at one scale."""
    crops = _crop_batch(_resized_batch(images, scale), lambda x: ten_crop(x, crop))
    b = crops.shape[0]
    with eval_mode(model):
        probs = model.logits(crops.flatten(0, 1)).softmax(dim=1)
    return probs.view(b, 10, -1).mean(dim=1)


def _image_probs(model: nn.Module, batch: Tensor, average: str) -> Tensor:
    """Class probabilities of whole images from their score maps (see the module docstring)."""
    if average == "logits":   # the score map's mean over positions: the fc of the pooled features
        return model.logits(batch).softmax(dim=1)
    # softmax along a contiguous last dim: one row per thread, whatever the thread count (a softmax
    # across dim 1 of the NCHW map splits positions among threads, and the chunks' scalar tails
    # round exp differently from the vector body: tests/utils/test_thread_invariance.py)
    return model.score_map(batch).permute(0, 2, 3, 1).contiguous().softmax(dim=-1).mean(dim=(1, 2))


def _dense_probs(model: nn.Module, batch: Tensor, flip: bool, average: str) -> Tensor:
    """Probabilities of one scale, averaged with the flipped image's."""
    probs = _image_probs(model, batch, average)
    if flip:
        probs = (probs + _image_probs(model, batch.flip(-1), average)) / 2
    return probs


DENSE_AVERAGES = ("logits", "probs")
DEFAULT_DENSE_AVERAGE = "logits"   # the paper's


def predict_dense(model: nn.Module, images: Images, scales: Sequence[int] = PAPER_SCALES,
                  flip: bool = True, average: str = DEFAULT_DENSE_AVERAGE) -> Tensor:
    """Fully convolutional multi-scale testing; images of equal resized size share one batch.
    ``average``: what is averaged over a score map's positions, ``logits`` (the paper's, default)
    or ``probs``."""
    if isinstance(images, Tensor) and images.dim() != 4:
        raise ValueError(f"expected (B, 3, H, W), got shape {tuple(images.shape)}")
    if average not in DENSE_AVERAGES:
        raise ValueError(f"average must be one of {DENSE_AVERAGES}, got {average!r}")
    n = len(images)
    total = None
    with eval_mode(model):
        for scale in scales:
            resized = _resized_batch(images, scale)
            if isinstance(resized, Tensor):
                probs = _dense_probs(model, resized, flip, average)
            else:
                probs = None
                for idx, batch in _group_by_size(resized):
                    part = _dense_probs(model, batch, flip, average)
                    if probs is None:
                        probs = part.new_zeros(n, part.shape[1])
                    probs[idx] = part
            total = probs if total is None else total + probs
    return total / len(scales)


def _group_by_size(images: Sequence[Tensor]) -> Iterator[tuple[Tensor, Tensor]]:
    """(indices, stacked batch) for each distinct image size, in first-seen order."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(tuple(im.shape), []).append(i)
    for idx in groups.values():
        yield torch.tensor(idx), torch.stack([images[i] for i in idx])


def average_probs(probs: Sequence[Tensor], weights: Sequence[float] | None = None) -> Tensor:
    """(Weighted) mean of members' ``(B, C)`` probabilities."""
    if not probs:
        raise ValueError("no scores to average")
    if weights is None:
        return torch.stack(list(probs)).mean(dim=0)
    if len(weights) != len(probs):
        raise ValueError(f"{len(weights)} weights for {len(probs)} members")
    w = torch.as_tensor(weights, dtype=probs[0].dtype)
    return torch.einsum("m,mbc->bc", w / w.sum(), torch.stack(list(probs)))


def predict_ensemble(models: Sequence[nn.Module], images: Images,
                     predict: Callable[..., Tensor] = predict_dense,
                     weights: Sequence[float] | None = None, **kwargs) -> Tensor:
    """Ensemble: each member's softmax by ``predict(model, images, **kwargs)``, averaged."""
    return average_probs([predict(m, images, **kwargs) for m in models], weights)


MODES = ("center", "ten_crop", "dense")   # the test modes the cls stage scores on val


def predict_modes(model: nn.Module, images: list[Tensor], test_cfg: dict, modes: Sequence[str] = MODES) -> dict[str, Tensor]:
    """Class probabilities of a batch of (normalised, native-size) images for each test mode of
    ``modes``, with the sizes of a ``cls.test`` config section."""
    out = {}
    if "center" in modes:
        out["center"] = predict_center_crop(model, images, scale=test_cfg["scale"], crop=test_cfg["crop"])
    if "ten_crop" in modes:
        out["ten_crop"] = predict_ten_crop(model, images, scale=test_cfg["scale"], crop=test_cfg["crop"])
    if "dense" in modes:
        out["dense"] = predict_dense(model, images, scales=test_cfg["dense_scales"], flip=True,
                                     average=test_cfg.get("dense_average", DEFAULT_DENSE_AVERAGE))
    return out
