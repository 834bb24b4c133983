"""PixelCNN as defined in the PixelRNN paper (van den Oord, Kalchbrenner, Kavukcuoglu,
"Pixel Recurrent Neural Networks", ICML 2016): Section 3.4, Figure 5 and Table 1.

    x ──7×7 conv, mask A──► 2h ──[residual block]×num_layers──► ReLU, 1×1 (B) ► ReLU, 1×1 (B) ► params

A residual block (Figure 5, right) keeps 2h features: ReLU → 1×1 conv 2h→h → ReLU →
3×3 conv h→h (mask B) → ReLU → 1×1 conv h→2h, added to its input. All 1×1 convolutions carry
the mask-B colour-group masks too, since they connect the groups at the current pixel.

No normalisation layers: BatchNorm in train mode mixes statistics across positions and
would leak future pixels into the past.

The paper's PixelCNN has 15 masked layers; its width is *unsure* (see ``pixelar.presets``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pixelar.distributions import make_distribution
from pixelar.errors import PixelarError
from pixelar.layers import IncrementalConv, MaskedConv2d, apply_pointwise, channel_groups, pointwise
from pixelar.layers.common import OutputHead, per_pixel, spatial
from pixelar.models.base import AutoregressiveModel
from pixelar.registry import ModelConfig, register_model
from pixelar.sampling import ColumnSampler, Front


@dataclass
class PixelCNNConfig(ModelConfig):
    """Hyperparameters of :class:`PixelCNN`.

    Attributes:
        num_layers: number of residual blocks, each with one 3×3 mask-B convolution.
        hidden_channels: h; the residual stream carries 2h features.
        distribution: "auto" (Bernoulli when num_levels = 2, else a K-way softmax),
            "categorical" or "bernoulli".
    """

    num_layers: int = 4
    hidden_channels: int = 16
    distribution: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 0 or self.hidden_channels < 1:
            raise PixelarError("num_layers must be >= 0 and hidden_channels >= 1")


class ResidualBlock(nn.Module):
    """2h → h → 2h bottleneck with a 3×3 mask-B convolution (PixelRNN paper, Figure 5).

    Shapes: [B, 2h, H, W] → [B, 2h, H, W].
    """

    def __init__(self, hidden: int, num_colors: int) -> None:
        super().__init__()
        self.reduce = MaskedConv2d(2 * hidden, hidden, 1, "B", num_colors)
        self.conv = MaskedConv2d(hidden, hidden, 3, "B", num_colors)
        self.expand = MaskedConv2d(hidden, 2 * hidden, 1, "B", num_colors)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.reduce(self.act(x))
        y = self.conv(self.act(y))
        y = self.expand(self.act(y))
        return x + y


@register_model("pixelcnn")
class PixelCNN(AutoregressiveModel):
    """The PixelCNN of the PixelRNN paper; a class-conditional model adds a learned per-class
    bias to the input of every block and of the output head.

    Shapes: images [B, C, H, W] (integers in [0, K)) → parameters [B, P, H, W].
    """

    Config = PixelCNNConfig

    def __init__(self, config: PixelCNNConfig) -> None:
        super().__init__(config)
        C = config.image_shape[0]
        h = config.hidden_channels
        self.distribution = make_distribution(config.distribution, C, config.num_levels)
        self.input_conv = MaskedConv2d(C, 2 * h, 7, "A", C)
        self.blocks = nn.ModuleList(ResidualBlock(h, C) for _ in range(config.num_layers))
        self.head = OutputHead(2 * h, C, self.distribution)
        self.add_class_biases(config.num_layers + 1, 2 * h)

    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        y = self.input_conv(x)
        biases = self.class_biases(cond)
        for block, bias in zip(self.blocks, biases):
            y = block(y + spatial(bias))
        return self.head(y + spatial(biases[-1]))

    @property
    def wavefront_shift(self) -> int:
        """The blind spot bounds how far right the row above is read: a centred masked k×k
        convolution reaches k//2 columns right in each row above and none in the current row,
        so the conditionals at (h, w) read row h − j only up to column w + j·r, r the largest
        k//2 (3, the 7×7 input layer), however deep the network. Pixel (h, w) can therefore be
        sampled with (h − 1, w + r + 1): ⌈W / (r + 1)⌉ pixels per step instead of one."""
        reach = max(m.kernel_size[1] // 2 for m in self.modules() if isinstance(m, MaskedConv2d))
        return min(reach + 1, self.image_shape[2])

    def fast_stepper(self, n: int, cond: Tensor | None) -> PixelCNNSampler:
        return PixelCNNSampler(self, n, cond)


class PixelCNNSampler(ColumnSampler):
    """Fast exact sampling for :class:`PixelCNN` (cf. Ramachandran et al. 2017).

    Each step computes one column — every layer at the current front's pixels only, a
    wavefront of up to ⌈W/4⌉ pixels (:attr:`PixelCNN.wavefront_shift`). The spatial
    convolutions are split (:class:`IncrementalConv`): their taps on earlier pixels, whose
    inputs are final, once per front for all layers in one batched product; their centre tap
    at each colour channel's step. The step for channel c computes only the features of colour
    groups ≤ c, all that channel c's parameters read through the masks (mask A / B): a third,
    two thirds and all of the column for R, G and B. Cache: the padded input map of the 7×7
    layer and of every 3×3 layer, n·(C + h·L)·(H+3)·(W+6) values at most.
    """

    def __init__(self, model: PixelCNN, n: int, cond: Tensor | None) -> None:
        super().__init__(model)
        _, H, W = model.image_shape
        self.input = IncrementalConv(model.input_conv, n, H, W)
        self.convs = IncrementalConv([b.conv for b in model.blocks], n, H, W) if model.blocks else None
        self.biases = model.class_biases(cond)
        self.weights = [self._weights(model, c) for c in range(self.C)]
        self.front = -1  # the front whose context is computed
        self.context_input: Tensor | None = None
        self.context: Tensor | None = None

    def _weights(self, model: PixelCNN, c: int) -> dict:
        """Every layer's weights restricted to the features of colour groups ≤ c (a prefix, as
        the groups are contiguous) and the head to channel c's parameters."""
        wide = int((channel_groups(2 * model.config.hidden_channels, self.C) <= c).sum())
        narrow = int((channel_groups(model.config.hidden_channels, self.C) <= c).sum())

        def cut(layer: tuple[Tensor, Tensor | None], rows: int, cols: slice | int) -> tuple[Tensor, Tensor | None]:
            weight, bias = layer
            cols = slice(0, cols) if isinstance(cols, int) else cols
            return weight[:rows, cols].contiguous(), None if bias is None else bias[cols].contiguous()

        out = model.distribution.channel_params(c)
        return {
            "wide": wide,
            "narrow": narrow,
            "centre": self.input.centre[0][:c, :wide].contiguous(),  # mask A: channels < c
            "blocks": [
                (
                    cut(pointwise(b.reduce), wide, narrow),
                    self.convs.centre[i][:narrow, :narrow].contiguous(),
                    cut(pointwise(b.expand), narrow, wide),
                )
                for i, b in enumerate(model.blocks)
            ],
            "head": (cut(pointwise(model.head.hidden), wide, wide), cut(pointwise(model.head.out), wide, out)),
        }

    def write_input(self, x: Tensor, front: Front) -> None:
        self.input.write(front, self.pixels(x, front))

    def column(self, x: Tensor, front: Front, c: int) -> Tensor:
        relu = torch.relu
        if front.t != self.front:
            self.context_input = self.input.context(front)[0]
            self.context = None if self.convs is None else self.convs.context(front)
            self.front = front.t
        w = self.weights[c]
        wide, narrow = w["wide"], w["narrow"]
        y = self.context_input[:, :wide]
        if c > 0:
            y = torch.addmm(y, self.pixels(x, front, c), w["centre"])
        inputs = []
        for i, ((reduce, centre, expand), bias) in enumerate(zip(w["blocks"], self.biases)):
            if bias is not None:
                y = y + per_pixel(bias[:, :wide], front.count)
            inputs.append(relu(apply_pointwise(reduce, relu(y))))
            y = y + apply_pointwise(expand, relu(torch.addmm(self.context[i, :, :narrow], inputs[-1], centre)))
        if self.biases[-1] is not None:
            y = y + per_pixel(self.biases[-1][:, :wide], front.count)
        if c == self.C - 1:  # every group computed, and final: later pixels read these inputs
            self.write_input(x, front)
            if inputs:
                self.convs.write(front, torch.stack(inputs))
        hidden, out = w["head"]
        return apply_pointwise(out, relu(apply_pointwise(hidden, relu(y))))
