"""What a sampler carries from pixel to pixel for each PixelRNN layer
(:mod:`pixelar.layers.recurrent`): the input map and the LSTM states, advanced one pixel at a
time (:meth:`step`) and one finished row at a time (:meth:`next_row`)."""

from __future__ import annotations

import torch
from torch import Tensor

from pixelar.incremental.conv import IncrementalConv, Pointwise, conv_matrix
from pixelar.incremental.schedule import Front
from pixelar.layers.recurrent import DiagonalBiLSTMLayer, DiagonalLSTM, RecurrentLayer, RowLSTMLayer, lstm_cell


class RowLSTMState:
    """One Row LSTM layer: the input map (for the 1×k convolution), the previous row's hidden
    and cell states, and the current row's: batch·(2h·H·(W+k−1) + 4h·W) values."""

    def __init__(self, layer: RowLSTMLayer, batch: int, height: int, width: int) -> None:
        self.layer = layer
        self.input = IncrementalConv(layer.input_to_state, batch, height, width)
        self.output = Pointwise.of(layer.output)
        h0, c0 = layer.initial_state(batch, width)
        self.hidden_above, self.cell_above = h0.clone(), c0.clone()
        self.hidden_row, self.cell_row = h0.clone(), c0.clone()
        self.state_gates = layer.state_to_state(self.hidden_above)  # the row above's share of the gates
        self.row = 0

    def next_row(self, image_row: Tensor) -> None:
        """The current row is complete: it becomes the previous row (``image_row`` unused)."""
        self.hidden_above, self.cell_above = self.hidden_row.clone(), self.cell_row.clone()
        self.state_gates = self.layer.state_to_state(self.hidden_above)
        self.row += 1

    def step(self, value: Tensor, front: Front) -> Tensor:
        """Layer input at the front's one pixel [batch, 2h] → layer output there [batch, 2h]."""
        _, col = front.pixel
        self.input.write(front, value)
        gates = self.input.output(front, value) + self.state_gates[:, :, col]
        hidden, cell = lstm_cell(gates, self.cell_above[:, :, col])
        self.hidden_row[:, :, col], self.cell_row[:, :, col] = hidden, cell
        return value + self.output(hidden)


class DiagonalCell:
    """A :class:`~pixelar.layers.recurrent.DiagonalLSTM`'s recurrence at one position: its
    2×1 state-to-state convolution (taps: the state above, the state to the left) as one matrix."""

    def __init__(self, lstm: DiagonalLSTM) -> None:
        conv = lstm.state_to_state  # weight [4h, h, 2]
        self.state_to_state = Pointwise(conv_matrix(conv.weight[:, :, None, :]), conv.bias)  # [2h, 4h]

    def __call__(
        self, gates_in: Tensor, hidden_above: Tensor, hidden_left: Tensor, cell_left: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Input gates [batch, 4h] and the neighbours' states [batch, h] → (hidden, cell) there."""
        gates = gates_in + self.state_to_state(torch.cat([hidden_above, hidden_left], dim=1))
        return lstm_cell(gates, cell_left)


class DiagonalBiLSTMState:
    """One Diagonal BiLSTM layer: the layer input map, both directions' hidden and cell maps:
    batch·(2h + 4h)·H·W values. The left-to-right state is advanced one pixel at a time; the
    right-to-left state of a row once the row is complete."""

    def __init__(self, layer: DiagonalBiLSTMLayer, batch: int, height: int, width: int) -> None:
        self.layer = layer
        size = layer.hidden_size
        like = layer.output.weight
        self.x = like.new_zeros(batch, 2 * size, height, width)
        self.hidden_left = like.new_zeros(batch, size, height, width)  # the left-to-right direction's
        self.cell_left = like.new_zeros(batch, size, height, width)
        self.hidden_right = like.new_zeros(batch, size, height, width)  # the right-to-left direction's
        self.cell_right = like.new_zeros(batch, size, height, width)
        self.input_to_state_left = Pointwise.of(layer.forward_lstm.input_to_state)
        self.cell_at_left, self.cell_at_right = DiagonalCell(layer.forward_lstm), DiagonalCell(layer.backward_lstm)
        self.output = Pointwise.of(layer.output)
        self.batch, self.width = batch, width
        self.row = 0

    def _init(self, lstm: DiagonalLSTM) -> tuple[Tensor, Tensor]:
        return lstm.h0.expand(self.batch, -1), lstm.c0.expand(self.batch, -1)

    def next_row(self, image_row: Tensor) -> None:
        """Row ``self.row`` is complete (its scaled pixels ``image_row`` [batch, C, W]): run its
        right-to-left recurrence."""
        row, lstm = self.row, self.layer.backward_lstm
        gates_in = lstm.gates_in(self.x[:, :, row : row + 1], image_row.unsqueeze(2))[:, :, 0].transpose(1, 2)
        hidden, cell = self._init(lstm)
        for col in reversed(range(self.width)):
            above = self.hidden_right[:, :, row - 1, col] if row > 0 else torch.zeros_like(hidden)
            hidden, cell = self.cell_at_right(gates_in[:, col], above, hidden, cell)
            self.hidden_right[:, :, row, col], self.cell_right[:, :, row, col] = hidden, cell
        self.row += 1

    def step(self, value: Tensor, front: Front) -> Tensor:
        """Layer input at the front's one pixel [batch, 2h] → layer output there [batch, 2h]."""
        row, col = front.pixel
        lstm = self.layer.forward_lstm
        self.x[:, :, row, col] = value
        above = self.hidden_left[:, :, row - 1, col] if row > 0 else torch.zeros_like(value[:, : lstm.hidden_size])
        if col > 0:
            hidden_left, cell_left = self.hidden_left[:, :, row, col - 1], self.cell_left[:, :, row, col - 1]
        else:
            hidden_left, cell_left = self._init(lstm)
        hidden, cell = self.cell_at_left(self.input_to_state_left(value), above, hidden_left, cell_left)
        self.hidden_left[:, :, row, col], self.cell_left[:, :, row, col] = hidden, cell
        right = self.hidden_right[:, :, row - 1, col] if row > 0 else torch.zeros_like(hidden)
        return value + self.output(hidden + right)


LayerState = RowLSTMState | DiagonalBiLSTMState


def layer_state(layer: RecurrentLayer, batch: int, height: int, width: int) -> LayerState:
    """The sampler state of a PixelRNN layer, for ``batch`` images of height × width."""
    if isinstance(layer, RowLSTMLayer):
        return RowLSTMState(layer, batch, height, width)
    if isinstance(layer, DiagonalBiLSTMLayer):
        return DiagonalBiLSTMState(layer, batch, height, width)
    raise TypeError(f"no sampler state for {type(layer).__name__}")
