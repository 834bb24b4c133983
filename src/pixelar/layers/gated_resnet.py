"""The gated ResNet layer of PixelCNN++ (Section 2.5) and the ops its graph is written in
(:class:`Evaluator`): on whole maps here, a row or a position at a time for fast sampling
(:mod:`pixelar.models.pixelcnn_pp_sampler`)."""

from __future__ import annotations

from typing import Protocol, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelar.layers import shifts

Map = TypeVar("Map")


def concat_elu(x: Tensor) -> Tensor:
    """elu([x, −x]) over channels (dim 1): [B, F, ...] → [B, 2F, ...]."""
    return F.elu(torch.cat([x, -x], dim=1))


def gate_residual(x: Tensor, gates: Tensor) -> Tensor:
    """x + a ⊙ σ(b) with [a, b] = gates split over channels (dim 1)."""
    a, b = gates.chunk(2, dim=1)
    return x + a * torch.sigmoid(b)


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` with a cheaper mask on the CPU: each element is kept when a
    16-bit uniform integer reaches round(p·2¹⁶) — kept with probability 1 − p to within 2⁻¹⁷
    (exactly for the paper's p = 0.5) — from ``torch.randint``'s 64-bit draws, four elements a
    draw (≈ 6× faster than the Bernoulli mask ATen draws element by element, which was a
    fifth of a training step). The mask is drawn in the default (row-major NCHW) element
    order whatever the memory layout of the input (:func:`conv_layout`), so a channels-last
    map drops the elements the default layout would; under ``torch.compile`` with
    ``fallback_random`` (``pixelar train --compile``) it draws the same numbers as eager.
    Elsewhere (CUDA) it is ``nn.Dropout``."""

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        if not self.training or self.p == 0 or x.numel() == 0:
            return x
        draws = torch.randint(-(2**63), 2**63 - 1, ((x.numel() + 3) // 4,), dtype=torch.int64, device=x.device)
        uniform16 = draws.view(torch.int16)[: x.numel()].view(x.shape)  # in [-2¹⁵, 2¹⁵)
        keep = uniform16 >= round(self.p * 2**16) - 2**15
        return x * keep * (1.0 / (1.0 - self.p))


class Evaluator(Protocol[Map]):
    """Every op the PixelCNN++ graph is written in, on feature maps of type ``Map``: whole maps
    (:class:`WholeMaps`), or one row or position per resolution (for sampling). The maps of one
    evaluation have different resolutions; an op's inputs share one."""

    def conv(self, module: nn.Conv2d, fmap: Map) -> Map:
        """``module`` (a 1×1, down-shifted or down-right-shifted convolution, stride 1 or 2) on fmap."""

    def down_shifted_conv(self, module: nn.Conv2d, fmap: Map) -> Map:
        """``module`` on ``fmap``, moved down one row (zeros in the top row): sees only the rows above."""

    def right_shifted_conv(self, module: nn.Conv2d, fmap: Map) -> Map:
        """``module`` on ``fmap``, moved right one column (zeros in the first column)."""

    def deconv(self, module: nn.ConvTranspose2d, fmap: Map) -> Map:
        """``module``, a stride-2 shifted transposed convolution: fmap at twice the resolution."""

    def dropout(self, module: nn.Dropout, fmap: Map) -> Map:
        """``module`` on fmap (the identity in eval mode)."""

    def concat_elu(self, fmap: Map) -> Map:
        """:func:`concat_elu`: F channels → 2F."""

    def elu(self, fmap: Map) -> Map:
        """ELU, elementwise."""

    def add(self, a: Map, b: Map) -> Map:
        """a + b."""

    def cat(self, a: Map, b: Map) -> Map:
        """a and b stacked over channels: [a, b]."""

    def add_bias(self, fmap: Map, bias: Tensor) -> Map:
        """``fmap`` plus a per-image bias [B, F] at every position."""

    def gate_residual(self, x: Map, gates: Map) -> Map:
        """:func:`gate_residual`: x + a ⊙ σ(b), [a, b] = gates."""


class WholeMaps:
    """The :class:`Evaluator` on whole feature maps [B, F, H, W]: the network's own forward."""

    def conv(self, module: nn.Conv2d, fmap: Tensor) -> Tensor:
        return module(fmap)

    def down_shifted_conv(self, module: nn.Conv2d, fmap: Tensor) -> Tensor:
        return shifts.down_shift(module(fmap))

    def right_shifted_conv(self, module: nn.Conv2d, fmap: Tensor) -> Tensor:
        return shifts.right_shift(module(fmap))

    def deconv(self, module: nn.ConvTranspose2d, fmap: Tensor) -> Tensor:
        return module(fmap)

    def dropout(self, module: nn.Dropout, fmap: Tensor) -> Tensor:
        return module(fmap)

    def concat_elu(self, fmap: Tensor) -> Tensor:
        return concat_elu(fmap)

    def elu(self, fmap: Tensor) -> Tensor:
        return F.elu(fmap)

    def add(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b

    def cat(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.cat([a, b], dim=1)

    def add_bias(self, fmap: Tensor, bias: Tensor) -> Tensor:
        return fmap + bias[:, :, None, None]

    def gate_residual(self, x: Tensor, gates: Tensor) -> Tensor:
        return gate_residual(x, gates)


WHOLE_MAPS = WholeMaps()


class GatedResNet(nn.Module):
    """x + a ⊙ σ(b), [a, b] = conv2(dropout(concat_elu(conv1(concat_elu(x)) + skip(concat_elu(s))))) + h:
    the gated ResNet layer of Section 2.5, with a short-cut input s (``skip_channels`` wide, 0
    for none) and a class bias h. ``conv_cls``: the stream's shifted convolution.
    Shapes: x [B, F, H, W] → [B, F, H, W].
    """

    def __init__(
        self, features: int, conv_cls: type[nn.Conv2d], kernel: tuple[int, int], skip_channels: int, dropout: float
    ) -> None:
        super().__init__()
        self.conv1 = conv_cls(2 * features, features, kernel)
        self.skip = nn.Conv2d(2 * skip_channels, features, 1) if skip_channels else None
        self.dropout = Dropout(dropout)
        self.conv2 = conv_cls(2 * features, 2 * features, kernel)
        nn.init.zeros_(self.conv2.weight)
        if self.conv2.bias is not None:
            nn.init.zeros_(self.conv2.bias)

    def run(self, ops: Evaluator[Map], x: Map, skip: Map | None = None, bias: Tensor | None = None) -> Map:
        gates = ops.conv(self.conv1, ops.concat_elu(x))
        if self.skip is not None:
            assert skip is not None, "this layer reads a short-cut input"
            gates = ops.add(gates, ops.conv(self.skip, ops.concat_elu(skip)))
        gates = ops.conv(self.conv2, ops.dropout(self.dropout, ops.concat_elu(gates)))
        if bias is not None:
            gates = ops.add_bias(gates, bias)
        return ops.gate_residual(x, gates)

    def forward(self, x: Tensor, skip: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        return self.run(WHOLE_MAPS, x, skip, bias)
