"""Masked convolutions of PixelCNN (van den Oord et al. 2016, "Pixel Recurrent Neural
Networks", Section 3.4 "Masked Convolution").

The features at every position are split into C colour groups (R, G, B for C = 3). At the
centre position a mask-A connection lets group c see input groups < c; a mask-B connection
lets it see groups <= c. Positions above, and to the left in the same row, are always
visible; positions to the right in the same row, and below, never are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from pixelar.sampling import Front

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
    """

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
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        super().__init__(in_channels, out_channels, ks, padding=(ks[0] // 2, ks[1] // 2))
        self.mask_type = mask_type
        in_groups = channel_groups(in_channels, num_colors) if in_groups is None else in_groups
        out_groups = channel_groups(out_channels, num_colors) if out_groups is None else out_groups
        self.register_buffer("mask", causal_mask(mask_type, in_groups, out_groups, ks), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


class IncrementalConv:
    """One masked convolution — or a stack of L of the same shape — evaluated at a few output
    positions at a time, for fast sampling.

    Holds each layer's input map channels-last in a zero-padded buffer
    [L, n, (H + kh//2)·(W + 2·(kw//2)), in] (the padding the full convolution uses; rows below
    the centre are never read, since the mask closes them). :meth:`write` stores inputs at a
    front's pixels (:class:`pixelar.sampling.Front`). :meth:`context` gives every layer's output
    there from every tap but the centre — the part the current pixels' own values do not
    change — in one batched product, to which a sampler adds ``centre`` times the current input
    (:meth:`output`, for a single layer). The weights are the full layer's masked ones.
    Memory: L · n · in · (H + kh//2) · (W + kw − 1) values, independent of the step count.
    """

    def __init__(self, convs: MaskedConv2d | list[MaskedConv2d], n: int, height: int, width: int) -> None:
        convs = [convs] if isinstance(convs, MaskedConv2d) else convs
        kh, kw = convs[0].kernel_size
        self.ph, self.pw, self.kw = kh // 2, kw // 2, kw
        self.width = width + 2 * self.pw
        w = torch.stack([(c.weight * c.mask)[:, :, : self.ph + 1, :] for c in convs])  # [L, out, in, ph+1, kw]
        self.centre = w[:, :, :, self.ph, self.pw].transpose(1, 2).contiguous()  # [L, in, out]
        w[:, :, :, self.ph, self.pw] = 0.0  # the centre tap is added per step
        self.context_weight = w.permute(0, 3, 4, 2, 1).reshape(len(convs), -1, w.shape[1]).contiguous()
        self.bias = None if convs[0].bias is None else torch.stack([c.bias for c in convs])[:, None, :]
        self.buf = convs[0].weight.new_zeros(len(convs), n, (height + self.ph) * self.width, convs[0].in_channels)

    def write(self, front: Front, value: Tensor) -> None:
        """Store the inputs [n·count, in] (or [L, n·count, in]) at the front's pixels."""
        L, n, _, cin = self.buf.shape
        self.buf[:, :, front.flat(self.width, self.ph, self.pw)] = value.view(L, n, front.count, cin)

    def _windows(self, front: Front) -> Tensor:
        """Every layer's input window at the front's pixels: [L, n·count, taps·in]."""
        L, n, _, cin = self.buf.shape
        step = front.flat(self.width).step
        stride = self.buf.stride()
        return self.buf.as_strided(
            (L, n, front.count, self.ph + 1, self.kw, cin),
            (stride[0], stride[1], step * cin, self.width * cin, cin, 1),
            (front.h0 * self.width + front.w0) * cin,  # top-left of the first pixel's window
        ).reshape(L, n * front.count, -1)

    def output(self, front: Front, value: Tensor) -> Tensor:
        """A single layer's output at the front's pixels given its input there [n·count, in]:
        [n·count, out]."""
        return torch.addmm(self.context(front)[0], value, self.centre[0])

    def context(self, front: Front) -> Tensor:
        """Every layer's output at the front's pixels without the centre tap: [L, n·count, out]."""
        window = self._windows(front)
        if self.bias is None:
            return torch.bmm(window, self.context_weight)
        return torch.baddbmm(self.bias, window, self.context_weight)


def pointwise(conv: nn.Conv2d) -> tuple[Tensor, Tensor | None]:
    """A 1×1 (masked) convolution as a matrix [in, out] and a bias, for one position [n, in]."""
    weight = conv.weight * conv.mask if isinstance(conv, MaskedConv2d) else conv.weight
    return weight[:, :, 0, 0].T.contiguous(), conv.bias


def apply_pointwise(layer: tuple[Tensor, Tensor | None], x: Tensor) -> Tensor:
    weight, bias = layer
    return x @ weight if bias is None else torch.addmm(bias, x, weight)
