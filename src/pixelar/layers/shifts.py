"""Shifted feature maps and the shifted convolutions of PixelCNN++ (Salimans et al. 2017,
Section 2.4 and the reference code) and the Gated PixelCNN's vertical stack: causality by
padding and shifting instead of by masks."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def down_shift(x: Tensor) -> Tensor:
    """Move a feature map down one row, zeros entering at the top: [B, F, H, W] → same.

    One padding op that also crops (a negative pad): its backward is the opposite shift, in the
    map's own memory layout. (Pad-then-slice costs a zero-filled map and a copy into it in the
    backward, across layouts for a channels-last map.)"""
    return F.pad(x, (0, 0, 1, -1))


def right_shift(x: Tensor) -> Tensor:
    """Move a feature map right one column, zeros entering at the left: [B, F, H, W] → same
    (one op, as :func:`down_shift`)."""
    return F.pad(x, (1, -1, 0, 0))


class DownShiftedConv2d(nn.Conv2d):
    """A kh × kw convolution whose output (i, j) sees input rows i−kh+1..i and columns
    j−(kw−1)/2..j+(kw−1)/2: the current row and those above, centred. [B, in, H, W] → [B, out, H/s, W/s]."""

    def forward(self, x: Tensor) -> Tensor:
        kh, kw = self.kernel_size
        return super().forward(F.pad(x, ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0)))


class DownRightShiftedConv2d(nn.Conv2d):
    """A kh × kw convolution whose output (i, j) sees input rows i−kh+1..i and columns
    j−kw+1..j: above and to the left, inclusive. [B, in, H, W] → [B, out, H/s, W/s]."""

    def forward(self, x: Tensor) -> Tensor:
        kh, kw = self.kernel_size
        return super().forward(F.pad(x, (kw - 1, 0, kh - 1, 0)))


class DownShiftedDeconv2d(nn.ConvTranspose2d):
    """Stride-2 transposed convolution cropped to stay down-shifted: [B, F, H, W] → [B, F', 2H, 2W]."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int] = (2, 3)) -> None:
        super().__init__(in_channels, out_channels, kernel, stride=2, output_padding=1)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        kh, kw = self.kernel_size
        y = super().forward(x)
        return y[:, :, : y.shape[2] - kh + 1, (kw - 1) // 2 : y.shape[3] - (kw - 1) // 2]


class DownRightShiftedDeconv2d(nn.ConvTranspose2d):
    """Stride-2 transposed convolution cropped to stay down-right-shifted: [B, F, H, W] → [B, F', 2H, 2W]."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int] = (2, 2)) -> None:
        super().__init__(in_channels, out_channels, kernel, stride=2, output_padding=1)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        kh, kw = self.kernel_size
        y = super().forward(x)
        return y[:, :, : y.shape[2] - kh + 1, : y.shape[3] - kw + 1]
