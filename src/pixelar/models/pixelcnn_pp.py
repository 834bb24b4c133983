"""PixelCNN++ (Salimans, Karpathy, Chen, Kingma, "PixelCNN++: Improving the PixelCNN with
Discretized Logistic Mixture Likelihood and Other Modifications", ICLR 2017).

* Output: the discretized logistic mixture with channel-linear means (Sections 2.1–2.2),
  :class:`pixelar.distributions.DiscretizedLogisticMixture`.
* Network (Section 2.3–2.5, Figure 2): two streams, ``u`` of down-shifted convolutions (sees
  the rows above) and ``ul`` of down-right-shifted ones (sees the rows above and the pixels to
  the left), built from gated ResNet layers with concat_elu; ``num_layers`` layers per block,
  stride-2 down-sampling after the first two blocks, transposed-convolution up-sampling before
  the last two, and U-Net short-cuts from every down-pass layer to its mirror in the up pass.
* Dropout on the residual path of every gated ResNet layer (Section 2.6; 0.5 in the paper).
* Initialisation: instead of weight normalisation with data-dependent init, the last
  convolution of every gated ResNet layer starts at zero, so each layer starts as the identity
  (a stable initialisation in the spirit of Fixup / ReZero).

Images whose height or width is not a multiple of 4 are padded at the bottom and right with
zeros (and a zero "inside the image" channel) and the output cropped: padded positions come
after the real ones of their row and carry no data, so the model stays exactly causal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelar.distributions import DiscretizedLogisticMixture
from pixelar.errors import PixelarError
from pixelar.layers.common import ClassBias
from pixelar.models.base import AutoregressiveModel
from pixelar.registry import ModelConfig, register_model


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
            raise PixelarError("num_layers, hidden_channels and num_components must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise PixelarError(f"dropout must be in [0, 1), got {self.dropout}")


def down_shift(x: Tensor) -> Tensor:
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def right_shift(x: Tensor) -> Tensor:
    return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]


def concat_elu(x: Tensor) -> Tensor:
    """elu([x, −x]) over channels: [B, F, H, W] → [B, 2F, H, W]."""
    return F.elu(torch.cat([x, -x], dim=1))


class DownShiftedConv2d(nn.Conv2d):
    """Output (i, j) sees input rows i−fh+1..i and columns j−(fw−1)/2..j+(fw−1)/2."""

    def forward(self, x: Tensor) -> Tensor:
        fh, fw = self.kernel_size
        return super().forward(F.pad(x, ((fw - 1) // 2, (fw - 1) // 2, fh - 1, 0)))


class DownRightShiftedConv2d(nn.Conv2d):
    """Output (i, j) sees input rows i−fh+1..i and columns j−fw+1..j."""

    def forward(self, x: Tensor) -> Tensor:
        fh, fw = self.kernel_size
        return super().forward(F.pad(x, (fw - 1, 0, fh - 1, 0)))


class DownShiftedDeconv2d(nn.ConvTranspose2d):
    """Stride-2 transposed convolution cropped to stay down-shifted: [B, F, H, W] → [B, F', 2H, 2W]."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int] = (2, 3)) -> None:
        super().__init__(cin, cout, kernel, stride=2, output_padding=1)

    def forward(self, x: Tensor) -> Tensor:
        fh, fw = self.kernel_size
        y = super().forward(x)
        return y[:, :, : y.shape[2] - fh + 1, (fw - 1) // 2 : y.shape[3] - (fw - 1) // 2]


class DownRightShiftedDeconv2d(nn.ConvTranspose2d):
    """Stride-2 transposed convolution cropped to stay down-right-shifted."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int] = (2, 2)) -> None:
        super().__init__(cin, cout, kernel, stride=2, output_padding=1)

    def forward(self, x: Tensor) -> Tensor:
        fh, fw = self.kernel_size
        y = super().forward(x)
        return y[:, :, : y.shape[2] - fh + 1, : y.shape[3] - fw + 1]


class GatedResNet(nn.Module):
    """x + a ⊙ σ(b), [a, b] = conv(dropout(concat_elu(conv(concat_elu(x)) + nin(concat_elu(skip))))) + h.

    ``conv_cls`` is the stream's shifted convolution; ``skip_channels`` the width of the
    short-cut input (0 for none). Shapes: x [B, F, H, W] → [B, F, H, W].
    """

    def __init__(
        self, features: int, conv_cls: type[nn.Conv2d], kernel: tuple[int, int], skip_channels: int, dropout: float
    ) -> None:
        super().__init__()
        self.conv1 = conv_cls(2 * features, features, kernel)
        self.skip = nn.Conv2d(2 * skip_channels, features, 1) if skip_channels else None
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv_cls(2 * features, 2 * features, kernel)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, skip: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        c = self.conv1(concat_elu(x))
        if self.skip is not None:
            c = c + self.skip(concat_elu(skip))
        c = self.conv2(self.dropout(concat_elu(c)))
        if bias is not None:
            c = c + bias[:, :, None, None]
        a, b = c.chunk(2, dim=1)
        return x + a * torch.sigmoid(b)


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
        C = config.image_shape[0]
        f, n, p = config.hidden_channels, config.num_layers, config.dropout
        self.distribution = DiscretizedLogisticMixture(C, config.num_levels, config.num_components)
        self.u_init = DownShiftedConv2d(C + 1, f, (2, 3))
        self.ul_init_down = DownShiftedConv2d(C + 1, f, (1, 3))
        self.ul_init_right = DownRightShiftedConv2d(C + 1, f, (2, 1))

        def u_layer(skip: int) -> GatedResNet:
            return GatedResNet(f, DownShiftedConv2d, (2, 3), skip, p)

        def ul_layer(skip: int) -> GatedResNet:
            return GatedResNet(f, DownRightShiftedConv2d, (2, 2), skip, p)

        # Down pass: 3 blocks of n layers; the ul stream takes u as its short-cut input.
        self.down_u = nn.ModuleList(nn.ModuleList(u_layer(0) for _ in range(n)) for _ in range(3))
        self.down_ul = nn.ModuleList(nn.ModuleList(ul_layer(f) for _ in range(n)) for _ in range(3))
        self.down_u_stride = nn.ModuleList(DownShiftedConv2d(f, f, (2, 3), stride=2) for _ in range(2))
        self.down_ul_stride = nn.ModuleList(DownRightShiftedConv2d(f, f, (2, 2), stride=2) for _ in range(2))
        # Up pass: n layers, then n + 1 and n + 1 after each up-sampling, short-cuts from the down pass.
        sizes = [n, n + 1, n + 1]
        self.up_u = nn.ModuleList(nn.ModuleList(u_layer(f) for _ in range(k)) for k in sizes)
        self.up_ul = nn.ModuleList(nn.ModuleList(ul_layer(2 * f) for _ in range(k)) for k in sizes)
        self.up_u_stride = nn.ModuleList(DownShiftedDeconv2d(f, f) for _ in range(2))
        self.up_ul_stride = nn.ModuleList(DownRightShiftedDeconv2d(f, f) for _ in range(2))
        self.out = nn.Conv2d(f, self.distribution.num_params, 1)
        self.num_gated = 2 * (3 * n + sum(sizes))
        if config.num_classes:
            self.class_bias = ClassBias(config.num_classes, self.num_gated, 2 * f)

    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        H, W = x.shape[2:]
        Hp, Wp = -(-H // 4) * 4, -(-W // 4) * 4
        x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        x = F.pad(x, (0, Wp - W, 0, Hp - H))  # zeros below and to the right, "outside" flag 0
        biases = iter(
            self.class_bias(cond) if cond is not None and self.config.num_classes else [None] * self.num_gated
        )

        u = down_shift(self.u_init(x))
        ul = down_shift(self.ul_init_down(x)) + right_shift(self.ul_init_right(x))
        us, uls = [u], [ul]
        for block in range(3):
            for lu, lul in zip(self.down_u[block], self.down_ul[block]):
                u = lu(u, bias=next(biases))
                ul = lul(ul, u, bias=next(biases))
                us.append(u)
                uls.append(ul)
            if block < 2:
                u = self.down_u_stride[block](u)
                ul = self.down_ul_stride[block](ul)
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        for block in range(3):
            if block > 0:
                u = self.up_u_stride[block - 1](u)
                ul = self.up_ul_stride[block - 1](ul)
            for lu, lul in zip(self.up_u[block], self.up_ul[block]):
                u = lu(u, us.pop(), bias=next(biases))
                ul = lul(ul, torch.cat([u, uls.pop()], dim=1), bias=next(biases))
        return self.out(F.elu(ul))[:, :, :H, :W]

    def fast_stepper(self, n: int, cond: Tensor | None) -> PixelCNNPPSampler:
        return PixelCNNPPSampler(self, cond)


class PixelCNNPPSampler:
    """Faster exact sampling for :class:`PixelCNNPP`.

    The parameters at pixel (h, w) depend on no sub-pixel of that pixel (the channel
    dependence lives in the mixture), so the network runs once per pixel, not once per
    sub-pixel; and since no layer looks down, it runs on the rows up to the current one only
    (rounded up to a multiple of 4). About 2·C times fewer operations than naive sampling;
    no activations are cached across pixels (so its memory is one forward pass's).
    """

    def __init__(self, model: PixelCNNPP, cond: Tensor | None) -> None:
        self.model = model
        self.cond = cond
        self.pixel = -1
        self.params: Tensor | None = None

    def conditional(self, x: Tensor, c: int, h: int, w: int) -> Tensor:
        W = self.model.image_shape[2]
        if h * W + w != self.pixel:
            rows = min(self.model.image_shape[1], -(-(h + 1) // 4) * 4)
            params = self.model.network(self.model.scale(x[:, :, :rows]), self.cond)
            self.params = params[:, :, h, w]
            self.pixel = h * W + w
        return self.model.distribution.conditional(self.params, x[:, :, h, w], c)
