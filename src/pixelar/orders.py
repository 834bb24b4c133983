"""Generation orders: the index at which each sub-pixel of an image is generated."""

from __future__ import annotations

import torch
from torch import Tensor


def generation_order(image_shape: tuple[int, int, int]) -> Tensor:
    """Generation index of every sub-pixel: long tensor [C, H, W] — raster order, channels
    R → G → B within a pixel, so sub-pixel (c, h, w) is number (h·W + w)·C + c."""
    C, H, W = image_shape
    return torch.arange(C * H * W).reshape(H, W, C).permute(2, 0, 1).contiguous()
