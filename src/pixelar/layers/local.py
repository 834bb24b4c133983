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

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelar.layers.masked import MaskType, causal_mask, channel_groups

# At most this many distinct masks, a layer runs as that many ordinary convolutions (one call);
# with more it runs unfolded: a position's taps masked one by one (the general form, several
# times slower than an ordinary convolution on the CPU).
MAX_PATTERNS = 4


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


@dataclass(frozen=True)
class LocalMask:
    """The masks of one kernel size in an order, in the two forms a layer computes with.

    Attributes:
        taps: bool [B or 1, k·k, H·W]: every position's mask (:func:`local_masks`).
        patterns: float [U, k, k], when the positions share at most :data:`MAX_PATTERNS` masks
            (raster order one, the S-curves two): the distinct ones, taps outside the image not
            counted (they read the zero padding); else None.
        where: float [B or 1, U, H, W]: 1 where a position takes that pattern (one per position).
    """

    taps: Tensor
    patterns: Tensor | None = None
    where: Tensor | None = None

    @classmethod
    def of(cls, ranks: Tensor, kernel_size: int) -> LocalMask:
        """The masks of a k×k kernel for the order whose ranks [B or 1, H, W] are given."""
        taps = local_masks(ranks, kernel_size)
        B, kk, L = taps.shape
        H, W = ranks.shape[1:]
        inside = F.unfold(ranks.new_ones(1, 1, H, W, dtype=torch.float32), kernel_size, padding=kernel_size // 2)
        inside = inside[0].T.bool().repeat(B, 1)  # [B·L, k·k]: the taps that read the image
        flat = taps.transpose(1, 2).reshape(B * L, kk)
        patterns = _shared_masks(flat, inside)
        if patterns is None:
            return cls(taps)
        fits = ((patterns[None] == flat[:, None]) | ~inside[:, None]).all(2)  # [B·L, U]
        choice = F.one_hot(fits.int().argmax(1), len(patterns))  # the first pattern that fits
        where = choice.view(B, H, W, -1).permute(0, 3, 1, 2).float()
        return cls(taps, patterns.view(-1, kernel_size, kernel_size).float(), where)


def _shared_masks(flat: Tensor, inside: Tensor) -> Tensor | None:
    """At most :data:`MAX_PATTERNS` masks [U, k·k] such that every position's mask (a row of
    ``flat`` [P, k·k]) equals one of them on its taps ``inside`` the image; None if it takes more.

    The masks of the positions away from the edges first (distinct rows); each position that
    none of them fits, most taps inside first, joins the first mask that agrees with it where
    both are set, and sets that mask's taps it alone reads."""
    interior = _distinct_rows(flat[inside.all(1)])
    if len(interior) > MAX_PATTERNS:
        return None
    fit = ((interior[None] == flat[:, None]) | ~inside[:, None]).all(2).any(1)
    values, known = list(interior), [torch.ones_like(row) for row in interior]
    rest = (~fit).nonzero().flatten()  # near an edge, and fitting none of the interior's
    for i in rest[inside[rest].sum(1).argsort(descending=True)].tolist():
        row, seen = flat[i], inside[i]
        for j, (value, set_) in enumerate(zip(values, known)):
            if bool(((value == row) | ~set_ | ~seen).all()):
                values[j], known[j] = torch.where(set_, value, row & seen), set_ | seen
                break
        else:
            values.append(row & seen)
            known.append(seen.clone())
        if len(values) > MAX_PATTERNS:
            return None
    return torch.stack(values) if len(values) <= MAX_PATTERNS else None


def _distinct_rows(rows: Tensor) -> Tensor:
    """The distinct rows of a bool matrix [P, n]: each row read as the bits of an integer when
    n < 63 (much faster than ``torch.unique(dim=0)`` on large images)."""
    n = rows.shape[1]
    if n >= 63:
        return torch.unique(rows, dim=0)
    bits = torch.arange(n, device=rows.device)
    codes = torch.unique((rows.long() << bits).sum(1))
    return ((codes[:, None] >> bits) & 1).bool()


class LocallyMaskedConv2d(nn.Conv2d):
    """A same-padded k×k convolution with a mask per position (see the module docstring).

    Shapes: ``forward(x, mask)``: input [B, in_channels, H, W] and the masks of this kernel size
    (:class:`LocalMask`: [B or 1, k·k, H·W]) → output [B, out_channels, H, W]. When the positions
    share a few masks, the layer is that many ordinary convolutions, each output position taking
    its own; otherwise the patches are unfolded and masked one by one. The two are the same
    function (tested).

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

    def forward(self, x: Tensor, mask: LocalMask) -> Tensor:  # type: ignore[override]
        B, _, H, W = x.shape
        k = self.kernel_size[0]
        if mask.patterns is not None and mask.where is not None:
            weight = self.weight * self.centre_mask
            if len(mask.patterns) == 1:
                return F.conv2d(x, weight * mask.patterns[0].to(x.dtype), self.bias, padding=k // 2)
            kernels = (weight[None] * mask.patterns[:, None, None].to(x.dtype)).flatten(0, 1)  # [U·out, in, k, k]
            out = F.conv2d(x, kernels, padding=k // 2).view(B, len(mask.patterns), -1, H, W)
            out = (out * mask.where[:, :, None].to(x.dtype)).sum(1)
            return out if self.bias is None else out + self.bias[:, None, None]
        patches = F.unfold(x, k, padding=k // 2)  # [B, in·k·k, H·W]
        patches = (patches.view(B, -1, k * k, H * W) * mask.taps[:, None].to(x.dtype)).flatten(1, 2)
        out = torch.matmul(self.masked_weight(), patches)
        if self.bias is not None:
            out = out + self.bias[:, None]
        return out.view(B, -1, H, W)
