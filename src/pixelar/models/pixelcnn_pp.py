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
from pixelar.incremental import ColumnSampler, Front
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


def gate_residual(x: Tensor, c: Tensor) -> Tensor:
    """x + a ⊙ σ(b) with [a, b] = c split over channels (dim 1)."""
    a, b = c.chunk(2, dim=1)
    return x + a * torch.sigmoid(b)


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
    """The operations the PixelCNN++ graph is written in: on whole maps (:class:`FullOps`), or
    for sampling on one row per resolution at a time (:class:`RowOps`, the u stream) or one
    position per resolution at a time (:class:`PixelOps`, the ul stream)."""


class FullOps(Ops):
    """Whole feature maps [B, F, H, W]."""

    def conv(self, module: nn.Module, t: Tensor) -> Tensor:
        return module(t)

    deconv = conv

    def dropout(self, module: nn.Dropout, t: Tensor) -> Tensor:
        return module(t)

    def down_shifted_conv(self, module: nn.Module, t: Tensor) -> Tensor:
        return down_shift(module(t))

    def right_shifted_conv(self, module: nn.Module, t: Tensor) -> Tensor:
        return right_shift(module(t))

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
        return gate_residual(x, c)


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

    def u_stream(self, ops: Ops, x, biases: list[Tensor | None]) -> list:
        """The down-shifted stream u, which sees the rows above only (Figure 2, top), on the
        padded input → what the ul stream reads from it, in reading order: the down-shifted
        part of the ul initialisation, then u after every gated layer."""
        bias = iter(biases)
        u = ops.down_shifted_conv(self.u_init, x)
        feeds = [ops.down_shifted_conv(self.ul_init_down, x)]
        us = [u]
        for block in range(3):
            for layer in self.down_u[block]:
                u = layer.run(ops, u, bias=next(bias))
                feeds.append(u)
                us.append(u)
            if block < 2:
                u = ops.conv(self.down_u_stride[block], u)
                us.append(u)
        u = us.pop()
        for block in range(3):
            if block > 0:
                u = ops.deconv(self.up_u_stride[block - 1], u)
            for layer in self.up_u[block]:
                u = layer.run(ops, u, us.pop(), bias=next(bias))
                feeds.append(u)
        return feeds

    def ul_stream(self, ops: Ops, x, feeds: list, biases: list[Tensor | None]):
        """The down-right-shifted stream ul (rows above and pixels to the left), reading u
        through ``feeds`` (:meth:`u_stream`), → distribution parameters."""
        feed, bias = iter(feeds), iter(biases)
        ul = ops.add(next(feed), ops.right_shifted_conv(self.ul_init_right, x))
        uls = [ul]
        for block in range(3):
            for layer in self.down_ul[block]:
                ul = layer.run(ops, ul, next(feed), bias=next(bias))
                uls.append(ul)
            if block < 2:
                ul = ops.conv(self.down_ul_stride[block], ul)
                uls.append(ul)
        ul = uls.pop()
        for block in range(3):
            if block > 0:
                ul = ops.deconv(self.up_ul_stride[block - 1], ul)
            for layer in self.up_ul[block]:
                ul = layer.run(ops, ul, ops.cat(next(feed), uls.pop()), bias=next(bias))
        return ops.conv(self.out, ops.elu(ul))

    def stream_biases(self, cond: Tensor | None) -> tuple[list[Tensor | None], list[Tensor | None]]:
        """The per-layer class biases of the u and of the ul stream (they alternate u, ul)."""
        biases = self.class_biases(cond)
        return biases[0::2], biases[1::2]

    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        H, W = x.shape[2:]
        x = self.padded_input(x)
        u_biases, ul_biases = self.stream_biases(cond)
        return self.ul_stream(FULL, x, self.u_stream(FULL, x, u_biases), ul_biases)[:, :, :H, :W]

    def fast_stepper(self, n: int, cond: Tensor | None) -> PixelCNNPPSampler:
        return PixelCNNPPSampler(self, n, cond)


class Rows:
    """A feature map at one resolution level (0: full, 1: half, 2: quarter) held by
    :class:`RowOps`: [n, F, H', W'], filled one row at a time."""

    def __init__(self, buf: Tensor, level: int) -> None:
        self.buf, self.level = buf, level


class RowOps(Ops):
    """The u stream evaluated one row per resolution: at generation row h, row h >> l of every
    level-l map. u looks neither down nor at its own row of the image, so at the start of row h
    (rows above final) each level-l row is final; rows above are read from the caches. Memory:
    every u map whole, about half of one forward pass at batch n.
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

    def _conv_row(self, module: nn.Conv2d, t: Rows, r: int) -> Tensor:
        """The (down-shifted, possibly strided) convolution's output row r: [n, F', W']."""
        fh, fw = module.kernel_size
        if module.stride[0] == 2:  # output row r reads input rows 2r−1 and 2r
            window = self._rows_above(t, 2 * r - 1, 2 * r)
        else:
            window = self._rows_above(t, r - fh + 1, r)
        pad = ((fw - 1) // 2, (fw - 1) // 2) if isinstance(module, DownShiftedConv2d) else (0, 0)
        return F.conv2d(F.pad(window, (*pad, 0, 0)), module.weight, module.bias, stride=module.stride)[:, :, -1]

    def conv(self, module: nn.Conv2d, t: Rows) -> Rows:
        level = t.level + (module.stride[0] == 2)
        y = self._conv_row(module, t, self.h >> level)
        out = self._out(y, y.shape[1], level, (t.buf.shape[2] // module.stride[0], y.shape[2]))
        out.buf[:, :, self.h >> level] = y
        return out

    def down_shifted_conv(self, module: nn.Conv2d, t: Rows) -> Rows:
        r = self.row(t)
        y = self._conv_row(module, t, max(r - 1, 0))
        out = self._out(y, y.shape[1], t.level, (t.buf.shape[2], y.shape[2]))
        out.buf[:, :, r] = y if r > 0 else 0.0
        return out

    def deconv(self, module: nn.ConvTranspose2d, t: Rows) -> Rows:
        level = t.level - 1
        r = self.h >> level
        y = module(t.buf[:, :, r // 2 : r // 2 + 1])  # the module's crops, on one input row → 2 rows
        out = self._out(y, y.shape[1], level, (2 * t.buf.shape[2], y.shape[3]))
        out.buf[:, :, r] = y[:, :, r % 2]
        return out

    def _map(self, t: Rows, fn) -> Rows:
        r = self.row(t)
        y = fn(t.buf[:, :, r])
        out = self._out(y, y.shape[1], t.level, t.buf.shape[2:])
        out.buf[:, :, r] = y
        return out

    def dropout(self, module: nn.Dropout, t: Rows) -> Rows:
        return t  # sampling runs in eval mode

    def concat_elu(self, t: Rows) -> Rows:
        return self._map(t, concat_elu)

    def _map2(self, a: Rows, b: Rows, fn) -> Rows:
        r = self.row(a)
        y = fn(a.buf[:, :, r], b.buf[:, :, r])
        out = self._out(y, y.shape[1], a.level, a.buf.shape[2:])
        out.buf[:, :, r] = y
        return out

    def add(self, a: Rows, b: Rows) -> Rows:
        return self._map2(a, b, torch.add)

    def add_bias(self, t: Rows, bias: Tensor) -> Rows:
        return self._map(t, lambda v: v + bias[:, :, None])

    def gate_residual(self, x: Rows, c: Rows) -> Rows:
        return self._map2(x, c, gate_residual)


class Pixels:
    """A feature map at one resolution level held by :class:`PixelOps`: its value at the
    current position (``y`` [n, F]) and, for maps that a window, shift or up-sampling reads,
    every position so far, channels last with one zero row above and one zero column to the
    left: ``buf`` [n, H' + 1, W' + 1, F], position (i, j) at [:, i + 1, j + 1]."""

    def __init__(self, y: Tensor, level: int) -> None:
        self.y, self.level = y, level
        self.buf: Tensor | None = None
        self.at = (0, 0)


class PixelOps(Ops):
    """The ul stream evaluated at one position per resolution: at generation pixel (h, w),
    position (h >> l, w >> l) of every level-l map — computed only when (h, w) is that
    position's first pixel (h and w multiples of 2^l), since it depends on no later pixel,
    and read from the cache at the other pixels of its 2^l × 2^l block. ul's convolutions look
    up and left only, so every window reads final cached positions; the u stream is read from
    the :class:`RowOps` maps (:class:`Rows`). Memory: the ul maps that are read spatially, at
    most one forward pass's maps at batch n.
    """

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width  # the padded image
        self.slots: list[Pixels] = []
        self.index = 0
        self.h = self.w = 0
        self.weights: dict[int, tuple[Tensor, Tensor | None]] = {}

    def begin(self, h: int, w: int) -> None:
        self.h, self.w, self.index = h, w, 0

    def pos(self, level: int) -> tuple[int, int]:
        return self.h >> level, self.w >> level

    def value(self, t: Pixels | Rows) -> Tensor:
        """t at the current position of its level: [n, F] (a Pixels map was computed there in
        this pass, as every op of an active level is)."""
        if isinstance(t, Rows):
            i, j = self.pos(t.level)
            return t.buf[:, :, i, j]
        return t.y

    def _put(self, level: int, compute) -> Pixels:
        """The next slot; at a position's first pixel, ``compute()`` [n, F] is its new value."""
        out = self.slots[self.index] if self.index < len(self.slots) else None
        self.index += 1
        if (self.h | self.w) & ((1 << level) - 1):
            return out  # computed at the first pixel of this position's block (always visited first)
        y = compute()
        if out is None:
            out = Pixels(y, level)
            self.slots.append(out)
        out.y, out.at = y, self.pos(level)
        if out.buf is not None:
            out.buf[:, out.at[0] + 1, out.at[1] + 1] = y
        return out

    def stored(self, t: Pixels) -> Tensor:
        """t's buffer of every position so far; from the first spatial read on, ``_put`` keeps it
        (the first pass, at pixel (0, 0), makes every read of the graph)."""
        if t.buf is None:
            n, f = t.y.shape
            t.buf = t.y.new_zeros(n, (self.height >> t.level) + 1, (self.width >> t.level) + 1, f)
            t.buf[:, t.at[0] + 1, t.at[1] + 1] = t.y
        return t.buf

    def _matrix(self, module: nn.Module) -> tuple[Tensor, Tensor | None]:
        """A convolution's weight as a matrix [window · in, out] matching :meth:`_window`."""
        key = id(module)
        if key not in self.weights:
            w = module.weight
            self.weights[key] = (w.permute(2, 3, 1, 0).reshape(-1, w.shape[0]).contiguous(), module.bias)
        return self.weights[key]

    def _window(self, t: Pixels, top: int, left: int, fh: int, fw: int) -> Tensor:
        """Positions rows top..top+fh−1, columns left..left+fw−1 of t (−1: the zero border): [n, fh·fw·F]."""
        buf = self.stored(t)
        return buf[:, top + 1 : top + 1 + fh, left + 1 : left + 1 + fw].reshape(buf.shape[0], -1)

    def _linear(self, module: nn.Module, x: Tensor) -> Tensor:
        weight, bias = self._matrix(module)
        return x @ weight if bias is None else torch.addmm(bias, x, weight)

    def conv(self, module: nn.Conv2d, t: Pixels | Rows) -> Pixels:
        fh, fw = module.kernel_size
        if (fh, fw) == (1, 1):
            return self._put(t.level, lambda: self._linear(module, self.value(t)))
        stride = module.stride[0]
        level = t.level + (stride == 2)

        def compute() -> Tensor:
            i, j = self.pos(level)
            if stride == 2:  # output (i, j) reads input rows 2i−1..2i, columns 2j−1..2j
                return self._linear(module, self._window(t, 2 * i - 1, 2 * j - 1, 2, 2))
            return self._linear(module, self._window(t, i - fh + 1, j - fw + 1, fh, fw))

        return self._put(level, compute)

    def right_shifted_conv(self, module: nn.Conv2d, t: Pixels) -> Pixels:
        fh, fw = module.kernel_size

        def compute() -> Tensor:
            i, j = self.pos(t.level)
            y = self._linear(module, self._window(t, i - fh + 1, j - fw, fh, fw))  # the output at (i, j − 1)
            return y if j > 0 else torch.zeros_like(y)

        return self._put(t.level, compute)

    def deconv(self, module: nn.ConvTranspose2d, t: Pixels) -> Pixels:
        level = t.level - 1

        def compute() -> Tensor:
            a, b = self.pos(level)  # output (a, b) reads input (a // 2, b // 2) through tap (a % 2, b % 2)
            return torch.addmm(
                module.bias, self.stored(t)[:, a // 2 + 1, b // 2 + 1], module.weight[:, :, a % 2, b % 2]
            )

        return self._put(level, compute)

    def dropout(self, module: nn.Dropout, t: Pixels) -> Pixels:
        return t  # sampling runs in eval mode

    def concat_elu(self, t: Pixels | Rows) -> Pixels:
        return self._put(t.level, lambda: concat_elu(self.value(t)))

    def elu(self, t: Pixels) -> Pixels:
        return self._put(t.level, lambda: F.elu(self.value(t)))

    def add(self, a: Pixels | Rows, b: Pixels) -> Pixels:
        return self._put(b.level, lambda: self.value(a) + self.value(b))

    def cat(self, a: Pixels | Rows, b: Pixels) -> Pixels:
        return self._put(b.level, lambda: torch.cat([self.value(a), self.value(b)], dim=1))

    def add_bias(self, t: Pixels, bias: Tensor) -> Pixels:
        return self._put(t.level, lambda: self.value(t) + bias)

    def gate_residual(self, x: Pixels, c: Pixels) -> Pixels:
        return self._put(x.level, lambda: gate_residual(self.value(x), self.value(c)))


class PixelCNNPPSampler(ColumnSampler):
    """Fast exact sampling for :class:`PixelCNNPP`: the u stream one row per resolution at the
    start of each image row (:class:`RowOps`), the ul stream one position per resolution at
    each pixel (:class:`PixelOps`), a level-l position only at the first pixel of its block —
    so the strided layers run on one pixel in 4 or 16. The parameters at a pixel depend on
    none of its sub-pixels (the channel dependence lives in the mixture), so a pixel's column
    is computed once, not per channel. Memory: one forward pass's maps at batch n.
    """

    def __init__(self, model: PixelCNNPP, n: int, cond: Tensor | None) -> None:
        super().__init__(model)
        self.u_biases, self.ul_biases = model.stream_biases(cond)
        dtype, device = self.dtype, model.device
        _, H, W = model.image_shape
        zeros = torch.zeros(n, self.C, H, W, dtype=dtype, device=device)
        self.rows = RowOps()
        self.row_input = Rows(model.padded_input(zeros), 0)  # the image, one finished row at a time
        Hp, Wp = self.row_input.buf.shape[2:]
        self.ops = PixelOps(Hp, Wp)
        self.input = Pixels(torch.zeros(n, self.C + 1, dtype=dtype, device=device), 0)
        self.input.buf = torch.zeros(n, Hp + 1, Wp + 1, self.C + 1, dtype=dtype, device=device)
        self.feeds: list[Rows] = []
        self.rows_done = 0  # image rows whose u stream has been computed
        self.cached: tuple[int, Tensor | None] = (-1, None)

    def write_input(self, x: Tensor, front: Front) -> None:
        h, w = front.pixel
        self.input.buf[:, h + 1, w + 1, : self.C] = self.pixels(x, front)
        self.input.buf[:, h + 1, w + 1, self.C] = 1.0  # inside the image

    def column(self, x: Tensor, front: Front, c: int) -> Tensor:
        if front.t != self.cached[0]:
            self.cached = (front.t, self._params(x, front))
        elif c == self.C - 1:
            self.write_input(x, front)  # the pixel's channels known by now, for the pixels after it
        return self.cached[1]  # the mixture's conditionals all read every parameter

    def _params(self, x: Tensor, front: Front) -> Tensor:
        h, w = front.pixel
        while self.rows_done <= h:
            r = self.rows_done
            if r > 0:
                self.row_input.buf[:, : self.C, r - 1, : self.W] = self.model.scale(x[:, :, r - 1])
            self.rows.begin(r)
            self.feeds = self.model.u_stream(self.rows, self.row_input, self.u_biases)
            self.rows_done += 1
        self.write_input(x, front)
        self.ops.begin(h, w)
        return self.ops.value(self.model.ul_stream(self.ops, self.input, self.feeds, self.ul_biases))
