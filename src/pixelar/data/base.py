"""The in-memory dataset every loader returns, and dynamic binarization."""

from __future__ import annotations

import hashlib
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
        intensities: for a dynamically binarized dataset (see :func:`dynamically_binarized`),
            the uint8 8-bit images [N, C, H, W] whose values / 255 are the probabilities that
            pixels are 1; None otherwise.
    """

    images: Tensor
    labels: Tensor | None
    num_levels: int
    name: str
    num_classes: int = 0
    intensities: Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.images.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels is not None:
            self.labels = self.labels.long()
            if self.num_classes == 0 and len(self.labels):
                self.num_classes = int(self.labels.max()) + 1
        if self.intensities is not None and self.intensities.shape != self.images.shape:
            raise ValueError(
                f"intensities {tuple(self.intensities.shape)} must match images {tuple(self.images.shape)}"
            )

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
        intensities = None if self.intensities is None else self.intensities[:count]
        return ImageDataset(self.images[:count], labels, self.num_levels, self.name, self.num_classes, intensities)

    def epoch_images(self, seed: int, epoch: int) -> Tensor:
        """The images training reads in ``epoch`` of a run seeded ``seed``: :attr:`images`, or
        for a dynamically binarized dataset a fresh Bernoulli draw from :attr:`intensities`, a
        pure function of (seed, epoch) (so a resumed run draws what an uninterrupted one would)."""
        if self.intensities is None:
            return self.images
        return bernoulli_draw(self.intensities, f"epoch/{seed}/{epoch}")

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


def bernoulli_draw(intensities: Tensor, key: str) -> Tensor:
    """Binary uint8 images: each pixel 1 with probability (its value in ``intensities``) / 255,
    drawn with a generator seeded by ``key`` (the same key, the same images)."""
    seed = int.from_bytes(hashlib.blake2b(f"pixelar-binarize/{key}".encode(), digest_size=8).digest(), "little") >> 1
    generator = torch.Generator().manual_seed(seed)
    out = torch.empty_like(intensities)
    for start in range(0, len(intensities), 4096):  # bounded temporaries
        chunk = intensities[start : start + 4096]
        out[start : start + 4096] = torch.rand(chunk.shape, generator=generator) < chunk.float() / 255
    return out


def dynamically_binarized(data: ImageDataset, name: str) -> ImageDataset:
    """``data`` (8-bit) as the dynamically binarized dataset ``name``: pixel value v is 1 with
    probability v / 255, drawn afresh in every training epoch (:meth:`ImageDataset.epoch_images`).
    :attr:`ImageDataset.images` holds one fixed draw, seeded by ``name``: what evaluation reads
    (the test split's fixed draw) and everything else that is not training."""
    if data.num_levels != 256:
        raise ValueError(f"dynamic binarization needs 8-bit images, not {data.num_levels} levels")
    images = bernoulli_draw(data.images, f"fixed/{name}")
    return ImageDataset(images, data.labels, 2, name, data.num_classes, intensities=data.images)
