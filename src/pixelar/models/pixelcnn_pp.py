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
from pixelar.models.base import AutoregressiveModel
from pixelar.registry import ModelConfig, register_model
from pixelar.sampling import Front, wavefronts


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

    def run(self, ops: Ops, x, skip=None, bias: Tensor | None = None):
        c = ops.conv(self.conv1, ops.concat_elu(x))
        if self.skip is not None:
            c = ops.add(c, ops.conv(self.skip, ops.concat_elu(skip)))
        c = ops.conv(self.conv2, ops.dropout(self.dropout, ops.concat_elu(c)))
        if bias is not None:
            c = ops.add_bias(c, bias)
        return ops.gate_residual(x, c)

    def forward(self, x: Tensor, skip: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        return self.run(FULL, x, skip, bias)


class Ops:
    """The operations the PixelCNN++ graph is written in, on whole maps (:class:`FullOps`) or on
    one row per resolution at a time (:class:`RowOps`, for sampling)."""


class FullOps(Ops):
    """Whole feature maps [B, F, H, W]."""

    def conv(self, module: nn.Module, t: Tensor) -> Tensor:
        return module(t)

    deconv = conv

    def dropout(self, module: nn.Dropout, t: Tensor) -> Tensor:
        return module(t)

    def down_shift(self, t: Tensor) -> Tensor:
        return down_shift(t)

    def right_shift(self, t: Tensor) -> Tensor:
        return right_shift(t)

    def concat_elu(self, t: Tensor) -> Tensor:
        return concat_elu(t)

    def elu(self, t: Tensor) -> Tensor:
        return F.elu(t)

    def add(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b

    def cat(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.cat([a, b], dim=1)

    def add_bias(self, t: Tensor, bias: Tensor) -> Tensor:
        return t + bias[:, :, None, None]

    def gate_residual(self, x: Tensor, c: Tensor) -> Tensor:
        a, b = c.chunk(2, dim=1)
        return x + a * torch.sigmoid(b)


FULL = FullOps()


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
        self.add_class_biases(self.num_gated, 2 * f)

    def padded_input(self, x: Tensor) -> Tensor:
        """Scaled images [B, C, H, W] → [B, C + 1, H', W'] with an "inside the image" channel,
        zero-padded below and to the right to multiples of 4."""
        H, W = x.shape[2:]
        x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        return F.pad(x, (0, -W % 4, 0, -H % 4))

    def graph(self, ops: Ops, x, biases: list[Tensor | None]):
        """The network (Figure 2 of the paper) on the padded input, in ``ops``."""
        bias = iter(biases)
        u = ops.down_shift(ops.conv(self.u_init, x))
        ul = ops.add(ops.down_shift(ops.conv(self.ul_init_down, x)), ops.right_shift(ops.conv(self.ul_init_right, x)))
        us, uls = [u], [ul]
        for block in range(3):
            for lu, lul in zip(self.down_u[block], self.down_ul[block]):
                u = lu.run(ops, u, bias=next(bias))
                ul = lul.run(ops, ul, u, bias=next(bias))
                us.append(u)
                uls.append(ul)
            if block < 2:
                u = ops.conv(self.down_u_stride[block], u)
                ul = ops.conv(self.down_ul_stride[block], ul)
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        for block in range(3):
            if block > 0:
                u = ops.deconv(self.up_u_stride[block - 1], u)
                ul = ops.deconv(self.up_ul_stride[block - 1], ul)
            for lu, lul in zip(self.up_u[block], self.up_ul[block]):
                u = lu.run(ops, u, us.pop(), bias=next(bias))
                ul = lul.run(ops, ul, ops.cat(u, uls.pop()), bias=next(bias))
        return ops.conv(self.out, ops.elu(ul))

    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        H, W = x.shape[2:]
        return self.graph(FULL, self.padded_input(x), self.class_biases(cond))[:, :, :H, :W]

    def fast_stepper(self, n: int, cond: Tensor | None) -> PixelCNNPPSampler:
        return PixelCNNPPSampler(self, cond)


class Rows:
    """A feature map at one resolution level (0: full, 1: half, 2: quarter) held by
    :class:`RowOps`: [n, F, H', W'], filled one row at a time."""

    def __init__(self, buf: Tensor, level: int) -> None:
        self.buf, self.level = buf, level


class RowOps(Ops):
    """The PixelCNN++ graph evaluated on one row per resolution: at generation row h, row
    h >> l of every level-l map. No layer looks down, so a level-l row depends only on rows at
    or above it of its inputs; rows above the current one are final in the caches, and the
    current row costs one row of every layer. Every map of the graph is cached whole:
    memory is that of one forward pass at batch n.
    """

    def __init__(self) -> None:
        self.slots: list[Rows] = []
        self.index = 0
        self.h = 0

    def begin(self, h: int) -> None:
        self.h, self.index = h, 0

    def _out(self, like: Tensor, channels: int, level: int, shape: tuple[int, int]) -> Rows:
        if self.index == len(self.slots):
            self.slots.append(Rows(like.new_zeros(like.shape[0], channels, *shape), level))
        out = self.slots[self.index]
        self.index += 1
        return out

    def row(self, t: Rows) -> int:
        return self.h >> t.level

    def _rows_above(self, t: Rows, first: int, last: int) -> Tensor:
        """Rows first..last of t (zeros above row 0): [n, F, last − first + 1, W']."""
        rows = t.buf[:, :, max(first, 0) : last + 1]
        return F.pad(rows, (0, 0, max(-first, 0), 0))

    def conv(self, module: nn.Conv2d, t: Rows) -> Rows:
        fh, fw = module.kernel_size
        stride = module.stride[0]
        level = t.level + (stride == 2)
        r = self.h >> level
        if stride == 2:  # output row r reads input rows 2r−1 and 2r
            window = self._rows_above(t, 2 * r - 1, 2 * r)
        else:
            window = self._rows_above(t, r - fh + 1, r)
        if isinstance(module, DownShiftedConv2d):
            pad = ((fw - 1) // 2, (fw - 1) // 2)
        elif isinstance(module, DownRightShiftedConv2d):
            pad = (fw - 1, 0)
        else:
            pad = (0, 0)
        y = F.conv2d(F.pad(window, (*pad, 0, 0)), module.weight, module.bias, stride=module.stride)
        out = self._out(y, y.shape[1], level, (t.buf.shape[2] // stride, y.shape[3]))
        out.buf[:, :, r] = y[:, :, -1]
        return out

    def deconv(self, module: nn.ConvTranspose2d, t: Rows) -> Rows:
        level = t.level - 1
        r = self.h >> level
        y = module(t.buf[:, :, r // 2 : r // 2 + 1])  # the module's crops, on one input row → 2 rows
        out = self._out(y, y.shape[1], level, (2 * t.buf.shape[2], y.shape[3]))
        out.buf[:, :, r] = y[:, :, r % 2]
        return out

    def _map(self, t: Rows, fn, channels: int | None = None) -> Rows:
        r = self.row(t)
        y = fn(t.buf[:, :, r])
        out = self._out(y, y.shape[1], t.level, t.buf.shape[2:])
        out.buf[:, :, r] = y
        return out

    def dropout(self, module: nn.Dropout, t: Rows) -> Rows:
        return t  # sampling runs in eval mode

    def down_shift(self, t: Rows) -> Rows:
        r = self.row(t)
        out = self._out(t.buf, t.buf.shape[1], t.level, t.buf.shape[2:])
        out.buf[:, :, r] = t.buf[:, :, r - 1] if r > 0 else 0.0
        return out

    def right_shift(self, t: Rows) -> Rows:
        return self._map(t, lambda v: F.pad(v, (1, 0))[:, :, :-1])

    def concat_elu(self, t: Rows) -> Rows:
        return self._map(t, concat_elu)

    def elu(self, t: Rows) -> Rows:
        return self._map(t, F.elu)

    def _map2(self, a: Rows, b: Rows, fn) -> Rows:
        r = self.row(a)
        y = fn(a.buf[:, :, r], b.buf[:, :, r])
        out = self._out(y, y.shape[1], a.level, a.buf.shape[2:])
        out.buf[:, :, r] = y
        return out

    def add(self, a: Rows, b: Rows) -> Rows:
        return self._map2(a, b, torch.add)

    def cat(self, a: Rows, b: Rows) -> Rows:
        return self._map2(a, b, lambda u, v: torch.cat([u, v], dim=1))

    def add_bias(self, t: Rows, bias: Tensor) -> Rows:
        return self._map(t, lambda v: v + bias[:, :, None])

    def gate_residual(self, x: Rows, c: Rows) -> Rows:
        def fn(u: Tensor, v: Tensor) -> Tensor:
            a, b = v.chunk(2, dim=1)
            return u + a * torch.sigmoid(b)

        return self._map2(x, c, fn)


class PixelCNNPPSampler:
    """Fast exact sampling for :class:`PixelCNNPP`.

    The parameters at pixel (h, w) depend on no sub-pixel of that pixel (the channel
    dependence lives in the mixture), so the network runs once per pixel, not per sub-pixel;
    and each run computes one row of every layer at its resolution (:class:`RowOps`) — row
    h >> l at level l — reusing the cached rows above. Arithmetic per image ≈ W full forward
    passes instead of H·W·C; in practice the many small row operations cost more than that.
    Memory: one forward pass's maps.
    """

    def __init__(self, model: PixelCNNPP, cond: Tensor | None) -> None:
        self.model = model
        _, H, W = model.image_shape
        self.fronts = wavefronts(H, W, model.wavefront_shift)
        self.biases = model.class_biases(cond)
        self.ops = RowOps()
        self.input: Rows | None = None
        self.rows_done = 0  # rows computed with their final pixels
        self.pixel = -1
        self.params: Tensor | None = None

    def _row_pass(self, x: Tensor, h: int) -> Tensor:
        """Row h of every map from the current x → the output row [n, P, W']."""
        if self.input is None:
            self.input = Rows(self.model.padded_input(self.model.scale(torch.zeros_like(x))), 0)
        first = max(h - 1, 0)
        rows = self.model.padded_input(self.model.scale(x[:, :, first : h + 1]))
        self.input.buf[:, :, first : h + 1] = rows[:, :, : h + 1 - first]
        self.ops.begin(h)
        return self.model.graph(self.ops, self.input, self.biases).buf[:, :, h]

    def conditional(self, x: Tensor, c: int, front: Front) -> Tensor:
        h, w = front.pixel
        W = self.model.image_shape[2]
        if h * W + w != self.pixel:
            # Rows above are redone once with their final pixels: maps that a down-shift moves
            # to the next row read the whole row, including its last pixels.
            while self.rows_done < h:
                self._row_pass(x, self.rows_done)
                self.rows_done += 1
            self.params = self._row_pass(x, h)[:, :, w]
            self.pixel = h * W + w
        return self.model.distribution.conditional(self.params[..., None], x[:, :, h, w, None], c)
