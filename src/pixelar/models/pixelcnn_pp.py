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
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelar.distributions import DiscretizedLogisticMixture
from pixelar.errors import PixelarError
from pixelar.layers import shifts
from pixelar.layers.common import conv_layout, modules_as
from pixelar.layers.gated_resnet import WHOLE_MAPS, Evaluator, GatedResNet
from pixelar.models.base import AutoregressiveModel
from pixelar.models.config import ModelConfig
from pixelar.models.pixelcnn_pp_sampler import PixelCNNPPSampler

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


class PixelCNNPP(AutoregressiveModel):
    """PixelCNN++: 6 blocks of ``num_layers`` gated ResNet layers in two streams, with down-
    and up-sampling and U-Net short-cuts; a class-conditional model adds a learned per-class
    gate bias in every layer (Section 2.5 of the Gated PixelCNN paper, as PixelCNN++ does).

    Shapes: images [B, C, H, W] → parameters [B, M·(1 + 2C + C(C−1)/2), H, W].
    """

    model_name = "pixelcnn++"

    Config = PixelCNNPPConfig
    step_work = (128, 2048)  # the codec's units a fast step costs (AutoregressiveModel.step_work)

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
        return PixelCNNPPSampler(self, batch, cond)
