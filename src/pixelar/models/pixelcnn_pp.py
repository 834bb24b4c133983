"""PixelCNN++ (Salimans, Karpathy, Chen, Kingma, "PixelCNN++: Improving the PixelCNN with
Discretized Logistic Mixture Likelihood and Other Modifications", ICLR 2017).

* Output: the discretized logistic mixture with channel-linear means (Sections 2.1–2.2),
  :class:`pixelar.distributions.DiscretizedLogisticMixture`.
* Network (Sections 2.3–2.5, Figure 2): two streams, ``u`` of down-shifted convolutions (sees
  the rows above) and ``ul`` of down-right-shifted ones (sees the rows above and the pixels to
  the left), built from gated ResNet layers with concat_elu; ``num_layers`` layers per block,
  stride-2 down-sampling after the first two blocks, transposed-convolution up-sampling before
  the last two, and U-Net short-cuts from every down-pass output to its mirror in the up pass.
* Dropout on the residual path of every gated ResNet layer (Section 2.6; 0.5 in the paper).
* Initialisation: instead of weight normalisation with data-dependent init, the last
  convolution of every gated ResNet layer starts at zero, so each layer starts as the identity
  (a stable initialisation in the spirit of Fixup / ReZero).

The graph is written once, in the ops of an :class:`Evaluator`: on whole maps here, a row or a
position at a time for fast sampling (:mod:`pixelar.models.pixelcnn_pp_sampler`).

Images whose height or width is not a multiple of 4 are padded at the bottom and right with
zeros (and a zero "inside the image" channel) and the output cropped: padded positions come
after the real ones of their row and carry no data, so the model stays exactly causal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelar.distributions import DiscretizedLogisticMixture
from pixelar.errors import PixelarError
from pixelar.layers import shifts
from pixelar.layers.common import conv_layout, modules_as
from pixelar.models.base import AutoregressiveModel
from pixelar.registry import ModelConfig, register_model

if TYPE_CHECKING:
    from pixelar.models.pixelcnn_pp_sampler import PixelCNNPPSampler as PixelCNNPPSampler

Map = TypeVar("Map")


@dataclass
class PixelCNNPPConfig(ModelConfig):
    """Hyperparameters of :class:`PixelCNNPP`.

    Attributes:
        num_layers: gated ResNet layers per block (5 in the paper).
        hidden_channels: filters of every layer (160–192 in the paper).
        num_components: logistic mixture components (5–10 in the paper).
        dropout: dropout probability on the residual path (0.5 in the paper).
    """

    num_layers: int = 1
    hidden_channels: int = 16
    num_components: int = 4
    dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 1 or self.hidden_channels < 1 or self.num_components < 1:
            raise PixelarError(
                "num_layers, hidden_channels and num_components must be >= 1",
                param=("num_layers", "hidden_channels", "num_components"),
            )
        if not 0.0 <= self.dropout < 1.0:
            raise PixelarError(f"dropout must be in [0, 1), got {self.dropout}", param="dropout")


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


def blocks(module_lists: nn.ModuleList) -> list[list[GatedResNet]]:
    """The gated layers of a stream's pass, block by block."""
    return [modules_as(block, GatedResNet) for block in modules_as(module_lists, nn.ModuleList)]


def resampling(down: nn.ModuleList, up: nn.ModuleList) -> tuple[list[nn.Conv2d], list[nn.ConvTranspose2d]]:
    """A stream's stride-2 down-sampling convolutions and its up-sampling transposed ones."""
    return modules_as(down, nn.Conv2d), modules_as(up, nn.ConvTranspose2d)


def check_used(stack: Sequence[object], what: str) -> None:
    """The check that ends openai's pixel-cnn: every short-cut pushed in the down pass was popped."""
    if stack:
        raise RuntimeError(f"{len(stack)} {what} left unused: the up pass does not mirror the down pass")


@register_model("pixelcnn++")
class PixelCNNPP(AutoregressiveModel):
    """PixelCNN++: 6 blocks of ``num_layers`` gated ResNet layers in two streams, with down-
    and up-sampling and U-Net short-cuts; a class-conditional model adds a learned per-class
    gate bias in every layer (Section 2.5 of the Gated PixelCNN paper, as PixelCNN++ does).

    Shapes: images [B, C, H, W] → parameters [B, M·(1 + 2C + C(C−1)/2), H, W].
    """

    Config = PixelCNNPPConfig

    def __init__(self, config: PixelCNNPPConfig) -> None:
        super().__init__(config)
        channels = config.image_shape[0]
        features, num_layers, dropout = config.hidden_channels, config.num_layers, config.dropout
        self.distribution = DiscretizedLogisticMixture(channels, config.num_levels, config.num_components)
        self.u_init = shifts.DownShiftedConv2d(channels + 1, features, (2, 3))
        self.ul_init_down = shifts.DownShiftedConv2d(channels + 1, features, (1, 3))
        self.ul_init_right = shifts.DownRightShiftedConv2d(channels + 1, features, (2, 1))

        def u_layer(skip_channels: int) -> GatedResNet:
            return GatedResNet(features, shifts.DownShiftedConv2d, (2, 3), skip_channels, dropout)

        def ul_layer(skip_channels: int) -> GatedResNet:
            return GatedResNet(features, shifts.DownRightShiftedConv2d, (2, 2), skip_channels, dropout)

        # Down pass: 3 blocks of num_layers layers; the ul stream takes u as its short-cut input.
        self.down_u = nn.ModuleList(nn.ModuleList(u_layer(0) for _ in range(num_layers)) for _ in range(3))
        self.down_ul = nn.ModuleList(nn.ModuleList(ul_layer(features) for _ in range(num_layers)) for _ in range(3))
        self.down_u_stride = nn.ModuleList(
            shifts.DownShiftedConv2d(features, features, (2, 3), stride=2) for _ in range(2)
        )
        self.down_ul_stride = nn.ModuleList(
            shifts.DownRightShiftedConv2d(features, features, (2, 2), stride=2) for _ in range(2)
        )
        # Up pass: num_layers layers, then num_layers + 1 after each up-sampling, one per short-cut:
        # the down pass's 3·num_layers + 3 outputs but its last, the up pass's input.
        sizes = [num_layers, num_layers + 1, num_layers + 1]
        self.up_u = nn.ModuleList(nn.ModuleList(u_layer(features) for _ in range(size)) for size in sizes)
        self.up_ul = nn.ModuleList(nn.ModuleList(ul_layer(2 * features) for _ in range(size)) for size in sizes)
        self.up_u_stride = nn.ModuleList(shifts.DownShiftedDeconv2d(features, features) for _ in range(2))
        self.up_ul_stride = nn.ModuleList(shifts.DownRightShiftedDeconv2d(features, features) for _ in range(2))
        self.out = nn.Conv2d(features, self.distribution.num_params, 1)
        self.num_gated = 2 * (3 * num_layers + sum(sizes))
        self.add_class_biases(self.num_gated, 2 * features)

    def padded_input(self, x: Tensor) -> Tensor:
        """Scaled images [B, C, H, W] → [B, C + 1, H', W'] with an "inside the image" channel,
        zero-padded below and to the right to multiples of 4."""
        height, width = x.shape[2:]
        x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        return F.pad(x, (0, -width % 4, 0, -height % 4))

    def u_stream(self, ops: Evaluator[Map], image: Map, biases: Sequence[Tensor | None]) -> list[Map]:
        """The down-shifted stream u (Figure 2, top row), on the padded image: it sees the rows
        above only. → u after every gated layer, down pass then up pass: what ul reads of it."""
        down, up, bias = blocks(self.down_u), blocks(self.up_u), iter(biases)
        down_sample, up_sample = resampling(self.down_u_stride, self.up_u_stride)
        u_outs = []
        # Down pass: every output is pushed on u_list, the short-cuts of the up pass.
        u_list = [ops.down_shifted_conv(self.u_init, image)]
        for block in range(3):
            for layer in down[block]:
                u_list.append(self.checkpointed(layer.run, ops, u_list[-1], bias=next(bias)))
                u_outs.append(u_list[-1])
            if block < 2:
                u_list.append(ops.conv(down_sample[block], u_list[-1]))
        # Up pass: every layer pops its short-cut, the mirror of its input in the down pass.
        u = u_list.pop()
        for block in range(3):
            if block > 0:
                u = ops.deconv(up_sample[block - 1], u)
            for layer in up[block]:
                u = self.checkpointed(layer.run, ops, u, u_list.pop(), bias=next(bias))
                u_outs.append(u)
        check_used(u_list, "u short-cuts")
        return u_outs

    def ul_stream(self, ops: Evaluator[Map], image: Map, u_outs: Sequence[Map], biases: Sequence[Tensor | None]) -> Map:
        """The down-right-shifted stream ul (Figure 2, bottom row), on the padded image: it sees
        the rows above and the pixels to the left, and u after the layer of the same depth
        (:meth:`u_stream`). → distribution parameters."""
        down, up, bias, u = blocks(self.down_ul), blocks(self.up_ul), iter(biases), iter(u_outs)
        down_sample, up_sample = resampling(self.down_ul_stride, self.up_ul_stride)
        above = ops.down_shifted_conv(self.ul_init_down, image)
        left = ops.right_shifted_conv(self.ul_init_right, image)
        # Down pass: u is each layer's short-cut input; every output is pushed on ul_list.
        ul_list = [ops.add(above, left)]
        for block in range(3):
            for layer in down[block]:
                ul_list.append(self.checkpointed(layer.run, ops, ul_list[-1], next(u), bias=next(bias)))
            if block < 2:
                ul_list.append(ops.conv(down_sample[block], ul_list[-1]))
        # Up pass: every layer's short-cut input is u and the popped mirror of its input.
        ul = ul_list.pop()
        for block in range(3):
            if block > 0:
                ul = ops.deconv(up_sample[block - 1], ul)
            for layer in up[block]:
                ul = self.checkpointed(layer.run, ops, ul, ops.cat(next(u), ul_list.pop()), bias=next(bias))
        check_used(ul_list, "ul short-cuts")
        check_used(list(u), "u outputs")
        return ops.conv(self.out, ops.elu(ul))

    def stream_biases(self, cond: Tensor | None) -> tuple[list[Tensor | None], list[Tensor | None]]:
        """The per-layer class biases of the u and of the ul stream (they alternate u, ul)."""
        biases = self.class_biases(cond)
        return biases[0::2], biases[1::2]

    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        height, width = x.shape[2:]
        image = conv_layout(self.padded_input(x))
        u_biases, ul_biases = self.stream_biases(cond)
        u_outs = self.u_stream(WHOLE_MAPS, image, u_biases)
        return self.ul_stream(WHOLE_MAPS, image, u_outs, ul_biases)[:, :, :height, :width]

    def fast_stepper(self, batch: int, cond: Tensor | None) -> PixelCNNPPSampler:
        from pixelar.models.pixelcnn_pp_sampler import PixelCNNPPSampler  # it imports this module

        return PixelCNNPPSampler(self, batch, cond)


def __getattr__(name: str) -> Any:
    """``PixelCNNPPSampler``, re-exported on first use (its module imports this one)."""
    if name == "PixelCNNPPSampler":
        from pixelar.models.pixelcnn_pp_sampler import PixelCNNPPSampler

        return PixelCNNPPSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
