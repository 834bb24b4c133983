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
PixelRNN paper's (ReLU, two 1×1 mask-B convolutions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelar.distributions import make_distribution
from pixelar.errors import PixelarError
from pixelar.layers import IncrementalConv, MaskedConv2d, apply_pointwise, channel_groups, pointwise
from pixelar.layers.common import OutputHead
from pixelar.models.base import AutoregressiveModel
from pixelar.registry import ModelConfig, register_model
from pixelar.sampling import ColumnSampler, Front


@dataclass
class GatedPixelCNNConfig(ModelConfig):
    """Hyperparameters of :class:`GatedPixelCNN`.

    Attributes:
        num_layers: gated layers after the first (7×7-receptive) layer.
        hidden_channels: p, the features of each stack.
        kernel_size: k of the gated layers (3 in the paper's figures).
        distribution: "auto" (Bernoulli for num_levels = 2, else softmax), "categorical", "bernoulli".
    """

    num_layers: int = 4
    hidden_channels: int = 16
    kernel_size: int = 3
    distribution: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 0 or self.hidden_channels < 1 or self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise PixelarError("num_layers must be >= 0, hidden_channels >= 1 and kernel_size odd and >= 3")


def shift_down(x: Tensor) -> Tensor:
    """Move a feature map down one row, zeros entering at the top: [B, F, H, W] → same."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


class VerticalConv(nn.Conv2d):
    """(k//2 + 1) × k convolution over the rows above and the current row (all columns).

    Shapes: [B, in, H, W] → [B, out, H, W].
    """

    def __init__(self, in_channels: int, out_channels: int, k: int) -> None:
        super().__init__(in_channels, out_channels, (k // 2 + 1, k))
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        p = self.k // 2
        return super().forward(F.pad(x, (p, p, p, 0)))


def gate(x: Tensor) -> Tensor:
    """tanh(first half) ⊙ σ(second half) over the channel dim."""
    f, g = x.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


class GatedLayer(nn.Module):
    """One gated layer of both stacks (Figure 2). v, h: [B, p, H, W] (first layer: [B, C, H, W]).

    Returns the new (v, h). ``first`` makes the horizontal convolution mask A and drops the
    residual connection.
    """

    def __init__(self, in_channels: int, p: int, k: int, num_colors: int, first: bool) -> None:
        super().__init__()
        self.first = first
        gate_groups = torch.cat([channel_groups(p, num_colors)] * 2)
        in_groups = channel_groups(in_channels, num_colors)
        self.v_conv = VerticalConv(in_channels, 2 * p, k)
        self.h_conv = MaskedConv2d(
            in_channels, 2 * p, (1, k), "A" if first else "B", num_colors, in_groups, gate_groups
        )
        self.link = nn.Conv2d(2 * p, 2 * p, 1)  # from the shifted vertical stack: rows above only
        if not first:
            self.h_out = MaskedConv2d(p, p, 1, "B", num_colors)

    def forward(self, v: Tensor, h: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor]:
        v_pre = self.v_conv(v)
        h_pre = self.h_conv(h) + self.link(shift_down(v_pre))
        if bias is not None:
            v_pre = v_pre + bias[:, : v_pre.shape[1], None, None]
            h_pre = h_pre + bias[:, v_pre.shape[1] :, None, None]
        v_new = gate(v_pre)
        h_gated = gate(h_pre)
        h_new = h_gated if self.first else h + self.h_out(h_gated)
        return v_new, h_new


@register_model("gated-pixelcnn")
class GatedPixelCNN(AutoregressiveModel):
    """Gated PixelCNN: a 7-wide first layer (vertical 4×7, horizontal 1×4 mask A), then
    ``num_layers`` residual gated layers of kernel k, then the output head on the horizontal stack.

    Shapes: images [B, C, H, W] → parameters [B, P, H, W].
    """

    Config = GatedPixelCNNConfig

    def __init__(self, config: GatedPixelCNNConfig) -> None:
        super().__init__(config)
        C = config.image_shape[0]
        p = config.hidden_channels
        self.distribution = make_distribution(config.distribution, C, config.num_levels)
        self.layers = nn.ModuleList(
            [GatedLayer(C, p, 7, C, first=True)]
            + [GatedLayer(p, p, config.kernel_size, C, first=False) for _ in range(config.num_layers)]
        )
        self.head = OutputHead(p, C, self.distribution)
        self.add_class_biases(len(self.layers), 4 * p)  # per layer V h: vertical 2p, then horizontal 2p

    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        v = h = x
        for layer, bias in zip(self.layers, self.class_biases(cond)):
            v, h = layer(v, h, bias)
        return self.head(h)

    def fast_stepper(self, n: int, cond: Tensor | None) -> GatedPixelCNNSampler:
        return GatedPixelCNNSampler(self, n, cond)


class GatedPixelCNNSampler(ColumnSampler):
    """Fast exact sampling for :class:`GatedPixelCNN` (cf. Ramachandran et al. 2017).

    The vertical stack of row r depends on rows <= r only, and the horizontal stack of row r
    uses it shifted down: so the vertical stack is computed once per row, for the whole row,
    when the row above is complete — together with its 1×1 link into the horizontal stack —
    and the horizontal stack once per pixel: its taps on the pixels to the left, and the link,
    once per pixel for all layers (one batched product); its centre tap per colour channel.
    Cache: each layer's vertical input map, n·p·(H+k//2)·(W+k−1) values, its linked output for
    the previous row, n·2p·W, and each horizontal input map, n·p·H·(W+k−1).
    """

    def __init__(self, model: GatedPixelCNN, n: int, cond: Tensor | None) -> None:
        super().__init__(model)
        _, H, W = model.image_shape
        self.layers = model.layers
        self.biases = model.class_biases(cond)
        dtype, device = model.dtype, model.device
        self.v_in = [
            torch.zeros(
                n,
                layer.v_conv.in_channels,
                H + layer.v_conv.k // 2,
                W + 2 * (layer.v_conv.k // 2),
                dtype=dtype,
                device=device,
            )
            for layer in self.layers
        ]
        self.links = [pointwise(layer.link) for layer in self.layers]
        # The row above's vertical stack through the link, plus the class bias: [L, n, W, 2p].
        # Row 0 sees the shifted map's zero padding: the link's bias alone.
        self.above = torch.stack(
            [
                self._linked(i, torch.zeros(n, W, layer.link.in_channels, dtype=dtype, device=device))
                for i, layer in enumerate(self.layers)
            ]
        )
        self.first = IncrementalConv(self.layers[0].h_conv, n, H, W)
        rest = [layer.h_conv for layer in self.layers[1:]]
        self.rest = IncrementalConv(rest, n, H, W) if rest else None
        self.h_outs = [pointwise(layer.h_out) for layer in self.layers[1:]]
        self.head = model.head.incremental()
        self.rows_done = 0  # rows whose vertical stack has been computed
        self.front = -1  # the front whose context is computed
        self.context: Tensor | None = None

    def _linked(self, i: int, pre: Tensor) -> Tensor:
        """Layer i's vertical pre-activations of a row [n, W, 2p] → its link into the
        horizontal stack, with the class bias: [n, W, 2p]."""
        weight, bias = self.links[i]
        out = pre @ weight + bias
        if self.biases[i] is not None:
            out = out + self.biases[i][:, None, out.shape[2] :]
        return out

    def _vertical_row(self, x: Tensor, r: int) -> None:
        """Vertical stack of row r (complete), stored through the links for row r + 1."""
        value = self.model.scale(x[:, :, r])  # [n, C, W]
        for i, layer in enumerate(self.layers):
            k = layer.v_conv.k
            p = k // 2
            self.v_in[i][:, :, r + p, p : p + self.W] = value
            window = self.v_in[i][:, :, r : r + p + 1]  # rows r-p .. r (padded)
            pre = F.conv2d(window, layer.v_conv.weight, layer.v_conv.bias)[:, :, 0]  # [n, 2p, W]
            self.above[i] = self._linked(i, pre.transpose(1, 2))
            if self.biases[i] is not None:
                pre = pre + self.biases[i][:, : pre.shape[1], None]
            value = gate(pre)

    def write_input(self, x: Tensor, front: Front) -> None:
        self.first.write(front, self.pixels(x, front))

    def column(self, x: Tensor, front: Front, c: int) -> Tensor:
        h, w = front.pixel
        if front.t != self.front:
            while self.rows_done < h:
                self._vertical_row(x, self.rows_done)
                self.rows_done += 1
            context = self.first.context(front)
            if self.rest is not None:
                context = torch.cat([context, self.rest.context(front)])
            self.context = context + self.above[:, :, w]  # [L, n, 2p]
            self.front = front.t
        value = gate(torch.addmm(self.context[0], self.pixels(x, front), self.first.centre[0]))
        inputs = []
        for i, h_out in enumerate(self.h_outs):
            inputs.append(value)
            gated = gate(torch.addmm(self.context[i + 1], value, self.rest.centre[i]))
            value = value + apply_pointwise(h_out, gated)
        if c == self.C - 1:  # final: later pixels read these inputs
            self.write_input(x, front)
            if inputs:
                self.rest.write(front, torch.stack(inputs))
        return self.head(value)[:, self.model.distribution.channel_params(c)]
