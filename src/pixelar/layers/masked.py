"""Masked convolutions of PixelCNN (van den Oord et al. 2016, "Pixel Recurrent Neural
Networks", Section 3.4 "Masked Convolution").

The features at every position are split into C colour groups (R, G, B for C = 3). At the
centre position a mask-A connection lets group c see input groups < c; a mask-B connection
lets it see groups <= c. Positions above, and to the left in the same row, are always
visible; positions to the right in the same row, and below, never are.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MaskType = Literal["A", "B"]


def channel_groups(num_features: int, num_colors: int) -> Tensor:
    """Colour group of each of ``num_features`` features: contiguous, as equal as possible.

    Returns a long tensor [num_features] with values in [0, num_colors).
    """
    return torch.arange(num_features) * num_colors // num_features


def causal_mask(
    mask_type: MaskType,
    in_groups: Tensor,
    out_groups: Tensor,
    kernel_size: tuple[int, int],
) -> Tensor:
    """The 0/1 weight mask [out, in, kh, kw] of a masked convolution centred on the pixel.

    Rows above the centre and columns left of the centre in the centre row are open; at the
    centre, output group g sees input group g' when g' < g (mask A) or g' <= g (mask B).
    """
    kh, kw = kernel_size
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"masked convolutions need odd kernel sizes, got {kernel_size}")
    ch, cw = kh // 2, kw // 2
    mask = torch.zeros(len(out_groups), len(in_groups), kh, kw)
    mask[:, :, :ch, :] = 1.0
    mask[:, :, ch, :cw] = 1.0
    if mask_type == "A":
        centre = in_groups[None, :] < out_groups[:, None]
    elif mask_type == "B":
        centre = in_groups[None, :] <= out_groups[:, None]
    else:
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    mask[:, :, ch, cw] = centre.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-padded convolution whose kernel is masked for raster-order causality.

    Shapes: input [B, in_channels, H, W] -> output [B, out_channels, H, W].

    Args:
        in_channels, out_channels: feature counts.
        kernel_size: odd size (int or (kh, kw)).
        mask_type: "A" (first layer: a colour group does not see itself) or "B".
        num_colors: C, the number of colour groups.
        in_groups, out_groups: explicit colour group of each input / output feature; by
            default :func:`channel_groups` of the feature count.

    The mask closes every row below the centre and, in a one-row kernel, every column right of
    the centre: the forward convolves with the rest of the kernel only (:attr:`support`: 2×3
    of a 3×3 kernel, 4×7 of a 7×7, 1×2 of a 1×3) on the input padded above and at the sides
    (under ``torch.compile``: padded all round, the extra output rows and columns cut off) —
    the same function in fewer operations. The parameters keep the full kernel's shape.
    """

    mask: Tensor  # the 0/1 weight mask (a buffer, not saved)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        mask_type: MaskType,
        num_colors: int,
        in_groups: Tensor | None = None,
        out_groups: Tensor | None = None,
    ) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        super().__init__(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2))
        self.mask_type = mask_type
        in_groups = channel_groups(in_channels, num_colors) if in_groups is None else in_groups
        out_groups = channel_groups(out_channels, num_colors) if out_groups is None else out_groups
        self.register_buffer("mask", causal_mask(mask_type, in_groups, out_groups, (kh, kw)), persistent=False)
        # the kernel rows down to the centre; in a one-row kernel the columns up to the centre
        self.support = (kh // 2 + 1, kw // 2 + 1 if kh == 1 else kw)
        rows, cols = self.support
        self.support_padding = (kw // 2, cols - 1 - kw // 2, rows - 1, 0)  # left, right, top, bottom

    def masked_weight(self) -> Tensor:
        """The weight on :attr:`support`, masked: [out, in, *support]."""
        rows, cols = self.support
        return self.weight[:, :, :rows, :cols] * self.mask[:, :, :rows, :cols]

    def forward(self, x: Tensor) -> Tensor:
        weight = self.masked_weight()
        if torch.compiler.is_compiling():
            # the convolution's own (symmetric) padding, and the rows below / columns right that
            # it adds cut off by a view, which inductor fuses into the next kernel; a padded copy
            # of the input would be a pass of its own
            height, width = x.shape[-2:]
            kh, kw = self.kernel_size
            return F.conv2d(x, weight, self.bias, padding=(kh // 2, kw // 2))[:, :, :height, :width]
        if any(self.support_padding):  # eager: one padded copy, the cheapest there
            x = F.pad(x, self.support_padding)
        return F.conv2d(x, weight, self.bias)
