"""Fast exact sampling for :class:`~pixelar.models.lmconv.LocallyMaskedPixelCNN` in any order of
the pixels: one pixel per step, every layer evaluated at that pixel only.

A feature at pixel p reads, through the local masks, only features at pixels generated before
p (and p's own), so once p's column is computed for its last channel the features there are
final: the sampler keeps each k×k layer's input map in a zero-padded buffer, writes p's inputs
into it then, and at each step reads the k×k window around the step's pixel, masked by that
pixel's local mask. The first layer reads the image itself (written as pixels finish).
Cache: batch·(C + h·L)·(H + 2r)·(W + 2r) values. Per step and channel the work is one window
product per layer: O(L·h²·k²) instead of the whole network's O(H·W·L·h²·k²).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from pixelar.distributions import scale_levels
from pixelar.incremental import ColumnSampler, Front, OutputHeadAt, Pointwise, SampledModel, order_fronts
from pixelar.layers import MaskedConv2d
from pixelar.layers.common import OutputHead
from pixelar.layers.local import LocallyMaskedConv2d


class LocalBlock(Protocol):
    """A block as the sampler reads it: 1×1 reduce, k×k local convolution, 1×1 expand."""

    reduce: MaskedConv2d
    conv: LocallyMaskedConv2d
    expand: MaskedConv2d


class LocalNetwork(SampledModel, Protocol):
    """What the sampler reads of :class:`~pixelar.models.lmconv.LocallyMaskedPixelCNN`."""

    input_conv: LocallyMaskedConv2d
    head: OutputHead

    def local_blocks(self) -> Sequence[LocalBlock]: ...

    def class_biases(self, cond: Tensor | None) -> list[Tensor | None]: ...


class LocalWindow:
    """A locally masked convolution at one pixel at a time, over its cached input map
    [batch, in, H + 2r, W + 2r] (zero-padded); each pixel's mask read off the order's ranks as it
    comes (:func:`~pixelar.layers.local.local_masks` at one position)."""

    def __init__(self, conv: LocallyMaskedConv2d, ranks: Tensor, batch: int, height: int, width: int) -> None:
        self.k = conv.kernel_size[0]
        self.r = self.k // 2
        self.weight = conv.masked_weight().T.contiguous()  # [in·k·k, out]
        self.bias = conv.bias
        # the ranks, padded with H·W (generated after every pixel: the padding is never read)
        self.ranks = F.pad(ranks, (self.r,) * 4, value=height * width).to(conv.weight.device)
        self.inputs = conv.weight.new_zeros(batch, conv.in_channels, height + 2 * self.r, width + 2 * self.r)

    def mask(self, h: int, w: int) -> Tensor:
        """Pixel (h, w)'s mask [k·k]: 1 at the pixels of its window generated before it, and at
        its centre (whose colour groups the weight masks)."""
        window = self.ranks[h : h + self.k, w : w + self.k].flatten()
        mask = window < window[self.r * self.k + self.r]
        mask[self.r * self.k + self.r] = True
        return mask

    def __call__(self, front: Front, centre: Tensor) -> Tensor:
        """The output [batch, out] at the front's pixel, given its own input ``centre`` [batch, in]."""
        h, w = front.pixel
        window = self.inputs[:, :, h : h + self.k, w : w + self.k].flatten(2) * self.mask(h, w).to(self.weight)
        window[:, :, self.r * self.k + self.r] = centre
        out = window.flatten(1) @ self.weight
        return out if self.bias is None else out + self.bias

    def write(self, front: Front, value: Tensor) -> None:
        """Store the final input [batch, in] at the front's pixel."""
        h, w = front.pixel
        self.inputs[:, :, h + self.r, w + self.r] = value


class LocalColumnSampler(ColumnSampler):
    """One pixel per step in the model's order (:meth:`~pixelar.models.base.AutoregressiveModel.pixel_order`),
    each step computing every layer at that pixel from the cached windows (see the module docstring)."""

    def __init__(self, model: LocalNetwork, batch: int, cond: Tensor | None) -> None:
        super().__init__(model)
        order = model.pixel_order()
        self.fronts = order_fronts(order)
        self.model = model
        self.input = LocalWindow(model.input_conv, order.ranks, batch, self.H, self.W)
        blocks = list(model.local_blocks())
        self.convs = [LocalWindow(block.conv, order.ranks, batch, self.H, self.W) for block in blocks]
        self.pointwise = [(Pointwise.of(block.reduce), Pointwise.of(block.expand)) for block in blocks]
        self.head = OutputHeadAt(model.head)
        self.biases = model.class_biases(cond)

    def write_input(self, x: Tensor, front: Front) -> None:
        h, w = front.pixel
        self.input.write(front, scale_levels(x[:, :, h, w], self.model.num_levels, self.dtype))

    def column(self, x: Tensor, front: Front, c: int) -> Tensor:
        h, w = front.pixel
        final = c == self.C - 1  # every channel the features read is known: they are final
        # the pixel's own channels: mask A reads only those before each colour group's own
        y = self.input(front, scale_levels(x[:, :, h, w], self.model.num_levels, self.dtype))
        for window, (reduce, expand), bias in zip(self.convs, self.pointwise, self.biases):
            if bias is not None:
                y = y + bias
            inner = torch.relu(reduce(torch.relu(y)))
            y = y + expand(torch.relu(window(front, inner)))
            if final:
                window.write(front, inner)
        last = self.biases[-1]
        if last is not None:
            y = y + last
        if final:
            self.write_input(x, front)
        return self.head(y)[:, self.model.distribution.channel_params(c)]
