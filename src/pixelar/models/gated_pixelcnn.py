"""Gated PixelCNN (van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves, Kavukcuoglu,
"Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016), Section 2 and Figure 2.

Two stacks remove the blind spot of stacked masked convolutions:

* the **vertical stack** convolves with a (k//2 + 1) × k kernel over the rows above and the
  current row (no masking); a stack of them sees every row up to the current one;
* the **horizontal stack** convolves with a 1 × (k//2 + 1) kernel over the pixels to the left
  and the current pixel, with the R→G→B channel masks (mask A in the first layer, B after).

The vertical stack feeds the horizontal stack through a 1×1 convolution after being **shifted
down one row** — once, where it feeds it — so the horizontal stack at row i only sees rows < i
through it. Each layer is gated, y = tanh(W_f∗x + V_fᵀh) ⊙ σ(W_g∗x + V_gᵀh), with the class
vector h entering both stacks of every layer; the horizontal stack is residual after the first
layer (1×1 convolution of the gate output, added to its input). The output head is the
PixelRNN paper's (ReLU, two 1×1 mask-B convolutions); it reads the last horizontal stack (the
paper's Figure 2) or, with ``skips`` (the paper's successors: WaveNet, PixelCNN++, and the
public PyTorch implementations), the sum of a 1×1 mask-B "skip" convolution of every layer's
gated horizontal output — which learns faster (``benchmarks/bench_learning.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelar.distributions import make_distribution
from pixelar.errors import PixelarError
from pixelar.incremental import ColumnSampler, Front, IncrementalConv, OutputHeadAt, Pointwise
from pixelar.layers import MaskedConv2d, channel_groups
from pixelar.layers.common import OutputHead, conv_layout, modules_as
from pixelar.layers.shifts import DownShiftedConv2d, down_shift
from pixelar.models.base import AutoregressiveModel
from pixelar.models.config import ModelConfig

if TYPE_CHECKING:
    from pixelar.native.gated import GatedColumnKernel
    from pixelar.native.kernels import PixelStore


@dataclass
class GatedPixelCNNConfig(ModelConfig):
    """Hyperparameters of :class:`GatedPixelCNN`.

    Attributes:
        num_layers: gated layers after the first (7×7-receptive) layer.
        hidden_channels: the features of each stack (p in the docstrings' shapes).
        kernel_size: k of the gated layers (3 in the paper's figures).
        distribution: "auto" (Bernoulli for num_levels = 2, else softmax), "categorical", "bernoulli".
        skips: the head reads the sum of every layer's skip output (a 1×1 mask-B convolution
            of its gated horizontal output) instead of the last horizontal stack (False: the
            paper's Figure 2).
        vertical_residual: the vertical stack is residual after the first layer too (its gated
            output added to its input), as the horizontal stack is (False: the paper's).
        vertical_rows: rows above the current one that each gated layer's vertical convolution
            reads (its kernel is (vertical_rows + 1) × k): how fast the vertical stack's view
            grows upwards per layer. None: k//2, the paper's.
    """

    num_layers: int = 4
    hidden_channels: int = 16
    kernel_size: int = 3
    distribution: str = "auto"
    skips: bool = False
    vertical_residual: bool = False
    vertical_rows: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 0 or self.hidden_channels < 1 or self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise PixelarError(
                "num_layers must be >= 0, hidden_channels >= 1 and kernel_size odd and >= 3",
                param=("num_layers", "hidden_channels", "kernel_size"),
            )
        if self.vertical_rows is not None and not (isinstance(self.vertical_rows, int) and self.vertical_rows >= 1):
            raise PixelarError(
                "vertical_rows must be a whole number >= 1 (or None: kernel_size // 2)", param="vertical_rows"
            )


def gate(x: Tensor) -> Tensor:
    """tanh(first half) ⊙ σ(second half) over the channel dim."""
    f, g = x.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


class GatedLayer(nn.Module):
    """One gated layer of both stacks (Figure 2): the vertical and horizontal stacks
    [B, p, H, W] each, p = ``features`` (first layer: the image [B, C, H, W] for both).

    Returns the new (vertical, horizontal, skip): ``skip`` is the layer's contribution to the
    head's input [B, p, H, W] (None without ``skip``). ``first`` makes the horizontal
    convolution mask A and drops the residual connection. (``v_*`` / ``h_*`` submodules:
    vertical / horizontal.)
    """

    def __init__(
        self,
        in_channels: int,
        features: int,
        kernel_size: int,
        num_colors: int,
        first: bool,
        skip: bool = False,
        vertical_residual: bool = False,
        vertical_rows: int | None = None,
    ) -> None:
        super().__init__()
        self.first = first
        self.vertical_residual = vertical_residual and not first
        k = kernel_size
        gate_groups = torch.cat([channel_groups(features, num_colors)] * 2)
        in_groups = channel_groups(in_channels, num_colors)
        # rows above and the current row
        rows = k // 2 if vertical_rows is None else vertical_rows
        self.v_conv = DownShiftedConv2d(in_channels, 2 * features, (rows + 1, k))
        self.h_conv = MaskedConv2d(
            in_channels, 2 * features, (1, k), "A" if first else "B", num_colors, in_groups, gate_groups
        )
        self.link = nn.Conv2d(2 * features, 2 * features, 1)  # from the shifted vertical stack: rows above only
        if not first:
            self.h_out = MaskedConv2d(features, features, 1, "B", num_colors)
        self.skip = MaskedConv2d(features, features, 1, "B", num_colors) if skip else None

    def forward(
        self, vertical: Tensor, horizontal: Tensor, bias: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        vertical_pre = self.v_conv(vertical)
        horizontal_pre = self.h_conv(horizontal) + self.link(down_shift(vertical_pre))
        if bias is not None:
            vertical_pre = vertical_pre + bias[:, : vertical_pre.shape[1], None, None]
            horizontal_pre = horizontal_pre + bias[:, vertical_pre.shape[1] :, None, None]
        gated = gate(horizontal_pre)
        horizontal_new = gated if self.first else horizontal + self.h_out(gated)
        vertical_new = vertical + gate(vertical_pre) if self.vertical_residual else gate(vertical_pre)
        return vertical_new, horizontal_new, None if self.skip is None else self.skip(gated)


class GatedPixelCNN(AutoregressiveModel):
    """Gated PixelCNN: a 7-wide first layer (vertical 4×7, horizontal 1×4 mask A), then
    ``num_layers`` residual gated layers of kernel k, then the output head on the horizontal
    stack (or, with ``skips``, on the sum of the layers' skip outputs).

    Shapes: images [B, C, H, W] → parameters [B, P, H, W].
    """

    model_name = "gated-pixelcnn"

    Config = GatedPixelCNNConfig
    config: GatedPixelCNNConfig
    has_compiled_sampler = True
    step_work = (16, 768)  # the codec's units a fast step costs (AutoregressiveModel.step_work)

    def __init__(self, config: GatedPixelCNNConfig) -> None:
        super().__init__(config)
        C = config.image_shape[0]
        features = config.hidden_channels
        self.distribution = make_distribution(config.distribution, C, config.num_levels)
        self.layers = nn.ModuleList(
            [GatedLayer(C, features, 7, C, first=True, skip=config.skips)]
            + [
                GatedLayer(
                    features,
                    features,
                    config.kernel_size,
                    C,
                    first=False,
                    skip=config.skips,
                    vertical_residual=config.vertical_residual,
                    vertical_rows=config.vertical_rows,
                )
                for _ in range(config.num_layers)
            ]
        )
        self.head = OutputHead(features, C, self.distribution)
        # per layer V h (the class vector): vertical 2p, then horizontal 2p
        self.add_class_biases(len(self.layers), 4 * features)

    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        vertical = horizontal = conv_layout(x)
        skips: Tensor | None = None
        for layer, bias in zip(self.layers, self.class_biases(cond)):
            vertical, horizontal, skip = self.checkpointed(layer, vertical, horizontal, bias)
            if skip is not None:
                skips = skip if skips is None else skips + skip
        return self.head(horizontal if skips is None else skips)

    def fast_stepper(self, batch: int, cond: Tensor | None) -> GatedPixelCNNSampler:
        return GatedPixelCNNSampler(self, batch, cond)


class GatedPixelCNNSampler(ColumnSampler):
    """Fast exact sampling for :class:`GatedPixelCNN` (cf. Ramachandran et al. 2017).

    The vertical stack of row r depends on rows <= r only, and the horizontal stack of row r
    uses it shifted down: so the vertical stack is computed once per row, for the whole row,
    when the row above is complete — together with its 1×1 link into the horizontal stack —
    and the horizontal stack once per pixel: its taps on the pixels to the left, and the link,
    once per pixel for all layers (one batched product); its centre tap per colour channel.
    Cache: each layer's vertical input map, batch·p·(H+k//2)·(W+k−1) values, its linked output
    for the previous row, batch·2p·W, and each horizontal input map, batch·p·H·(W+k−1).
    """

    def __init__(self, model: GatedPixelCNN, batch: int, cond: Tensor | None) -> None:
        super().__init__(model)
        _, H, W = model.image_shape
        self.layers = modules_as(model.layers, GatedLayer)
        self.biases = model.class_biases(cond)
        dtype, device = model.dtype, model.device
        self.v_in = [
            torch.zeros(
                batch,
                layer.v_conv.in_channels,
                H + layer.v_conv.kernel_size[0] - 1,  # the rows above row 0 that the kernel reads
                W + 2 * (layer.v_conv.kernel_size[1] // 2),  # the columns either side
                dtype=dtype,
                device=device,
            )
            for layer in self.layers
        ]
        self.links = [Pointwise.of(layer.link) for layer in self.layers]
        # The row above's vertical stack through the link, plus the class bias: [L, batch, W, 2p].
        # Row 0 sees the shifted map's zero padding: the link's bias alone.
        self.above = torch.stack(
            [
                self._linked(i, torch.zeros(batch, W, layer.link.in_channels, dtype=dtype, device=device))
                for i, layer in enumerate(self.layers)
            ]
        )
        self.first = IncrementalConv(self.layers[0].h_conv, batch, H, W)
        rest = [layer.h_conv for layer in self.layers[1:]]
        self.rest = IncrementalConv(rest, batch, H, W) if rest else None
        self.rest_centres = [] if self.rest is None else list(self.rest.centre.unbind(0))  # [in, out] each
        self.h_outs = [Pointwise.of(layer.h_out) for layer in self.layers[1:]]
        self.skips = [Pointwise.of(layer.skip) for layer in self.layers if layer.skip is not None]
        self.head = OutputHeadAt(model.head)
        self.rows_done = 0  # rows whose vertical stack has been computed
        # (front, every layer's horizontal pre-activations there but the centre taps [L, batch, 2p])
        self.context: tuple[int, Tensor] | None = None
        self.kernels: list[GatedColumnKernel] | None = None  # method="compiled": see compile()
        self.store: PixelStore | None = None

    def _linked(self, i: int, pre: Tensor) -> Tensor:
        """Layer i's vertical pre-activations of a row [batch, W, 2p] → its link into the
        horizontal stack, with the class bias: [batch, W, 2p]."""
        out = self.links[i](pre.flatten(0, 1)).view(pre.shape)
        bias = self.biases[i]
        if bias is not None:
            out = out + bias[:, None, out.shape[2] :]
        return out

    def _vertical_row(self, x: Tensor, row: int) -> None:
        """Vertical stack of a complete row, stored through the links for the next row."""
        value = self.model.scale(x[:, :, row])  # [batch, C, W]
        for i, (layer, bias) in enumerate(zip(self.layers, self.biases)):
            kh, kw = layer.v_conv.kernel_size
            above, side = kh - 1, kw // 2  # rows above the current one, columns either side
            self.v_in[i][:, :, row + above, side : side + self.W] = value
            window = self.v_in[i][:, :, row : row + above + 1]  # rows row − above .. row (padded)
            pre = F.conv2d(window, layer.v_conv.weight, layer.v_conv.bias)[:, :, 0]  # [batch, 2p, W]
            self.above[i] = self._linked(i, pre.transpose(1, 2))
            if bias is not None:
                pre = pre + bias[:, : pre.shape[1], None]
            value = value + gate(pre) if layer.vertical_residual else gate(pre)

    def write_input(self, x: Tensor, front: Front) -> None:
        if self.store is not None:
            self.store(x, front)
        else:
            self.first.write(front, self.pixels(x, front))

    def _context(self, x: Tensor, front: Front) -> Tensor:
        """Every layer's horizontal pre-activations at the front's pixel without the centre
        taps: [L, batch, 2p], computed once per front (the rows above first, when complete)."""
        if self.context is None or self.context[0] != front.t:
            row, col = front.pixel
            while self.rows_done < row:
                self._vertical_row(x, self.rows_done)
                self.rows_done += 1
            context = self.first.context(front)
            if self.rest is not None:
                context = torch.cat([context, self.rest.context(front)])
            self.context = (front.t, context + self.above[:, :, col])
        return self.context[1]

    def compile(self) -> None:
        """Run each channel's horizontal-stack step (every gated layer, the skips, the head) as
        one native call, and a finished pixel's store too (:mod:`pixelar.native.gated`,
        ``method="compiled"``): the same conditionals to float rounding, faster at small
        batches."""
        from pixelar.native.gated import KERNEL, GatedColumnKernel
        from pixelar.native.kernels import CachedMap, ContextKernel, Images, PixelStore

        dtype, batch, p = self.dtype, self.first.buf.shape[1], self.first.centre.shape[-1] // 2
        images = Images((batch, self.C, self.H, self.W), self.model.num_levels, KERNEL)
        rest = None if self.rest is None else CachedMap(self.rest, (len(self.layers) - 1, batch, p), dtype, KERNEL)
        maps = (CachedMap(self.first, (1, batch, self.C), dtype, KERNEL), rest)
        channel_params = self.model.distribution.channel_params
        out = self.head.out
        self.kernels = [
            GatedColumnKernel(
                self.first.centre[0],
                list(zip(self.rest_centres, self.h_outs)),
                self.skips,
                (self.head.hidden, out.restrict(out.weight.shape[0], channel_params(c))),
                images,
                maps,
            )
            for c in range(self.C)
        ]
        self.store = PixelStore("gated_column", images, maps[0], dtype)
        for conv in (self.first, self.rest):
            if conv is not None:
                conv.native = ContextKernel("gated_column", conv, images, KERNEL)

    def column(self, x: Tensor, front: Front, c: int) -> Tensor:
        context = self._context(x, front)
        final = c == self.C - 1  # final: later pixels read these inputs
        if self.kernels is not None:  # the kernel reads the pixel, and at the last channel stores it
            return self.kernels[c](context, x, front, final)
        value = gate(torch.addmm(context[0], self.pixels(x, front), self.first.centre[0]))
        skips = self.skips[0](value) if self.skips else None
        inputs = []
        for i, (h_out, centre) in enumerate(zip(self.h_outs, self.rest_centres)):
            inputs.append(value)
            gated = gate(torch.addmm(context[i + 1], value, centre))
            value = value + h_out(gated)
            if skips is not None:
                skips = skips + self.skips[i + 1](gated)
        if final:
            self.write_input(x, front)
            if self.rest is not None and inputs:
                self.rest.write(front, torch.stack(inputs))
        return self.head(value if skips is None else skips)[:, self.model.distribution.channel_params(c)]
