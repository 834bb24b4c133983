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
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from pixelar.distributions import make_distribution
from pixelar.errors import PixelarError
from pixelar.incremental import ColumnSampler, Front, IncrementalConv, Pointwise, per_pixel
from pixelar.layers import MaskedConv2d, channel_groups
from pixelar.layers.common import OutputHead, conv_layout, modules_as, with_bias
from pixelar.models.base import AutoregressiveModel
from pixelar.models.config import ModelConfig

if TYPE_CHECKING:
    from pixelar.native.kernels import PixelStore
    from pixelar.native.pixelcnn import ColumnKernel


@dataclass
class PixelCNNConfig(ModelConfig):
    """Hyperparameters of :class:`PixelCNN`.

    Attributes:
        num_layers: number of residual blocks, each with one 3×3 mask-B convolution.
        hidden_channels: h; the residual stream carries 2h features.
        distribution: "auto" (Bernoulli when num_levels = 2, else a K-way softmax),
            "categorical" or "bernoulli".
        input_kernel: k, odd, of the k×k mask-A input convolution (the paper's 7). With
            num_layers = 0 the network reads only this causal template: k//2 rows above, k
            wide, and k//2 pixels to the left (a learned JBIG template, see
            :mod:`pixelar.codec.pages`).
    """

    num_layers: int = 4
    hidden_channels: int = 16
    distribution: str = "auto"
    input_kernel: int = 7

    added_fields: ClassVar[dict[str, Any]] = {"input_kernel": 7}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 0 or self.hidden_channels < 1:
            raise PixelarError(
                "num_layers must be >= 0 and hidden_channels >= 1", param=("num_layers", "hidden_channels")
            )
        if self.input_kernel < 3 or self.input_kernel % 2 == 0:
            raise PixelarError(f"input_kernel must be odd and >= 3, got {self.input_kernel}", param="input_kernel")


class ResidualBlock(nn.Module):
    """2h → h → 2h bottleneck with a 3×3 mask-B convolution (PixelRNN paper, Figure 5).

    Shapes: [B, 2h, H, W] → [B, 2h, H, W].
    """

    def __init__(self, features: int, num_colors: int) -> None:
        super().__init__()
        self.reduce = MaskedConv2d(2 * features, features, 1, "B", num_colors)
        self.conv = MaskedConv2d(features, features, 3, "B", num_colors)
        self.expand = MaskedConv2d(features, 2 * features, 1, "B", num_colors)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.reduce(self.act(x))
        y = self.conv(self.act(y))
        y = self.expand(self.act(y))
        return x + y


class PixelCNN(AutoregressiveModel):
    """The PixelCNN of the PixelRNN paper; a class-conditional model adds a learned per-class
    bias to the input of every block and of the output head.

    Shapes: images [B, C, H, W] (integers in [0, K)) → parameters [B, P, H, W].
    """

    model_name = "pixelcnn"

    Config = PixelCNNConfig
    config: PixelCNNConfig
    has_compiled_sampler = True
    step_work = (2, 512)  # the codec's units a fast step costs (AutoregressiveModel.step_work)

    def __init__(self, config: PixelCNNConfig) -> None:
        super().__init__(config)
        C = config.image_shape[0]
        features = config.hidden_channels
        self.distribution = make_distribution(config.distribution, C, config.num_levels)
        self.input_conv = MaskedConv2d(C, 2 * features, config.input_kernel, "A", C)
        self.blocks = nn.ModuleList(ResidualBlock(features, C) for _ in range(config.num_layers))
        self.head = OutputHead(2 * features, C, self.distribution)
        self.add_class_biases(config.num_layers + 1, 2 * features)

    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        y = self.input_conv(conv_layout(x))
        biases = self.class_biases(cond)
        for block, bias in zip(self.blocks, biases):
            y = self.checkpointed(block, with_bias(y, bias))
        return self.head(with_bias(y, biases[-1]))

    @property
    def wavefront_shift(self) -> int:
        """The blind spot bounds how far right the row above is read: a centred masked k×k
        convolution reaches k//2 columns right in each row above and none in the current row,
        so the conditionals at (h, w) read row h − j only up to column w + j·r, r the largest
        k//2 (3 for the paper's 7×7 input layer), however deep the network. Pixel (h, w) can therefore be
        sampled with (h − 1, w + r + 1): ⌈W / (r + 1)⌉ pixels per step instead of one."""
        reach = max(m.kernel_size[1] // 2 for m in self.modules() if isinstance(m, MaskedConv2d))
        return min(reach + 1, self.image_shape[2])

    def fast_stepper(self, batch: int, cond: Tensor | None) -> PixelCNNSampler:
        return PixelCNNSampler(self, batch, cond)


class PixelCNNSampler(ColumnSampler):
    """Fast exact sampling for :class:`PixelCNN` (cf. Ramachandran et al. 2017).

    Each step computes one column — every layer at the current front's pixels only, a
    wavefront of up to ⌈W/4⌉ pixels (:attr:`PixelCNN.wavefront_shift`). The spatial
    convolutions are split (:class:`IncrementalConv`): their taps on earlier pixels, whose
    inputs are final, once per front for all layers in one batched product; their centre tap
    at each colour channel's step. The step for channel c computes only the features of colour
    groups ≤ c, all that channel c's parameters read through the masks (mask A / B): a third,
    two thirds and all of the column for R, G and B. Cache: the padded input map of the 7×7
    layer and of every 3×3 layer, batch·(C + h·L)·(H+3)·(W+6) values at most.
    """

    def __init__(self, model: PixelCNN, batch: int, cond: Tensor | None) -> None:
        super().__init__(model)
        _, H, W = model.image_shape
        blocks = modules_as(model.blocks, ResidualBlock)
        self.input = IncrementalConv(model.input_conv, batch, H, W)
        self.convs = IncrementalConv([block.conv for block in blocks], batch, H, W) if blocks else None
        self.biases = model.class_biases(cond)
        self.weights = [self._weights(model, blocks, c) for c in range(self.C)]
        # (front, the input layer's context there [batch·count, 2h], every block's [L, batch·count, h])
        self.contexts: tuple[int, Tensor, Tensor | None] | None = None
        self.kernels: list[ColumnKernel] | None = None  # method="compiled": see compile()
        self.store: PixelStore | None = None

    def _weights(self, model: PixelCNN, blocks: list[ResidualBlock], c: int) -> ChannelWeights:
        """Every layer's weights restricted to the features of colour groups ≤ c (a prefix, as
        the groups are contiguous) and the head to channel c's parameters."""
        wide = int((channel_groups(2 * model.config.hidden_channels, self.C) <= c).sum())
        narrow = int((channel_groups(model.config.hidden_channels, self.C) <= c).sum())
        centres = [] if self.convs is None else list(self.convs.centre)
        block_weights = [
            (
                Pointwise.of(block.reduce).restrict(wide, narrow),
                centre[:narrow, :narrow].contiguous(),
                Pointwise.of(block.expand).restrict(narrow, wide),
            )
            for block, centre in zip(blocks, centres)
        ]
        head = (
            Pointwise.of(model.head.hidden).restrict(wide, wide),
            Pointwise.of(model.head.out).restrict(wide, model.distribution.channel_params(c)),
        )
        centre = self.input.centre[0][:c, :wide].contiguous()  # mask A: channels < c
        return ChannelWeights(wide, narrow, centre, block_weights, head)

    def write_input(self, x: Tensor, front: Front) -> None:
        if self.store is not None:
            self.store(x, front)
        else:
            self.input.write(front, self.pixels(x, front))

    def _contexts(self, front: Front) -> tuple[Tensor, Tensor | None]:
        """The input layer's [n, 2h] and every block's 3×3 convolution [L, n, h] at the front's
        pixels without their centre taps: computed once per front, for all channels."""
        if self.contexts is None or self.contexts[0] != front.t:
            blocks = None if self.convs is None else self.convs.context(front)
            self.contexts = (front.t, self.input.context(front)[0], blocks)
        return self.contexts[1], self.contexts[2]

    def compile(self) -> None:
        """Run each channel's step (the blocks and the head) as one native call, and a finished
        pixel's store too (:mod:`pixelar.native.pixelcnn`, ``method="compiled"``): the same
        conditionals to float rounding, faster at small batches (the dispatch of ~50 small
        operations saved)."""
        from pixelar.native.kernels import CachedMap, ContextKernel, Images, PixelStore
        from pixelar.native.pixelcnn import KERNEL, ColumnKernel

        dtype, batch = self.dtype, self.input.buf.shape[1]
        images = Images((batch, self.C, self.H, self.W), self.model.num_levels, KERNEL)
        blocks_map = None
        if self.convs is not None:  # [L, batch, positions, h]: the kernels check L and h against their weights
            layers, _, _, h = self.convs.buf.shape
            blocks_map = CachedMap(self.convs, (layers, batch, h), dtype, KERNEL)
        maps = (CachedMap(self.input, (1, batch, self.C), dtype, KERNEL), blocks_map)
        biases = [bias for bias in self.biases if bias is not None]  # all or none
        stacked = torch.stack(biases).contiguous() if biases else None  # [L + 1, batch, 2h]
        self.kernels = [
            ColumnKernel(
                w.centre,
                [(r.weight, r.bias, c, e.weight, e.bias) for r, c, e in w.blocks],
                (w.head[0].weight, w.head[0].bias, w.head[1].weight, w.head[1].bias),
                images,
                maps,
                stacked,
            )
            for w in self.weights
        ]
        self.store = PixelStore("pixelcnn_column", images, maps[0], dtype)
        for conv in (self.input, self.convs):
            if conv is not None:
                conv.native = ContextKernel("pixelcnn_column", conv, images, KERNEL)

    def column(self, x: Tensor, front: Front, c: int) -> Tensor:
        context_input, context_blocks = self._contexts(front)
        weights = self.weights[c]
        final = c == self.C - 1  # every group computed, and final: later pixels read these inputs
        if self.kernels is not None:  # the kernel reads the pixels, and at the last channel stores them
            return self.kernels[c](context_input, context_blocks, x, front, final)
        pixels = self.pixels(x, front, c) if c > 0 else None
        params, inputs = self._column(weights, context_input, pixels, context_blocks, front.count, final)
        if final:
            self.write_input(x, front)
            if self.convs is not None and inputs is not None:
                self.convs.write(front, inputs)
        return params

    def _column(
        self,
        weights: ChannelWeights,
        y: Tensor,
        pixels: Tensor | None,
        contexts: Tensor | None,
        count: int,
        final: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """Channel c's parameters [n, P_c] at the front's n pixels from the input layer's output
        ``y`` without its centre tap and the blocks' 3×3 ``contexts``, and when ``final`` every
        block's 3×3 input [L, n, h] (what the native kernel computes in one call)."""
        relu = torch.relu
        y = y[:, : weights.wide]
        if pixels is not None:
            y = torch.addmm(y, pixels, weights.centre)
        inputs = []
        for i, ((reduce, centre, expand), bias) in enumerate(zip(weights.blocks, self.biases)):
            if bias is not None:
                y = y + per_pixel(bias[:, : weights.wide], count)
            inputs.append(relu(reduce(relu(y))))
            assert contexts is not None  # there are blocks
            y = y + expand(relu(torch.addmm(contexts[i, :, : weights.narrow], inputs[-1], centre)))
        last_bias = self.biases[-1]
        if last_bias is not None:
            y = y + per_pixel(last_bias[:, : weights.wide], count)
        hidden, out = weights.head
        return out(relu(hidden(relu(y)))), (torch.stack(inputs) if final and inputs else None)


@dataclass
class ChannelWeights:
    """What channel c's step reads: the first ``wide`` residual and ``narrow`` block features
    (colour groups ≤ c), the input layer's centre tap on channels < c, per block (1×1 reduce,
    3×3 centre tap, 1×1 expand), and the head cut to channel c's parameters."""

    wide: int
    narrow: int
    centre: Tensor
    blocks: list[tuple[Pointwise, Tensor, Pointwise]]
    head: tuple[Pointwise, Pointwise]
