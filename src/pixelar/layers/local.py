"""Locally masked convolutions (Jain, Abbeel & Pathak, "Locally Masked Convolution for
Autoregressive Models", UAI 2020): a convolution whose mask differs at every
position, computed from the generation order, so that one set of weights is causal in any
order of the pixels.

The convolution is written as im2col: the k×k patch around every position is unfolded
(``F.unfold``), multiplied by that position's mask — a tap is open when it reads a pixel
generated before the position's own, closed when it reads a later pixel or the padding — and
multiplied by the weight. At the centre tap the colour groups are masked as in PixelCNN
(mask A: group c sees input groups < c; mask B: groups ≤ c), the same at every position.
A stack of such layers is causal in the order: a feature at pixel p reads features at pixels
generated before p (or at p itself, through mask B's centre), which read only pixels before
those.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelar.layers.masked import MaskType, causal_mask, channel_groups


def local_masks(ranks: Tensor, kernel_size: int) -> Tensor:
    """The spatial mask of every position's k×k patch: [B, k·k, H·W] (the taps in row-major
    order, the positions flattened as ``F.unfold`` lays them out), 1 where the tap reads a pixel
    generated before the position's own, 0 where it reads a later pixel or lies outside the
    image; the centre tap is 1 (its colour groups are masked in the weight).

    ``ranks`` [B, H, W]: the step at which each pixel is generated
    (:attr:`pixelar.orders.PixelOrder.ranks`, one order per image or B = 1 for all).
    """
    _, H, W = ranks.shape
    r = kernel_size // 2
    after_all = H * W  # the padding: generated after every pixel, so never read
    padded = F.pad(ranks, (r, r, r, r), value=after_all)
    taps = [padded[:, dy : dy + H, dx : dx + W] for dy in range(kernel_size) for dx in range(kernel_size)]
    mask = torch.stack(taps, 1) < ranks[:, None]  # [B, k·k, H, W]
    mask[:, r * kernel_size + r] = True
    return mask.flatten(2)


class LocallyMaskedConv2d(nn.Conv2d):
    """A same-padded k×k convolution with a mask per position (see the module docstring).

    Shapes: ``forward(x, mask)``: input [B, in_channels, H, W] and ``mask`` [B or 1, k·k, H·W]
    (:func:`local_masks` for this kernel size) → output [B, out_channels, H, W].

    Args:
        in_channels, out_channels: feature counts.
        kernel_size: odd side k.
        mask_type: "A" (first layer: a colour group does not see itself at the centre) or "B".
        num_colors: C, the number of colour groups.

    The weight keeps the shape of an ordinary convolution's [out, in, k, k], so the weights of a
    :class:`~pixelar.layers.MaskedConv2d` load into it: in raster order the two compute the
    same function.
    """

    centre_mask: Tensor  # [out, in, k, k]: 1 off the centre, the colour-group mask at it (a buffer, not saved)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: MaskType, num_colors: int):
        if kernel_size % 2 == 0:
            raise ValueError(f"locally masked convolutions need an odd kernel size, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.mask_type = mask_type
        groups = causal_mask(
            mask_type, channel_groups(in_channels, num_colors), channel_groups(out_channels, num_colors), (1, 1)
        )
        centre_mask = torch.ones(out_channels, in_channels, kernel_size, kernel_size)
        centre_mask[:, :, kernel_size // 2, kernel_size // 2] = groups[:, :, 0, 0]
        self.register_buffer("centre_mask", centre_mask, persistent=False)

    def masked_weight(self) -> Tensor:
        """The weight with the colour groups masked at the centre tap: [out, in·k·k]."""
        return (self.weight * self.centre_mask).flatten(1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # type: ignore[override]
        B, _, H, W = x.shape
        k = self.kernel_size[0]
        patches = F.unfold(x, k, padding=k // 2)  # [B, in·k·k, H·W]
        patches = (patches.view(B, -1, k * k, H * W) * mask[:, None].to(x.dtype)).flatten(1, 2)
        out = torch.matmul(self.masked_weight(), patches)
        if self.bias is not None:
            out = out + self.bias[:, None]
        return out.view(B, -1, H, W)
