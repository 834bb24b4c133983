"""Downsampled ImageNet 32×32 and 64×64 (Chrabaszcz et al. 2017) from the official ``.npz``
batches, which need a login to download: the user supplies the directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pixelar.data.base import ImageDataset
from pixelar.errors import PixelarError

PATTERNS = {"train": "train_data_batch_*.npz", "test": "val_data.npz"}


def read_npz_batch(path: str | Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch -> (images uint8 [N, 3, size, size], labels int64 [N], 0-based)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            data = np.asarray(f["data"], dtype=np.uint8)
            labels = np.asarray(f["labels"], dtype=np.int64)
    except Exception as e:
        raise PixelarError(f"{path} is not an ImageNet npz batch ({e.__class__.__name__}); download it again") from None
    if data.ndim != 2 or data.shape[1] != 3 * size * size or labels.shape != (data.shape[0],):
        raise PixelarError(
            f"{path} holds {tuple(data.shape)} data, not {size}×{size} RGB images; "
            f"use imagenet{size} with the Imagenet{size} files"
        )
    return data.reshape(-1, 3, size, size), labels - labels.min(initial=1)


def load_imagenet(directory: Path, split: str, size: int) -> ImageDataset:
    """ImageNet size×size from the npz batches found (recursively) under ``directory``."""
    if split not in PATTERNS:
        raise PixelarError(f"imagenet{size} has splits train and test (the official validation set), not {split!r}")
    files = sorted(directory.rglob(PATTERNS[split]), key=lambda path: (len(path.name), path.name))
    if not files:
        raise PixelarError(
            f"no {PATTERNS[split]} under {directory}; download Imagenet{size} (image-net.org, login needed), "
            f"unpack it there, or pass data_dir=DIR where they are",
            param="data_dir",
        )
    parts = [read_npz_batch(path, size) for path in files]
    images = np.concatenate([part_images for part_images, _ in parts])
    labels = np.concatenate([part_labels for _, part_labels in parts])
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), 256, f"imagenet{size}/{split}", 1000)
