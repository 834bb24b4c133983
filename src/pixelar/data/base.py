"""The in-memory dataset every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pixelar.errors import PixelarError


@dataclass
class ImageDataset:
    """Integer images, held in memory or memory-mapped from a file (imagenet32 and imagenet64:
    see :mod:`pixelar.data.imagenet`), where indexing reads only the images indexed.

    Attributes:
        images: uint8 tensor [N, C, H, W] with values in [0, num_levels).
        labels: long tensor [N] of class labels, or None.
        num_levels: K, the number of values a sub-pixel takes.
        name: dataset name and split, for messages.
        num_classes: number of label classes (0 when unlabelled).
    """

    images: Tensor
    labels: Tensor | None
    num_levels: int
    name: str
    num_classes: int = 0

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.images.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels is not None:
            self.labels = self.labels.long()
            if self.num_classes == 0 and len(self.labels):
                self.num_classes = int(self.labels.max()) + 1

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, count: int) -> ImageDataset:
        """The first ``count`` images (all when count <= 0)."""
        if count <= 0 or count >= len(self):
            return self
        labels = None if self.labels is None else self.labels[:count]
        return ImageDataset(self.images[:count], labels, self.num_levels, self.name, self.num_classes)

    def check_compatible(self, image_shape: tuple[int, int, int], num_levels: int) -> None:
        """Clear error unless the images fit a model of this shape and number of levels."""
        if self.image_shape != tuple(image_shape):
            channels, height, width = image_shape
            have_channels, have_height, have_width = self.image_shape
            example = f" (e.g. a folder dataset with image_size={height})" if height == width else ""
            raise PixelarError(
                f"dataset {self.name} has {have_channels}×{have_height}×{have_width} images but the model expects "
                f"{channels}×{height}×{width}; use data of the model's size{example} or train a new model",
                param="image_size",
            )
        if self.num_levels != num_levels:
            raise PixelarError(
                f"dataset {self.name} has {self.num_levels} levels per sub-pixel but the model has "
                f"{num_levels}; use the matching dataset (binary vs 8-bit)"
            )
