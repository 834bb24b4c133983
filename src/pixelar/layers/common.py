"""Pieces several models share: the PixelRNN/PixelCNN output head and per-layer class biases."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pixelar.distributions import OutputDistribution
from pixelar.layers.masked import MaskedConv2d, apply_pointwise, pointwise


class OutputHead(nn.Module):
    """ReLU → 1×1 conv (mask B) → ReLU → 1×1 conv (mask B) → distribution parameters
    (PixelRNN paper, Section 5.1 / Table 1). Shapes: [B, F, H, W] → [B, P, H, W]."""

    def __init__(self, features: int, num_colors: int, distribution: OutputDistribution) -> None:
        super().__init__()
        self.hidden = MaskedConv2d(features, features, 1, "B", num_colors)
        self.out = MaskedConv2d(
            features, distribution.num_params, 1, "B", num_colors, out_groups=distribution.param_groups()
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.out(torch.relu(self.hidden(torch.relu(x))))

    def incremental(self) -> OutputHeadAt:
        return OutputHeadAt(self)


class OutputHeadAt:
    """The same head applied to the features of one position [n, F] → [n, P]."""

    def __init__(self, head: OutputHead) -> None:
        self.hidden, self.out = pointwise(head.hidden), pointwise(head.out)

    def __call__(self, x: Tensor) -> Tensor:
        return apply_pointwise(self.out, torch.relu(apply_pointwise(self.hidden, torch.relu(x))))


class ClassBias(nn.Module):
    """A learned bias per class for each of ``num_layers`` layers of ``features`` channels,
    zero-initialised; ``forward(labels)`` gives one [B, features] bias per layer."""

    def __init__(self, num_classes: int, num_layers: int, features: int) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.embedding = nn.Embedding(num_classes, num_layers * features)
        nn.init.zeros_(self.embedding.weight)

    def forward(self, labels: Tensor) -> list[Tensor]:
        return list(self.embedding(labels).chunk(self.num_layers, dim=1))


def spatial(bias: Tensor | None) -> Tensor | float:
    """A bias for adding to feature maps: [B, F] as [B, F, 1, 1], a map [B, F, H, W] as it is,
    0 when there is none."""
    if bias is None:
        return 0.0
    return bias[:, :, None, None] if bias.dim() == 2 else bias


def bias_at(bias: Tensor, h: int, w: int) -> Tensor:
    """The [B, F] value at (h, w) of a bias [B, F] or bias map [B, F, H, W]."""
    return bias if bias.dim() == 2 else bias[:, :, h, w]


def per_pixel(bias: Tensor, count: int) -> Tensor:
    """A per-image bias [n, F] repeated for ``count`` pixels of each image: [n·count, F]."""
    return bias if count == 1 else bias.repeat_interleave(count, 0)
