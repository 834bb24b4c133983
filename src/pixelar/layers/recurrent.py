"""The recurrent layers of PixelRNN (van den Oord, Kalchbrenner, Kavukcuoglu, ICML 2016):
Row LSTM (Section 3.1) and Diagonal BiLSTM (Section 3.2), each wrapped in the paper's
residual connection (Section 3.3: 2h features in, an LSTM of h, a 1×1 convolution back to 2h).

Both are vectorised: one recurrence step per row (Row LSTM) or per diagonal (Diagonal BiLSTM),
batched over the row / diagonal and the batch. Gates are σ for i, f, o and tanh for the cell
candidate g; initial states are learned. Each layer also offers ``incremental(n, H, W)``, the
state an exact sampler carries from pixel to pixel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelar.layers.masked import IncrementalConv, MaskedConv2d, apply_pointwise, channel_groups, pointwise

if TYPE_CHECKING:
    from pixelar.sampling import Front


def lstm_cell(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """gates [B, 4h, ...] as (i, f, o, g), previous cell c [B, h, ...] → (h, c)."""
    i, f, o, g = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gate_groups(h: int, num_colors: int) -> Tensor:
    """Colour groups of the 4h gate maps: each of i, f, o, g grouped like the h state features."""
    return torch.cat([channel_groups(h, num_colors)] * 4)


class RowLSTMLayer(nn.Module):
    takes_image = False

    """Row LSTM with a residual connection. Shapes: [B, 2h, H, W] → [B, 2h, H, W].

    Input-to-state: a masked 1×k convolution along the row (mask B, colour groups), for the
    whole map at once. State-to-state: a 1×k convolution over the previous row's hidden state.
    The receptive field is the triangle above the pixel (plus the pixels to its left).
    """

    def __init__(self, hidden: int, num_colors: int, first: bool = False, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden = hidden
        self.input_to_state = MaskedConv2d(
            2 * hidden, 4 * hidden, (1, kernel_size), "B", num_colors, out_groups=gate_groups(hidden, num_colors)
        )
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)
        self.h0 = nn.Parameter(torch.zeros(hidden))
        self.c0 = nn.Parameter(torch.zeros(hidden))
        self.output = MaskedConv2d(hidden, 2 * hidden, 1, "B", num_colors)

    def initial_state(self, batch: int, width: int) -> tuple[Tensor, Tensor]:
        return self.h0[None, :, None].expand(batch, -1, width), self.c0[None, :, None].expand(batch, -1, width)

    def forward(self, x: Tensor) -> Tensor:
        B, _, H, W = x.shape
        gates_in = self.input_to_state(x)
        h, c = self.initial_state(B, W)
        rows = []
        for r in range(H):
            h, c = lstm_cell(gates_in[:, :, r] + self.state_to_state(h), c)
            rows.append(h)
        return x + self.output(torch.stack(rows, dim=2))

    def incremental(self, n: int, height: int, width: int) -> RowLSTMState:
        return RowLSTMState(self, n, height, width)


class RowLSTMState:
    """What a sampler carries for one Row LSTM layer: the input map (for the 1×k convolution),
    the previous row's h and c, and the current row's h and c: n·(2h·H·(W+k−1) + 4h·W) values."""

    def __init__(self, layer: RowLSTMLayer, n: int, height: int, width: int) -> None:
        self.layer = layer
        self.input = IncrementalConv(layer.input_to_state, n, height, width)
        self.output = pointwise(layer.output)
        h0, c0 = layer.initial_state(n, width)
        self.h_above, self.c_above = h0.clone(), c0.clone()
        self.h_row, self.c_row = h0.clone(), c0.clone()
        self.ss_row = layer.state_to_state(self.h_above)
        self.row = 0

    def next_row(self, image_row: Tensor) -> None:
        """The current row is complete: it becomes the previous row (``image_row`` unused)."""
        self.h_above, self.c_above = self.h_row.clone(), self.c_row.clone()
        self.ss_row = self.layer.state_to_state(self.h_above)
        self.row += 1

    def step(self, value: Tensor, front: Front) -> Tensor:
        """Layer input at the front's one pixel (h, w) [n, 2h] → layer output there [n, 2h]."""
        _, w = front.pixel
        self.input.write(front, value)
        gates = self.input.output(front, value) + self.ss_row[:, :, w]
        hid, cell = lstm_cell(gates, self.c_above[:, :, w])
        self.h_row[:, :, w], self.c_row[:, :, w] = hid, cell
        return value + apply_pointwise(self.output, hid)


def skew(x: Tensor) -> Tensor:
    """[B, F, H, W] → [B, F, H, H + W − 1]: row r shifted right by r (zeros elsewhere)."""
    B, Fe, H, W = x.shape
    out = x.new_zeros(B, Fe, H, H + W - 1)
    rows = torch.arange(H, device=x.device)[:, None]
    cols = torch.arange(W, device=x.device)[None, :] + rows
    out[:, :, rows, cols] = x
    return out


def unskew(x: Tensor, width: int) -> Tensor:
    """Inverse of :func:`skew`: [B, F, H, H + W − 1] → [B, F, H, W]."""
    H = x.shape[2]
    rows = torch.arange(H, device=x.device)[:, None]
    cols = torch.arange(width, device=x.device)[None, :] + rows
    return x[:, :, rows, cols]


class DiagonalLSTM(nn.Module):
    """One direction of the Diagonal BiLSTM, left to right: the state at (r, c) comes from the
    states at (r, c−1) and (r−1, c) through a column-wise 2×1 convolution in skewed space,
    whose only padding is one zero row on top (it never lets the next row in). The state left
    of column 0 is the learned (h0, c0). Shapes: [B, 2h, H, W] → h [B, h, H, W].
    """

    def __init__(self, hidden: int, num_colors: int, image_to_state: bool = False) -> None:
        super().__init__()
        self.hidden = hidden
        self.input_to_state = MaskedConv2d(
            2 * hidden, 4 * hidden, 1, "B", num_colors, out_groups=gate_groups(hidden, num_colors)
        )
        # Only for a direction whose output is shifted down a row: it may see whole pixels.
        self.image_to_state = nn.Conv2d(num_colors, 4 * hidden, 1, bias=False) if image_to_state else None
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 2)  # kernel [above, same row]
        self.h0 = nn.Parameter(torch.zeros(hidden))
        self.c0 = nn.Parameter(torch.zeros(hidden))

    def gates_in(self, x: Tensor, image: Tensor | None) -> Tensor:
        """Input-to-state gates [B, 4h, H, W] (plus the raw pixels' share where enabled)."""
        gates = self.input_to_state(x)
        if self.image_to_state is not None:
            gates = gates + self.image_to_state(image)
        return gates

    def forward(self, x: Tensor, image: Tensor | None = None) -> Tensor:
        B, _, H, W = x.shape
        gates_in = skew(self.gates_in(x, image))  # [B, 4h, H, H+W-1]
        h0 = self.h0[None, :, None].expand(B, -1, H)
        c0 = self.c0[None, :, None].expand(B, -1, H)
        h, c = h0, c0
        rows = torch.arange(H, device=x.device)[None, None, :]
        columns = []
        for t in range(H + W - 1):
            gates = gates_in[:, :, :, t] + self.state_to_state(F.pad(h, (1, 0)))
            h, c = lstm_cell(gates, c)
            before = rows > t  # left of column 0 in this diagonal: hold the initial state
            h, c = torch.where(before, h0, h), torch.where(before, c0, c)
            columns.append(h)
        return unskew(torch.stack(columns, dim=3), W)

    def cell_at(self, gates_in: Tensor, h_above: Tensor, h_left: Tensor, c_left: Tensor) -> tuple[Tensor, Tensor]:
        """The recurrence at one position: input gates [n, 4h], neighbours' states [n, h]."""
        w = self.state_to_state.weight
        gates = gates_in + h_above @ w[:, :, 0].T + h_left @ w[:, :, 1].T + self.state_to_state.bias
        return lstm_cell(gates, c_left)


class DiagonalBiLSTMLayer(nn.Module):
    """Diagonal BiLSTM with a residual connection (Section 3.2). Shapes: [B, 2h, H, W] → same.

    The right-to-left direction runs on the mirrored map; its output is shifted down one row
    before it is added to the left-to-right output, so no position sees its own row's future.

    The whole context: behind a 7×7 mask-A input layer the last pixels of a row reach no
    feature of their own row, so neither direction could carry them to the start of the next
    row (a blind spot the paper does not discuss). The ``first`` layer therefore also feeds the
    raw pixels (scaled image [B, C, H, W]) to its right-to-left direction through a 1×1
    convolution — legitimate because that direction's output is shifted down a row.
    """

    takes_image = True

    def __init__(self, hidden: int, num_colors: int, first: bool = False) -> None:
        super().__init__()
        self.hidden = hidden
        self.first = first
        self.forward_lstm = DiagonalLSTM(hidden, num_colors)
        self.backward_lstm = DiagonalLSTM(hidden, num_colors, image_to_state=first)
        self.output = MaskedConv2d(hidden, 2 * hidden, 1, "B", num_colors)

    def forward(self, x: Tensor, image: Tensor | None = None) -> Tensor:
        left = self.forward_lstm(x)
        right = self.backward_lstm(x.flip(3), None if image is None else image.flip(3)).flip(3)
        right = F.pad(right, (0, 0, 1, 0))[:, :, :-1]  # shift down one row
        return x + self.output(left + right)

    def incremental(self, n: int, height: int, width: int) -> DiagonalBiLSTMState:
        return DiagonalBiLSTMState(self, n, height, width)


class DiagonalBiLSTMState:
    """What a sampler carries for one Diagonal BiLSTM layer: the layer input map, both
    directions' h and c maps: n·(2h + 4h)·H·W values. The left-to-right state is advanced one
    pixel at a time; the right-to-left state of a row once the row is complete."""

    def __init__(self, layer: DiagonalBiLSTMLayer, n: int, height: int, width: int) -> None:
        self.layer = layer
        hid = layer.hidden
        like = layer.output.weight
        self.x = like.new_zeros(n, 2 * hid, height, width)
        self.h_l = like.new_zeros(n, hid, height, width)
        self.c_l = like.new_zeros(n, hid, height, width)
        self.h_r = like.new_zeros(n, hid, height, width)
        self.c_r = like.new_zeros(n, hid, height, width)
        self.is_l = pointwise(layer.forward_lstm.input_to_state)
        self.output = pointwise(layer.output)
        self.n, self.width = n, width
        self.row = 0

    def _init(self, lstm: DiagonalLSTM) -> tuple[Tensor, Tensor]:
        return lstm.h0.expand(self.n, -1), lstm.c0.expand(self.n, -1)

    def next_row(self, image_row: Tensor) -> None:
        """Row ``self.row`` is complete (its scaled pixels ``image_row`` [n, C, W]): run its
        right-to-left recurrence."""
        r, lstm = self.row, self.layer.backward_lstm
        gates_in = lstm.gates_in(self.x[:, :, r : r + 1], image_row.unsqueeze(2))[:, :, 0].transpose(1, 2)
        h, c = self._init(lstm)
        for w in reversed(range(self.width)):
            above = self.h_r[:, :, r - 1, w] if r > 0 else torch.zeros_like(h)
            h, c = lstm.cell_at(gates_in[:, w], above, h, c)
            self.h_r[:, :, r, w], self.c_r[:, :, r, w] = h, c
        self.row += 1

    def step(self, value: Tensor, front: Front) -> Tensor:
        """Layer input at the front's one pixel (h, w) [n, 2h] → layer output there [n, 2h]."""
        h, w = front.pixel
        lstm = self.layer.forward_lstm
        self.x[:, :, h, w] = value
        above = self.h_l[:, :, h - 1, w] if h > 0 else torch.zeros_like(value[:, : lstm.hidden])
        if w > 0:
            left_h, left_c = self.h_l[:, :, h, w - 1], self.c_l[:, :, h, w - 1]
        else:
            left_h, left_c = self._init(lstm)
        hid, cell = lstm.cell_at(apply_pointwise(self.is_l, value), above, left_h, left_c)
        self.h_l[:, :, h, w], self.c_l[:, :, h, w] = hid, cell
        right = self.h_r[:, :, h - 1, w] if h > 0 else torch.zeros_like(hid)
        return value + apply_pointwise(self.output, hid + right)
