"""The recurrent layers of PixelRNN (van den Oord, Kalchbrenner, Kavukcuoglu, ICML 2016):
Row LSTM (Section 3.1) and Diagonal BiLSTM (Section 3.2), each wrapped in the paper's
residual connection (Section 3.3: 2h features in, an LSTM of h, a 1×1 convolution back to 2h).

Both are vectorised: one recurrence step per row (Row LSTM) or per diagonal (Diagonal BiLSTM),
batched over the row / diagonal and the batch. Gates are σ for i, f, o and tanh for the cell
candidate g; initial states are learned. What a sampler carries from pixel to pixel for each
layer is in :mod:`pixelar.incremental.recurrent`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelar.layers.masked import MaskedConv2d, channel_groups
from pixelar.layers.shifts import down_shift


def lstm_cell(gates: Tensor, cell: Tensor) -> tuple[Tensor, Tensor]:
    """gates [B, 4h, ...] as (i, f, o, g), previous cell state [B, h, ...] → (hidden, cell)."""
    i, f, o, g = gates.chunk(4, dim=1)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell


def gate_groups(hidden_size: int, num_colors: int) -> Tensor:
    """Colour groups of the 4h gate maps: each of i, f, o, g grouped like the h state features."""
    return torch.cat([channel_groups(hidden_size, num_colors)] * 4)


class RecurrentLayer(nn.Module):
    """A PixelRNN layer with its residual connection: ``forward(x, image)`` maps the residual
    stream x [B, 2h, H, W] to the same shape; ``image`` [B, C, H, W] is the scaled input image,
    which a layer may read where its output cannot see the current pixel (see
    :class:`DiagonalBiLSTMLayer`). ``hidden_size`` is h, the LSTM state size."""

    hidden_size: int

    def forward(self, x: Tensor, image: Tensor) -> Tensor:
        raise NotImplementedError


class RowLSTMLayer(RecurrentLayer):
    """Row LSTM with a residual connection. Shapes: [B, 2h, H, W] → [B, 2h, H, W].

    Input-to-state: a masked 1×k convolution along the row (mask B, colour groups), for the
    whole map at once. State-to-state: a 1×k convolution over the previous row's hidden state.
    The receptive field is the triangle above the pixel (plus the pixels to its left); the
    image is not read, and ``first`` (the PixelRNN layers' common signature) changes nothing.
    """

    def __init__(self, hidden_size: int, num_colors: int, first: bool = False, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.input_to_state = MaskedConv2d(
            2 * hidden_size,
            4 * hidden_size,
            (1, kernel_size),
            "B",
            num_colors,
            out_groups=gate_groups(hidden_size, num_colors),
        )
        self.state_to_state = nn.Conv1d(hidden_size, 4 * hidden_size, kernel_size, padding=kernel_size // 2)
        self.h0 = nn.Parameter(torch.zeros(hidden_size))
        self.c0 = nn.Parameter(torch.zeros(hidden_size))
        self.output = MaskedConv2d(hidden_size, 2 * hidden_size, 1, "B", num_colors)

    def initial_state(self, batch: int, width: int) -> tuple[Tensor, Tensor]:
        """The learned (hidden, cell) state above row 0: [batch, h, width] each."""
        return self.h0[None, :, None].expand(batch, -1, width), self.c0[None, :, None].expand(batch, -1, width)

    def forward(self, x: Tensor, image: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        gates_in = self.input_to_state(x)
        hidden, cell = self.initial_state(batch, width)
        rows = []
        for row in range(height):
            hidden, cell = lstm_cell(gates_in[:, :, row] + self.state_to_state(hidden), cell)
            rows.append(hidden)
        return x + self.output(torch.stack(rows, dim=2))


def skew(x: Tensor) -> Tensor:
    """[B, F, H, W] → [B, F, H, H + W − 1]: row r shifted right by r (zeros elsewhere)."""
    batch, features, height, width = x.shape
    out = x.new_zeros(batch, features, height, height + width - 1)
    rows = torch.arange(height, device=x.device)[:, None]
    cols = torch.arange(width, device=x.device)[None, :] + rows
    out[:, :, rows, cols] = x
    return out


def unskew(x: Tensor, width: int) -> Tensor:
    """Inverse of :func:`skew`: [B, F, H, H + W − 1] → [B, F, H, W]."""
    height = x.shape[2]
    rows = torch.arange(height, device=x.device)[:, None]
    cols = torch.arange(width, device=x.device)[None, :] + rows
    return x[:, :, rows, cols]


class DiagonalLSTM(nn.Module):
    """One direction of the Diagonal BiLSTM, left to right: the state at (r, c) comes from the
    states at (r, c−1) and (r−1, c) through a column-wise 2×1 convolution in skewed space,
    whose only padding is one zero row on top (it never lets the next row in). The state left
    of column 0 is the learned (h0, c0). Shapes: [B, 2h, H, W] → hidden states [B, h, H, W].
    """

    def __init__(self, hidden_size: int, num_colors: int, image_to_state: bool = False) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.input_to_state = MaskedConv2d(
            2 * hidden_size, 4 * hidden_size, 1, "B", num_colors, out_groups=gate_groups(hidden_size, num_colors)
        )
        # Only for a direction whose output is shifted down a row: it may see whole pixels.
        self.image_to_state = nn.Conv2d(num_colors, 4 * hidden_size, 1, bias=False) if image_to_state else None
        self.state_to_state = nn.Conv1d(hidden_size, 4 * hidden_size, 2)  # kernel [above, same row]
        self.h0 = nn.Parameter(torch.zeros(hidden_size))
        self.c0 = nn.Parameter(torch.zeros(hidden_size))

    def gates_in(self, x: Tensor, image: Tensor) -> Tensor:
        """Input-to-state gates [B, 4h, H, W] (plus the raw pixels' share where enabled)."""
        gates = self.input_to_state(x)
        if self.image_to_state is not None:
            gates = gates + self.image_to_state(image)
        return gates

    def forward(self, x: Tensor, image: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        gates_in = skew(self.gates_in(x, image))  # [B, 4h, H, H+W-1]
        h0 = self.h0[None, :, None].expand(batch, -1, height)
        c0 = self.c0[None, :, None].expand(batch, -1, height)
        hidden, cell = h0, c0
        rows = torch.arange(height, device=x.device)[None, None, :]
        columns = []
        for t in range(height + width - 1):
            gates = gates_in[:, :, :, t] + self.state_to_state(F.pad(hidden, (1, 0)))
            hidden, cell = lstm_cell(gates, cell)
            before = rows > t  # left of column 0 in this diagonal: hold the initial state
            hidden, cell = torch.where(before, h0, hidden), torch.where(before, c0, cell)
            columns.append(hidden)
        return unskew(torch.stack(columns, dim=3), width)


class DiagonalBiLSTMLayer(RecurrentLayer):
    """Diagonal BiLSTM with a residual connection (Section 3.2). Shapes: [B, 2h, H, W] → same.

    The right-to-left direction runs on the mirrored map; its output is shifted down one row
    before it is added to the left-to-right output, so no position sees its own row's future.

    The whole context: behind a 7×7 mask-A input layer the last pixels of a row reach no
    feature of their own row, so neither direction could carry them to the start of the next
    row (a blind spot the paper does not discuss). The ``first`` layer therefore also feeds the
    raw pixels (the scaled image) to its right-to-left direction through a 1×1 convolution —
    legitimate because that direction's output is shifted down a row.
    """

    def __init__(self, hidden_size: int, num_colors: int, first: bool = False) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.first = first
        self.forward_lstm = DiagonalLSTM(hidden_size, num_colors)
        self.backward_lstm = DiagonalLSTM(hidden_size, num_colors, image_to_state=first)
        self.output = MaskedConv2d(hidden_size, 2 * hidden_size, 1, "B", num_colors)

    def forward(self, x: Tensor, image: Tensor) -> Tensor:
        left = self.forward_lstm(x, image)
        right = self.backward_lstm(x.flip(3), image.flip(3)).flip(3)
        return x + self.output(left + down_shift(right))
