"""Fast exact sampling for :class:`~pixelar.models.pixelcnn_pp.PixelCNNPP`: its graph (``u_stream``,
``ul_stream``) evaluated by two more implementations of its Evaluator: the u stream
one row per resolution (:class:`RowEvaluator`), ul one position per resolution (:class:`PositionEvaluator`).

Resolution levels: level l holds maps 2^l times smaller than the padded image (0, 1, 2). A map
that an op reads at other rows or positions than the current one (the input of a convolution
wider than 1×1, of a shift; at positions also of an up-sampling) is cached under the module
that reads it — each module reads one map per evaluation; every other map lives only until
the next op has read it. The image is given whole, written by the sampler as pixels finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelar.incremental import ColumnSampler, Front, Pointwise, SampledModel, conv_matrix
from pixelar.layers.gated_resnet import Evaluator, concat_elu, gate_residual
from pixelar.layers.shifts import DownRightShiftedConv2d, DownRightShiftedDeconv2d, DownShiftedConv2d, right_shift

Map = TypeVar("Map")


class Streams(SampledModel, Protocol):
    """What the sampler reads of :class:`~pixelar.models.pixelcnn_pp.PixelCNNPP`: its graph,
    written once over an :class:`~pixelar.layers.gated_resnet.Evaluator`, and its inputs."""

    def padded_input(self, x: Tensor) -> Tensor: ...

    def stream_biases(self, cond: Tensor | None) -> tuple[list[Tensor | None], list[Tensor | None]]: ...

    def u_stream(self, ops: Evaluator[Map], image: Map, biases: Sequence[Tensor | None]) -> list[Map]: ...

    def ul_stream(
        self, ops: Evaluator[Map], image: Map, u_outs: Sequence[Map], biases: Sequence[Tensor | None]
    ) -> Map: ...


def column_padding(module: nn.Conv2d) -> tuple[int, int]:
    """The columns left and right of output column j that ``module`` reads: a down-right-shifted
    convolution kw − 1 and 0, a down-shifted one (kw − 1)/2 each, a 1×1 none."""
    kw = module.kernel_size[1]
    if isinstance(module, DownRightShiftedConv2d):
        return kw - 1, 0
    if isinstance(module, DownShiftedConv2d):
        return (kw - 1) // 2, (kw - 1) // 2
    if kw != 1:
        raise RuntimeError(f"a {type(module).__name__} is not a shifted convolution")
    return 0, 0


@dataclass(slots=True)
class Row:
    """A u-stream map at generation row r: its row r >> level, ``value`` [batch, F, W'].
    ``whole``: a map given whole instead of computed (the image), [batch, F, H', W'], its rows
    final above the current one (H', W': the map's size at its level)."""

    level: int
    value: Tensor
    whole: Tensor | None = None


class RowEvaluator:
    """The u stream one row per resolution: at generation row r, row r >> l of every level-l
    map. u looks neither down nor at its own row of the image, so at the start of an
    image row (the rows above final) the rows it computes are final; the rows above them are
    read from the caches. Memory: the input of each u convolution wider than 1×1, whole at its
    level (2·hidden_channels per gated layer's convolution), under half of one forward pass.
    """

    def __init__(self, height: int) -> None:
        self.height = height  # the padded image's
        self.row = 0
        self.caches: dict[nn.Module, Tensor] = {}

    def begin(self, row: int) -> None:
        self.row = row

    def stored(self, module: nn.Module, fmap: Row) -> Tensor:
        """``fmap``, every row so far, as ``module`` reads it: given whole, or cached under ``module``
        with ``fmap``'s current row written: [batch, F, H', W']."""
        if fmap.whole is not None:
            return fmap.whole
        cache = self.caches.get(module)
        if cache is None:
            batch, features, width = fmap.value.shape
            cache = self.caches[module] = fmap.value.new_zeros(batch, features, self.height >> fmap.level, width)
        cache[:, :, self.row >> fmap.level] = fmap.value
        return cache

    def conv_row(self, module: nn.Conv2d, rows: Tensor, out_row: int) -> Tensor:
        """Output row ``out_row`` of ``module`` (stride 1 or 2) on the map ``rows``: [batch, F', W']."""
        kh = module.kernel_size[0]
        last = module.stride[0] * out_row
        window = rows[:, :, max(last - kh + 1, 0) : last + 1]  # zeros above row 0
        window = F.pad(window, (*column_padding(module), max(kh - 1 - last, 0), 0))
        return F.conv2d(window, module.weight, module.bias, stride=module.stride)[:, :, -1]

    def conv(self, module: nn.Conv2d, fmap: Row) -> Row:
        if module.kernel_size == (1, 1):
            return Row(fmap.level, F.conv2d(fmap.value[:, :, None], module.weight, module.bias)[:, :, 0])
        level = fmap.level + (module.stride[0] == 2)
        return Row(level, self.conv_row(module, self.stored(module, fmap), self.row >> level))

    def down_shifted_conv(self, module: nn.Conv2d, fmap: Row) -> Row:
        level = fmap.level + (module.stride[0] == 2)
        rows, out_row = self.stored(module, fmap), self.row >> level
        y = self.conv_row(module, rows, max(out_row - 1, 0))
        return Row(level, y if out_row > 0 else torch.zeros_like(y))

    def right_shifted_conv(self, module: nn.Conv2d, fmap: Row) -> Row:
        level = fmap.level + (module.stride[0] == 2)
        y = self.conv_row(module, self.stored(module, fmap), self.row >> level)
        return Row(level, right_shift(y[:, :, None])[:, :, 0])

    def deconv(self, module: nn.ConvTranspose2d, fmap: Row) -> Row:
        level = fmap.level - 1  # output row r reads input row r // 2, the current one
        return Row(level, module(fmap.value[:, :, None])[:, :, (self.row >> level) % 2])

    def dropout(self, module: nn.Dropout, fmap: Row) -> Row:
        return fmap  # sampling runs in eval mode

    def concat_elu(self, fmap: Row) -> Row:
        return Row(fmap.level, concat_elu(fmap.value))

    def elu(self, fmap: Row) -> Row:
        return Row(fmap.level, F.elu(fmap.value))

    def add(self, a: Row, b: Row) -> Row:
        return Row(a.level, a.value + b.value)

    def cat(self, a: Row, b: Row) -> Row:
        return Row(a.level, torch.cat([a.value, b.value], dim=1))

    def add_bias(self, fmap: Row, bias: Tensor) -> Row:
        return Row(fmap.level, fmap.value + bias[:, :, None])

    def gate_residual(self, x: Row, gates: Row) -> Row:
        return Row(x.level, gate_residual(x.value, gates.value))


@dataclass(slots=True)
class Here:
    """A ul-stream map at the current position of its level: at generation pixel (row, col),
    position (row >> level, col >> level). ``value`` [batch, F], or None where the pixel does
    not compute that level (:meth:`PositionEvaluator.active`). ``whole``: a map given whole
    instead of computed (the image), in the layout of :meth:`PositionEvaluator.blank`."""

    level: int
    value: Tensor | None
    whole: Tensor | None = None


@dataclass(slots=True)
class Window:
    """A convolution read at one position: its weight as a matrix (:func:`conv_matrix`) on its
    input window, kh × kw positions, columns from ``left`` before the position to ``right`` after."""

    matrix: Pointwise
    kh: int
    kw: int
    left: int
    right: int
    stride: int

    @classmethod
    def of(cls, module: nn.Conv2d) -> Window:
        (kh, kw), (left, right) = module.kernel_size, column_padding(module)
        if kh > 2 or left > 1 or right > 1:  # the one-position border of PositionEvaluator.blank
            raise RuntimeError(f"a {kh}×{kw} window is not read at positions")
        return cls(Pointwise(conv_matrix(module.weight), module.bias), kh, kw, left, right, module.stride[0])

    def at(self, positions: Tensor, i: int, j: int) -> Tensor:
        """The output at (i, j) given the input map ``positions`` (:meth:`PositionEvaluator.blank`)."""
        top, left = self.stride * i - self.kh + 2, self.stride * j - self.left + 1
        window = positions[:, top : top + self.kh, left : left + self.kw]
        return self.matrix(window.reshape(positions.shape[0], -1))


class PositionEvaluator:
    """The ul stream one position per resolution: at generation pixel (row, col), position
    (row >> l, col >> l) of every level-l map — computed only at the first pixel of its
    2^l × 2^l block (:meth:`active`) and read from the caches at the others. ul's convolutions
    look up and left only, so every window reads final cached positions; u is read from the
    :class:`RowEvaluator` rows (:meth:`from_row`). Memory: the input of each ul convolution
    wider than 1×1 and of each up-sampling, whole at its level, under half of one forward pass.
    """

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width  # the padded image's
        self.row = self.col = 0
        self.caches: dict[nn.Module, Tensor] = {}
        self.windows: dict[nn.Module, Window] = {}
        self.taps: dict[nn.Module, list[list[Pointwise]]] = {}

    def begin(self, row: int, col: int) -> None:
        self.row, self.col = row, col

    def active(self, level: int) -> bool:
        """Whether this pixel computes the current level-``level`` position: only its block's
        first pixel (row and column multiples of 2^level) does. A position depends on no pixel of
        its block, and the block's first pixel comes first, so the value is final there."""
        block = 1 << level
        return self.row % block == 0 and self.col % block == 0

    def blank(self, level: int, features: int, like: Tensor) -> Tensor:
        """A zero level-``level`` map, channels last with a zero border of one position above,
        left and right (the windows here are at most 2 × 3): [batch, H' + 1, W' + 2, F],
        position (i, j) at [:, i + 1, j + 1]."""
        return like.new_zeros(like.shape[0], (self.height >> level) + 1, (self.width >> level) + 2, features)

    def stored(self, module: nn.Module, fmap: Here) -> Tensor:
        """``fmap``, every position so far, as ``module`` reads it: given whole, or cached under
        ``module`` with ``fmap``'s value written where this pixel computes it."""
        if fmap.whole is not None:
            return fmap.whole
        cache = self.caches.get(module)
        if fmap.value is not None:
            if cache is None:
                cache = self.caches[module] = self.blank(fmap.level, fmap.value.shape[1], fmap.value)
            cache[:, (self.row >> fmap.level) + 1, (self.col >> fmap.level) + 1] = fmap.value
        assert cache is not None, "pixel (0, 0) computes every level"
        return cache

    def from_row(self, u: Row) -> Here:
        """A u-stream map computed by rows, at the current position of its level."""
        return Here(u.level, u.value[:, :, self.col >> u.level] if self.active(u.level) else None)

    def _window(self, module: nn.Conv2d) -> Window:
        window = self.windows.get(module)
        if window is None:
            window = self.windows[module] = Window.of(module)
        return window

    def _shifted(self, module: nn.Conv2d, fmap: Here, down: int, right: int) -> Here:
        """``module`` on ``fmap``, moved ``down`` rows and ``right`` columns (zeros entering): its output
        at (i − down, j − right) for the current position (i, j) of its level."""
        window, positions = self._window(module), self.stored(module, fmap)
        level = fmap.level + (window.stride == 2)
        if not self.active(level):
            return Here(level, None)
        i, j = (self.row >> level) - down, (self.col >> level) - right
        if i < 0 or j < 0:
            return Here(level, positions.new_zeros(positions.shape[0], module.out_channels))
        return Here(level, window.at(positions, i, j))

    def conv(self, module: nn.Conv2d, fmap: Here) -> Here:
        window = self._window(module)
        if window.kh == window.kw == 1:
            return fmap if fmap.value is None else Here(fmap.level, window.matrix(fmap.value))
        if window.right:
            raise RuntimeError("a window reaching right of its position is not computed yet in its own row")
        return self._shifted(module, fmap, 0, 0)

    def down_shifted_conv(self, module: nn.Conv2d, fmap: Here) -> Here:
        return self._shifted(module, fmap, 1, 0)

    def right_shifted_conv(self, module: nn.Conv2d, fmap: Here) -> Here:
        return self._shifted(module, fmap, 0, 1)

    def deconv(self, module: nn.ConvTranspose2d, fmap: Here) -> Here:
        """Output (a, b) of a down-right-shifted 2 × 2 up-sampling reads input (a // 2, b // 2)
        through tap (a % 2, b % 2)."""
        taps = self.taps.get(module)
        if taps is None:
            if not isinstance(module, DownRightShiftedDeconv2d) or module.kernel_size != (2, 2):
                raise RuntimeError("only a down-right-shifted 2×2 up-sampling is evaluated at positions")
            weight = module.weight
            taps = [  # tap (a, b) of a transposed convolution [in, out, 2, 2]: a 1×1 convolution in → out
                [
                    Pointwise(conv_matrix(weight[:, :, a : a + 1, b : b + 1].transpose(0, 1)), module.bias)
                    for b in range(2)
                ]
                for a in range(2)
            ]
            self.taps[module] = taps
        positions, level = self.stored(module, fmap), fmap.level - 1
        if not self.active(level):
            return Here(level, None)
        a, b = self.row >> level, self.col >> level
        return Here(level, taps[a % 2][b % 2](positions[:, a // 2 + 1, b // 2 + 1]))

    def dropout(self, module: nn.Dropout, fmap: Here) -> Here:
        return fmap  # sampling runs in eval mode

    def concat_elu(self, fmap: Here) -> Here:
        return fmap if fmap.value is None else Here(fmap.level, concat_elu(fmap.value))

    def elu(self, fmap: Here) -> Here:
        return fmap if fmap.value is None else Here(fmap.level, F.elu(fmap.value))

    def add(self, a: Here, b: Here) -> Here:
        return Here(a.level, None if a.value is None or b.value is None else a.value + b.value)

    def cat(self, a: Here, b: Here) -> Here:
        return Here(a.level, None if a.value is None or b.value is None else torch.cat([a.value, b.value], dim=1))

    def add_bias(self, fmap: Here, bias: Tensor) -> Here:
        return fmap if fmap.value is None else Here(fmap.level, fmap.value + bias)

    def gate_residual(self, x: Here, gates: Here) -> Here:
        return Here(x.level, None if x.value is None or gates.value is None else gate_residual(x.value, gates.value))


class PixelCNNPPSampler(ColumnSampler):
    """Fast exact sampling for :class:`PixelCNNPP`, one pixel per step in raster order: the u
    stream one row per resolution when an image row starts (:class:`RowEvaluator`), the ul
    stream one position per resolution at each pixel (:class:`PositionEvaluator`), a level-l
    position only at the first pixel of its block — so the strided layers run at one pixel in
    4 or 16. The parameters at a pixel depend on none of its sub-pixels (the channel
    dependence lives in the mixture), so a pixel's column is computed once, not per channel.
    Memory: the two evaluators' caches and the image twice: under one forward pass's maps at
    the same batch size.
    """

    def __init__(self, model: Streams, batch: int, cond: Tensor | None) -> None:
        super().__init__(model)
        self.pixelcnn = model
        self.u_biases, self.ul_biases = model.stream_biases(cond)
        zeros = torch.zeros(batch, self.C, self.H, self.W, dtype=self.dtype, device=model.device)
        # The image as u reads it, a row at a time (written when finished): [batch, C + 1, H', W'].
        self.image_rows = model.padded_input(zeros)
        height, width = self.image_rows.shape[2:]
        self.rows = RowEvaluator(height)
        self.positions = PositionEvaluator(height, width)
        # The image as ul reads it, a pixel at a time (PositionEvaluator.blank's layout).
        self.image_positions = self.positions.blank(0, self.C + 1, zeros)
        self.u_rows: list[Row] = []  # u after every gated layer, at the current image row
        self.rows_done = 0  # image rows whose u stream has been computed
        self.params_front, self.params = -1, zeros  # the front whose parameters [batch, P] self.params holds

    def write_input(self, x: Tensor, front: Front) -> None:
        row, col = front.pixel
        self.image_positions[:, row + 1, col + 1, : self.C] = self.pixels(x, front)
        self.image_positions[:, row + 1, col + 1, self.C] = 1.0  # inside the image

    def column(self, x: Tensor, front: Front, c: int) -> Tensor:
        if front.t != self.params_front:
            self.params_front, self.params = front.t, self._params(x, front)
        elif c == self.C - 1:
            # Channels < C − 1 are final now; the last is drawn after this call, and the write is
            # made again with it before the next front (ColumnSampler.conditional), for skipped fronts.
            self.write_input(x, front)
        return self.params  # the mixture's conditionals all read every parameter

    def _params(self, x: Tensor, front: Front) -> Tensor:
        row, col = front.pixel
        while self.rows_done <= row:
            done = self.rows_done
            if done > 0:
                self.image_rows[:, : self.C, done - 1, : self.W] = self.pixelcnn.scale(x[:, :, done - 1])
            self.rows.begin(done)
            image_row = Row(0, self.image_rows[:, :, done], whole=self.image_rows)
            self.u_rows = self.pixelcnn.u_stream(self.rows, image_row, self.u_biases)
            self.rows_done += 1
        self.write_input(x, front)
        self.positions.begin(row, col)
        image_here = Here(0, self.image_positions[:, row + 1, col + 1], whole=self.image_positions)
        u = [self.positions.from_row(u_row) for u_row in self.u_rows]
        params = self.pixelcnn.ul_stream(self.positions, image_here, u, self.ul_biases).value
        assert params is not None, "level 0 is computed at every pixel"
        return params
