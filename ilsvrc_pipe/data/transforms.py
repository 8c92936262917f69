"""Classification transforms of the paper (sec. 3.4), on torchvision transforms v2, and the image
normalisation every model input goes through (:func:`normalize_image`).

Training: shorter side resized to a random S in [S_min, S_max] (scale augmentation), a random crop,
horizontal flip, AlexNet PCA colour augmentation, then mean/std normalisation.
"""
from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from ..ops.geometry import shorter_side_size
from .images import load_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Eigen-decomposition of ImageNet's RGB covariance (Krizhevsky et al. 2012), pixel values in [0, 1].
IMAGENET_PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_PCA_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                       (-0.5808, -0.0045, -0.8140),
                       (-0.5836, -0.6948, 0.4203))


class PCALighting(torch.nn.Module):
    """Add ``eigvec @ (alpha * eigval)`` to every pixel, ``alpha ~ N(0, std)`` per image."""

    def __init__(self, std: float = 0.1, eigval=IMAGENET_PCA_EIGVAL, eigvec=IMAGENET_PCA_EIGVEC):
        super().__init__()
        self.std = float(std)
        self.register_buffer("eigval", torch.tensor(eigval, dtype=torch.float32))
        self.register_buffer("eigvec", torch.tensor(eigvec, dtype=torch.float32))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if self.std <= 0:
            return img
        alpha = torch.randn(3) * self.std
        rgb = self.eigvec @ (alpha * self.eigval)
        return img + rgb.view(3, 1, 1)


class RandomShorterSide(torch.nn.Module):
    """Resize so the shorter side is a random integer in [low, high] (the paper's [256, 480])."""

    def __init__(self, low: int, high: int):
        super().__init__()
        if not 0 < low <= high:
            raise ValueError(f"need 0 < low <= high, got {low}, {high}")
        self.low, self.high = int(low), int(high)

    def forward(self, img):
        size = int(torch.randint(self.low, self.high + 1, ()).item())
        height, width = v2.functional.get_size(img)
        # the longer side rounds as at test time (ops.geometry.shorter_side_size), not truncates
        return v2.functional.resize(img, list(shorter_side_size(height, width, size)), antialias=True)


def normalize_image(image: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """``(x - mean) / std`` per channel of a ``(3, H, W)`` image, as float32: the one normalisation of
    every model input (classifier transforms, RPN and R-CNN crops, detector inputs).

    ``image`` is uint8 (divided by 255 here) or float already scaled to [0, 1] (the classifier
    transforms scale with ``v2.ToDtype(scale=True)``, a multiplication by 1/255, which rounds the
    last bit otherwise than this division: each input keeps the scaling its models were trained with).
    """
    x = image if image.is_floating_point() else image.to(torch.float32) / 255.0
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    return (x - m) / s


class Normalize(torch.nn.Module):
    """:func:`normalize_image` as a step of a transforms pipeline (an ``Image`` stays one, as with
    ``v2.Normalize``)."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.mean, self.std = tuple(mean), tuple(std)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        out = normalize_image(img, self.mean, self.std)
        return tv_tensors.wrap(out, like=img) if isinstance(img, tv_tensors.Image) else out


def build_train_transform(scale=(256, 480), crop: int = 224, flip: bool = True, pca_std: float = 0.1,
                          mean=IMAGENET_MEAN, std=IMAGENET_STD) -> v2.Compose:
    """PIL/uint8 image -> normalised float tensor (3, crop, crop)."""
    ops = [v2.ToImage(), RandomShorterSide(*scale), v2.RandomCrop(crop, pad_if_needed=True)]
    if flip:
        ops.append(v2.RandomHorizontalFlip())
    ops += [v2.ToDtype(torch.float32, scale=True), PCALighting(pca_std), Normalize(mean, std)]
    return v2.Compose(ops)


def build_test_transform(shorter_side: int | None = None, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> v2.Compose:
    """PIL/uint8 image -> whole normalised image (shorter side resized when given); crops come later."""
    ops = [v2.ToImage()] + ([v2.Resize(shorter_side, antialias=True)] if shorter_side else [])
    return v2.Compose(ops + [v2.ToDtype(torch.float32, scale=True), Normalize(mean, std)])


_WHOLE_IMAGE = build_test_transform()


def load_normalized(path) -> torch.Tensor:
    """An image file as a whole, normalised ``(3, H, W)`` float tensor (test-time input)."""
    return _WHOLE_IMAGE(load_rgb(path)).as_subclass(torch.Tensor)


class NormalizedImages(torch.utils.data.Dataset):
    """Image files as :func:`load_normalized` gives them, by position: the test loops' input, decoded
    in ``DataLoader`` workers (``chunked_inference.py``) instead of the loop's own process. Positions
    in ``skip`` (images the data stage flagged corrupt) are not read: ``None``."""

    def __init__(self, paths, skip=()):
        self.paths = [str(p) for p in paths]
        self.skip = set(int(i) for i in skip)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor | None:
        return None if index in self.skip else load_normalized(self.paths[index])
