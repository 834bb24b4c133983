"""Pieces several models share: the PixelRNN/PixelCNN output head, per-layer class biases, and
the memory layout the convolutional models compute in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import torch
from torch import Tensor, nn

from pixelar.distributions import OutputDistribution
from pixelar.layers.masked import MaskedConv2d

ModuleT = TypeVar("ModuleT", bound=nn.Module)


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


def with_bias(x: Tensor, bias: Tensor | None) -> Tensor:
    """``x + spatial(bias)``; ``x`` itself when there is no bias (adding 0.0 would copy the map)."""
    return x if bias is None else x + spatial(bias)


def conv_layout(x: Tensor) -> Tensor:
    """Feature maps [B, F, H, W] in the layout the convolutions run fastest in: channels-last
    (NHWC) for float32 and bfloat16 on the CPU, where a training step of these narrow maps
    runs faster overall than in the default layout (oneDNN's 1×1 convolutions, forward and
    backward, are several times faster; its 3×3 weight gradient is slower:
    ``benchmarks/bench_training.py``); unchanged elsewhere (float64 has no oneDNN kernels, CUDA its
    own trade-offs). The values are the same; the element-wise ops, padding and concatenations
    after it keep the layout, so converting a network's input suffices.

    A map of one feature is in both layouts at once, and PyTorch then picks the default one:
    its strides are restated as channels-last (a view of the same memory)."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.bfloat16) or x.dim() != 4:
        return x
    _, features, height, width = x.shape
    if features == 1:
        x = x.contiguous()
        return x.as_strided(x.shape, (height * width, 1, width, 1))
    return x.contiguous(memory_format=torch.channels_last)


def modules_as(modules: Iterable[nn.Module], cls: type[ModuleT]) -> list[ModuleT]:
    """The modules of a container (an ``nn.ModuleList``) as instances of ``cls``, for code that
    reads their attributes: a ModuleList's items are typed as plain ``nn.Module``."""
    typed = []
    for module in modules:
        if not isinstance(module, cls):
            raise TypeError(f"expected a {cls.__name__}, got a {type(module).__name__}")
        typed.append(module)
    return typed
