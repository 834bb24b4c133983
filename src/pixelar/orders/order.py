"""An order over the pixels of an image, as data: :class:`PixelOrder`, a checked permutation
of the H·W pixels, and :func:`make_order`, which builds one from a name or a permutation.

The factorisation p(x) = Π_i p(x_i | x_<i) holds for any ordering of the pixels; the channels of
a pixel stay in order R → G → B whatever the order of the pixels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Union

import numpy as np
import torch
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.orders import curves

# The curves by name; each may end in -tr, -bl or -br to start from another corner (curves.CORNERS).
CURVES = ("raster", "snake", "column", "column-snake", "hilbert")
# "random" (seed 0) or "random-SEED": a seeded uniformly random permutation.
RANDOM = "random"
ORDER_NAMES = (*(f"{c}-{k}" if k != "tl" else c for c in CURVES for k in curves.CORNERS), RANDOM)

# What names an order: a name (:data:`ORDER_NAMES`, or random-SEED), a permutation of the
# pixels (a sequence, NumPy array or tensor of H·W pixel indices h·W + w), or a PixelOrder.
OrderSpec = Union[str, "PixelOrder", Sequence[int], np.ndarray, Tensor]


@dataclass(frozen=True, eq=False)
class PixelOrder:
    """A generation order over the pixels of an H×W image.

    Attributes:
        name: the order's name (``"custom"`` for one made from a permutation).
        height, width: the image's size.
        pixels: long [H·W]: ``pixels[t] = h·W + w``, the pixel generated t-th.
        ranks: long [H, W]: the step at which each pixel is generated (the inverse permutation).
    """

    name: str
    height: int
    width: int
    pixels: Tensor
    ranks: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ranks = torch.empty_like(self.pixels)
        ranks[self.pixels] = torch.arange(len(self.pixels))
        object.__setattr__(self, "ranks", ranks.reshape(self.height, self.width))

    @property
    def is_raster(self) -> bool:
        """Whether this is raster order (whatever it is called)."""
        return bool(torch.equal(self.pixels, torch.arange(len(self.pixels))))

    def generation_index(self, channels: int) -> Tensor:
        """Generation index of every sub-pixel [C, H, W]: rank·C + c (channels R → G → B within a
        pixel); raster order gives (h·W + w)·C + c."""
        return (self.ranks[None] * channels + torch.arange(channels)[:, None, None]).contiguous()

    def coordinates(self) -> list[tuple[int, int]]:
        """(row, column) of each pixel in the order it is generated."""
        return [(int(p) // self.width, int(p) % self.width) for p in self.pixels]

    def same_as(self, other: PixelOrder) -> bool:
        """Whether the two orders visit the same pixels in the same order."""
        return (self.height, self.width) == (other.height, other.width) and bool(torch.equal(self.pixels, other.pixels))

    def __repr__(self) -> str:
        return f"PixelOrder({self.name!r}, {self.height}×{self.width})"


def _named(name: str, height: int, width: int) -> Tensor:
    """The permutation of a built-in order's name, or a one-line error naming the choices."""
    match = re.fullmatch(r"random(?:-(\d+))?", name)
    if match:
        return curves.random(height, width, int(match.group(1) or 0))
    curve, _, corner = name.rpartition("-") if name.rsplit("-", 1)[-1] in curves.CORNERS else (name, "", "tl")
    if curve not in CURVES:
        raise PixelarError(
            f"unknown order {name!r}; choose {', '.join(CURVES)} (each also -tr, -bl or -br), "
            "random or random-SEED, or pass a permutation of the pixels"
        )
    if curve.startswith("column"):
        base = curves.snake if curve == "column-snake" else curves.raster
        pixels = curves.transposed(base(width, height), height, width)
    else:
        pixels = {"raster": curves.raster, "snake": curves.snake, "hilbert": curves.hilbert}[curve](height, width)
    return curves.from_corner(pixels, height, width, corner)


@lru_cache(maxsize=64)
def _cached(name: str, height: int, width: int) -> PixelOrder:
    pixels = _named(name, height, width)
    canonical = name[: -len("-tl")] if name.endswith("-tl") else name
    return PixelOrder("random-0" if canonical == "random" else canonical, height, width, pixels)


def make_order(spec: OrderSpec, height: int, width: int) -> PixelOrder:
    """The order ``spec`` names for an H×W image, checked: a name (:data:`ORDER_NAMES`, or
    ``random-SEED``), a permutation of the pixels (``pixels[t] = h·W + w``, the pixel
    generated t-th: a sequence, NumPy array or tensor of H·W distinct integers in [0, H·W)), or
    a :class:`PixelOrder` of this size. Raises a one-line :class:`PixelarError` otherwise."""
    if isinstance(spec, PixelOrder):
        if (spec.height, spec.width) != (height, width):
            raise PixelarError(f"order {spec.name!r} is for {spec.height}×{spec.width} images, not {height}×{width}")
        return spec
    if isinstance(spec, str):
        return _cached(spec.strip().lower(), height, width)
    return PixelOrder("custom", height, width, check_permutation(spec, height * width))


def check_permutation(spec: Sequence[int] | np.ndarray | Tensor, count: int) -> Tensor:
    """``spec`` as a long tensor [count] when it is a permutation of range(count), else a
    one-line :class:`PixelarError` saying what is wrong."""
    try:
        array = spec.cpu().numpy() if isinstance(spec, Tensor) else np.asarray(spec)
    except (TypeError, ValueError):
        raise PixelarError("an order must be a name or a flat permutation of the pixels") from None
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise PixelarError(f"an order's pixels must be integers, got dtype {array.dtype}")
    values = torch.from_numpy(array.astype(np.int64))
    if values.dim() != 1 or values.numel() != count:
        raise PixelarError(f"an order lists each of the {count} pixels once, got shape {tuple(values.shape)}")
    outside = (values < 0) | (values >= count)
    if bool(outside.any()):
        raise PixelarError(f"an order's pixels lie in [0, {count}), got {int(values[outside][0])}")
    seen = torch.bincount(values, minlength=count)
    if bool((seen != 1).any()):
        twice, missing = int((seen > 1).nonzero()[0]), int((seen == 0).nonzero()[0])
        raise PixelarError(
            f"an order is not a permutation of the pixels: pixel {twice} appears twice and pixel {missing} never"
        )
    return values


def batch_ranks(spec: OrderSpec | Sequence[OrderSpec], batch: int, height: int, width: int) -> Tensor:
    """The ranks (:attr:`PixelOrder.ranks`) of one order for every image, [1, H, W], or of one
    order per image, [batch, H, W]: ``spec`` a list of names or :class:`PixelOrder` s, or a 2-D
    array [batch, H·W] of permutations, one row per image."""
    array = spec if isinstance(spec, (np.ndarray, Tensor)) else None
    listed = isinstance(spec, (list, tuple)) and len(spec) > 0
    per_image = (array is not None and array.ndim == 2) or (
        listed and not isinstance(spec[0], (int, np.integer))  # type: ignore[index]
    )
    if not per_image:
        return make_order(spec, height, width).ranks[None]  # type: ignore[arg-type]
    orders = list(spec)  # type: ignore[arg-type]
    if len(orders) != batch:
        raise PixelarError(f"one order per image: got {len(orders)} orders for {batch} images")
    return torch.stack([make_order(one, height, width).ranks for one in orders])


def known_first(base: PixelOrder, known: Tensor) -> PixelOrder:
    """``base`` with the ``known`` pixels (bool [H, W]) moved to the front, each group keeping its
    order in ``base``: completing the unknown pixels in this order samples each one given every
    known pixel, an exact draw from p(unknown | known) (Jain, Abbeel & Pathak, UAI 2020: "globally
    coherent image completions"). ``base`` itself where it visits the known pixels first already."""
    if tuple(known.shape) != (base.height, base.width):
        raise PixelarError(f"the known pixels form a {tuple(known.shape)} mask, not ({base.height}, {base.width})")
    if visits_first(base, known):
        return base
    first = known.flatten().cpu()[base.pixels]
    pixels = torch.cat([base.pixels[first], base.pixels[~first]])
    return PixelOrder(f"known-first {base.name}", base.height, base.width, pixels)


def visits_first(order: PixelOrder, known: Tensor) -> bool:
    """Whether ``order`` visits every ``known`` pixel (bool [H, W]) before every other pixel."""
    first = known.flatten().cpu()[order.pixels]
    return not bool((first & ((~first).cumsum(0) > 0)).any())
