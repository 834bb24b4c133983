"""The sampling schedule: which pixels are generated together (fronts), in which order."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from pixelar.orders import PixelOrder


@dataclass(frozen=True)
class Front:
    """Pixels generated in the same step: (h0 + i·dh, w0 − i·dw) for i < count, in raster order.

    A front is a strided slice of any flattened map (:meth:`flat`), so reading and writing it
    costs one view, never a gather.
    """

    t: int
    h0: int
    w0: int
    count: int = 1
    dh: int = 1
    dw: int = 0

    def flat(self, width: int, pad_top: int = 0, pad_left: int = 0) -> slice:
        """The front's positions in a map of ``width`` columns (after padding) flattened over (H, W)."""
        start = (self.h0 + pad_top) * width + self.w0 + pad_left
        step = self.dh * width - self.dw if self.count > 1 else 1
        return slice(start, start + (self.count - 1) * step + 1, step)

    def take(self, t: Tensor, c: int) -> Tensor:
        """Channel c of a contiguous map [n, C, H, W] at the front's pixels: [n, count]."""
        return t.flatten(2)[:, c, self.flat(t.shape[3])]

    def scaled(self, factor: int) -> Front:
        """The same pixels in an image ``factor`` times larger (pixel (h, w) → (f·h, f·w))."""
        return replace(self, h0=self.h0 * factor, w0=self.w0 * factor, dh=self.dh * factor, dw=self.dw * factor)

    @property
    def pixel(self) -> tuple[int, int]:
        """(row, column) of a one-pixel front."""
        if self.count != 1:
            raise ValueError("this sampler generates one pixel per step")
        return self.h0, self.w0


def wavefronts(height: int, width: int, shift: int) -> list[Front]:
    """The generation schedule: front t holds the pixels (h, w) with w + shift·h = t.

    shift = width is raster order, one pixel per front. A smaller shift is exact for a model
    whose conditionals at (h, w) depend on no pixel (h − k, w') with w' ≥ w + k·shift (k ≥ 1):
    every pixel a conditional reads then lies on an earlier front.
    """
    if not 1 <= shift <= width:
        raise ValueError(f"a wavefront shift must lie in [1, {width}], got {shift}")
    fronts = []
    for t in range(width + shift * (height - 1)):
        lo = max(0, -(-(t - width + 1) // shift))
        hi = min(height - 1, t // shift)
        fronts.append(Front(t, lo, t - shift * lo, hi - lo + 1, 1, shift))
    return fronts


def order_fronts(order: PixelOrder) -> list[Front]:
    """The schedule of one pixel per step in ``order``: front t holds the pixel generated t-th
    (raster order gives :func:`wavefronts` with shift = width)."""
    if order.is_raster:
        return wavefronts(order.height, order.width, order.width)
    return [Front(t, int(p) // order.width, int(p) % order.width) for t, p in enumerate(order.pixels.tolist())]


def step_index(image_shape: tuple[int, int, int], shift: int) -> Tensor:
    """Index of the sampling step of every sub-pixel [C, H, W]: (w + shift·h)·C + c."""
    C, H, W = image_shape
    t = torch.arange(W)[None, :] + shift * torch.arange(H)[:, None]
    return (t[None] * C + torch.arange(C)[:, None, None]).long()
