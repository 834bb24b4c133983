"""Convolutions evaluated at a few positions at a time: a convolution weight as the matrix
acting on its flattened input window (:func:`conv_matrix`, which every sampler uses), a 1×1 convolution applied to features at positions
(:class:`Pointwise`), and a masked convolution with a cached input map (:class:`IncrementalConv`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from pixelar.incremental.schedule import Front
from pixelar.layers.masked import MaskedConv2d


def effective_weight(conv: nn.Conv2d) -> Tensor:
    """The weight a convolution applies: masked for a :class:`MaskedConv2d`. [out, in, kh, kw]."""
    return conv.weight * conv.mask if isinstance(conv, MaskedConv2d) else conv.weight


def conv_matrix(weight: Tensor) -> Tensor:
    """A convolution weight [..., out, in, kh, kw] as a matrix [..., kh·kw·in, out] acting on
    its input window flattened row by row, tap by tap, channels last."""
    *lead, out, cin, kh, kw = weight.shape
    return weight.movedim(-4, -1).movedim(-4, -2).reshape(*lead, kh * kw * cin, out).contiguous()


class Pointwise:
    """A 1×1 convolution as a matrix: features at positions [positions, in] → [positions, out]."""

    def __init__(self, weight: Tensor, bias: Tensor | None) -> None:
        self.weight, self.bias = weight, bias  # [in, out], [out]

    @classmethod
    def of(cls, conv: nn.Conv2d) -> Pointwise:
        return cls(conv_matrix(effective_weight(conv)), conv.bias)

    def restrict(self, inputs: int, outputs: int | slice) -> Pointwise:
        """The same map on the first ``inputs`` features to the ``outputs`` features (a count:
        the first ones) — what a colour group prefix needs."""
        cols = slice(0, outputs) if isinstance(outputs, int) else outputs
        bias = None if self.bias is None else self.bias[cols].contiguous()
        return Pointwise(self.weight[:inputs, cols].contiguous(), bias)

    def __call__(self, x: Tensor) -> Tensor:
        return x @ self.weight if self.bias is None else torch.addmm(self.bias, x, self.weight)


class IncrementalConv:
    """One masked convolution — or a stack of L of the same shape — evaluated at a few output
    positions at a time, for fast sampling.

    Holds each layer's input map channels-last in a zero-padded buffer
    [L, batch, (H + kh//2)·(W + 2·(kw//2)), in] (the padding the full convolution uses; rows below
    the centre are never read, since the mask closes them). :meth:`write` stores inputs at a
    front's pixels (:class:`~pixelar.incremental.Front`). :meth:`context` gives every layer's
    output there from every tap but the centre — the part the current pixels' own values do not
    change — in one batched product, to which a sampler adds ``centre`` times the current input
    (:meth:`output`, for a single layer). The weights are the full layer's masked ones.
    Memory: L · batch · in · (H + kh//2) · (W + kw − 1) values, independent of the step count.
    """

    def __init__(self, convs: MaskedConv2d | list[MaskedConv2d], batch: int, height: int, width: int) -> None:
        convs = [convs] if isinstance(convs, MaskedConv2d) else convs
        kh, kw = convs[0].kernel_size
        self.pad_top, self.pad_left, self.kw = kh // 2, kw // 2, kw  # rows above the centre, columns left of it
        self.width = width + 2 * self.pad_left
        # every layer's rows down to the centre: [L, out, in, kh//2 + 1, kw]
        weight = torch.stack([effective_weight(c)[:, :, : self.pad_top + 1, :] for c in convs])
        self.centre = weight[:, :, :, self.pad_top, self.pad_left].transpose(1, 2).contiguous()  # [L, in, out]
        weight[:, :, :, self.pad_top, self.pad_left] = 0.0  # the centre tap is added per step
        self.context_weight = conv_matrix(weight)  # [L, taps·in, out]
        biases = [c.bias for c in convs if c.bias is not None]
        self.bias = torch.stack(biases)[:, None, :] if len(biases) == len(convs) else None
        # method="compiled": the same context in one native call (pixelar.native.kernels.ContextKernel)
        self.native: Callable[[Front], Tensor] | None = None
        self.buf = convs[0].weight.new_zeros(
            len(convs), batch, (height + self.pad_top) * self.width, convs[0].in_channels
        )

    def where(self, front: Front) -> slice:
        """The front's pixels among the buffer's positions (its third dimension)."""
        return front.flat(self.width, self.pad_top, self.pad_left)

    def write(self, front: Front, value: Tensor) -> None:
        """Store the inputs [batch·count, in] (or [L, batch·count, in]) at the front's pixels."""
        L, batch, _, cin = self.buf.shape
        self.buf[:, :, self.where(front)] = value.view(L, batch, front.count, cin)

    def _windows(self, front: Front) -> Tensor:
        """Every layer's input window at the front's pixels: [L, batch·count, taps·in]."""
        L, batch, _, cin = self.buf.shape
        step = front.flat(self.width).step
        stride = self.buf.stride()
        return self.buf.as_strided(
            (L, batch, front.count, self.pad_top + 1, self.kw, cin),
            (stride[0], stride[1], step * cin, self.width * cin, cin, 1),
            (front.h0 * self.width + front.w0) * cin,  # top-left of the first pixel's window
        ).reshape(L, batch * front.count, -1)

    def output(self, front: Front, value: Tensor) -> Tensor:
        """A single layer's output at the front's pixels given its input there [batch·count, in]:
        [batch·count, out]."""
        return torch.addmm(self.context(front)[0], value, self.centre[0])

    def context(self, front: Front) -> Tensor:
        """Every layer's output at the front's pixels without the centre tap: [L, batch·count, out]
        (by the :attr:`native` kernel where a compiled sampler has set one)."""
        if self.native is not None:
            return self.native(front)
        window = self._windows(front)
        if self.bias is None:
            return torch.bmm(window, self.context_weight)
        return torch.baddbmm(self.bias, window, self.context_weight)
