"""Likelihood units in one place: nats per image and bits per dimension."""

from __future__ import annotations

import math
from dataclasses import dataclass


def bits_per_dim(nats_per_image: float, image_shape: tuple[int, int, int]) -> float:
    """NLL in nats per image -> bits per sub-pixel: nats / (C·H·W·ln 2)."""
    C, H, W = image_shape
    return nats_per_image / (C * H * W * math.log(2))


def nats_per_image(bits_per_dimension: float, image_shape: tuple[int, int, int]) -> float:
    """Inverse of :func:`bits_per_dim`."""
    C, H, W = image_shape
    return bits_per_dimension * C * H * W * math.log(2)


def preferred_unit(num_levels: int) -> str:
    """The unit papers report: nats/image for binary data, bits/dim for 8-bit data."""
    return "nats" if num_levels == 2 else "bits/dim"


def in_unit(nats: float, image_shape: tuple[int, int, int], unit: str) -> float:
    """Convert an NLL in nats per image to ``unit`` ("nats" or "bits/dim")."""
    return nats if unit == "nats" else bits_per_dim(nats, image_shape)


@dataclass(frozen=True)
class NLL:
    """A negative log-likelihood averaged over ``count`` images."""

    nats_per_image: float
    image_shape: tuple[int, int, int]
    count: int

    @property
    def bits_per_dim(self) -> float:
        return bits_per_dim(self.nats_per_image, self.image_shape)

    def as_dict(self) -> dict[str, float | int]:
        return {"nats_per_image": self.nats_per_image, "bits_per_dim": self.bits_per_dim, "images": self.count}

    def __str__(self) -> str:
        return f"{self.nats_per_image:.3f} nats/image = {self.bits_per_dim:.4f} bits/dim over {self.count} images"
