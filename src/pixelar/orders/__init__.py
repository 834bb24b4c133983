"""Generation orders: which pixel an autoregressive model generates when.

An order is a permutation of the H·W pixels (:class:`PixelOrder`); the channels of a pixel
are generated R → G → B whatever the order. :func:`make_order` builds one from a name
(:data:`ORDER_NAMES`: raster, snake, column, column-snake and hilbert from each corner;
random-SEED) or from a permutation, checked. Raster order is every model's; a locally masked
model (:mod:`pixelar.models.lmconv`) generates in any.
"""

from __future__ import annotations

from torch import Tensor

from pixelar.orders.order import (
    CURVES,
    ORDER_NAMES,
    OrderSpec,
    PixelOrder,
    batch_ranks,
    check_permutation,
    known_first,
    make_order,
    visits_first,
)

__all__ = [
    "CURVES",
    "ORDER_NAMES",
    "OrderSpec",
    "PixelOrder",
    "batch_ranks",
    "check_permutation",
    "generation_order",
    "known_first",
    "make_order",
    "visits_first",
]


def generation_order(image_shape: tuple[int, int, int], order: OrderSpec = "raster") -> Tensor:
    """Generation index of every sub-pixel: long tensor [C, H, W] — raster order by default,
    channels R → G → B within a pixel, so sub-pixel (c, h, w) is number (h·W + w)·C + c; in
    another order, rank·C + c with rank the step of pixel (h, w)."""
    C, H, W = image_shape
    return make_order(order, H, W).generation_index(C)
