"""PixelRNN (van den Oord, Kalchbrenner, Kavukcuoglu, "Pixel Recurrent Neural Networks",
ICML 2016): the Row LSTM and Diagonal BiLSTM models of Table 1.

    x ──7×7 conv, mask A──► 2h ──[recurrent layer + residual]×num_layers──► output head ► params

The recurrent layers are in :mod:`pixelar.layers.recurrent`; the output head (ReLU and two
1×1 mask-B convolutions, then a softmax or a sigmoid) is the paper's (Section 5.1). A
class-conditional model adds a learned per-class bias to the input of every layer and of the
head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from pixelar.distributions import make_distribution
from pixelar.errors import PixelarError
from pixelar.incremental import ColumnSampler, Front, IncrementalConv, OutputHeadAt, bias_at
from pixelar.incremental.recurrent import layer_state
from pixelar.layers import MaskedConv2d
from pixelar.layers.common import OutputHead, modules_as, spatial, with_bias
from pixelar.layers.recurrent import DiagonalBiLSTMLayer, RecurrentLayer, RowLSTMLayer
from pixelar.models.base import AutoregressiveModel
from pixelar.models.config import ModelConfig


@dataclass
class PixelRNNConfig(ModelConfig):
    """Hyperparameters of the PixelRNN models.

    Attributes:
        num_layers: recurrent layers (each with its residual connection).
        hidden_channels: h, the LSTM state size; the residual stream has 2h features.
        distribution: "auto" (sigmoid for num_levels = 2, else softmax), "categorical", "bernoulli".
    """

    num_layers: int = 2
    hidden_channels: int = 8
    distribution: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 1 or self.hidden_channels < 1:
            raise PixelarError("num_layers and hidden_channels must be >= 1", param=("num_layers", "hidden_channels"))


class PixelRNN(AutoregressiveModel):
    """The shared PixelRNN body; subclasses choose the recurrent layer.

    Shapes: images [B, C, H, W] → parameters [B, P, H, W].
    """

    Config = PixelRNNConfig
    config: PixelRNNConfig
    layer_cls: ClassVar[type[RecurrentLayer]]

    def __init__(self, config: PixelRNNConfig) -> None:
        super().__init__(config)
        C = config.image_shape[0]
        hidden_size = config.hidden_channels
        self.distribution = make_distribution(config.distribution, C, config.num_levels)
        self.input_conv = MaskedConv2d(C, 2 * hidden_size, 7, "A", C)
        self.layers = nn.ModuleList(self.layer_cls(hidden_size, C, first=i == 0) for i in range(config.num_layers))
        self.head = OutputHead(2 * hidden_size, C, self.distribution)
        self.add_class_biases(config.num_layers + 1, 2 * hidden_size)
        self.context_conv: nn.Conv2d | None = None  # a ContextPixelRNN's

    def network(self, x: Tensor, cond: Tensor | None, context: Tensor | None = None) -> Tensor:
        """Scaled images [B, C, H, W], labels [B] and, for a :class:`ContextPixelRNN`, the
        context map [B, C, H, W] → parameters [B, P, H, W]."""
        y = self.input_conv(x)
        biases = self.layer_biases(cond, context)
        for layer, bias in zip(self.layers, biases):
            y = self.checkpointed(layer, with_bias(y, bias), x)
        return self.head(with_bias(y, biases[-1]))

    def layer_biases(self, cond: Tensor | None, context: Tensor | None) -> list[Tensor | None]:
        """What is added to the input of every layer and of the head: the class biases [B, 2h]
        and, with a context map, a 1×1 convolution of it [B, 2h, H, W]."""
        biases = self.class_biases(cond)
        if context is None:
            return biases
        if self.context_conv is None:
            raise PixelarError(f"{type(self).__name__} takes no context map")
        maps = self.context_conv(context).chunk(self.config.num_layers + 1, dim=1)
        return [m + spatial(b) for m, b in zip(maps, biases)]

    def fast_stepper(self, batch: int, cond: Tensor | None, context: Tensor | None = None) -> PixelRNNSampler:
        return PixelRNNSampler(self, batch, cond, context)


class RowLSTM(PixelRNN):
    """PixelRNN with Row LSTM layers (Section 3.1): triangular receptive field, one step per row."""

    model_name = "row-lstm"

    layer_cls = RowLSTMLayer
    step_work = (4, 1024)  # the codec's units a fast step costs (AutoregressiveModel.step_work)


class DiagonalBiLSTM(PixelRNN):
    """PixelRNN with Diagonal BiLSTM layers (Section 3.2): the whole context, one step per diagonal."""

    model_name = "diagonal-bilstm"

    layer_cls = DiagonalBiLSTMLayer
    step_work = (4, 1024)  # the codec's units a fast step costs (AutoregressiveModel.step_work)


class ContextPixelRNN(PixelRNN):
    """A PixelRNN conditioned on a context map [B, C, H, W] (for the multi-scale model): a 1×1
    convolution of the map is added as a bias map to the input of every layer and of the head
    (:meth:`PixelRNN.layer_biases`); the map is the ``context`` argument of :meth:`network`
    and of :meth:`fast_stepper`."""

    def __init__(self, config: PixelRNNConfig) -> None:
        super().__init__(config)
        C, L = config.image_shape[0], config.num_layers
        self.context_conv = nn.Conv2d(C, 2 * config.hidden_channels * (L + 1), 1)


class ContextRowLSTM(ContextPixelRNN):
    layer_cls = RowLSTMLayer


class ContextDiagonalBiLSTM(ContextPixelRNN):
    layer_cls = DiagonalBiLSTMLayer


class PixelRNNSampler(ColumnSampler):
    """Exact sampling that carries the recurrent state: each sub-pixel costs one column of
    every layer (the 7×7 input convolution at one position, each LSTM one cell update), and
    each finished row one row update (the Row LSTM's state-to-state convolution, the Diagonal
    BiLSTM's right-to-left pass). Memory: see the layer states in :mod:`pixelar.incremental.recurrent`; it grows with
    the image, not with the number of steps.
    """

    def __init__(self, model: PixelRNN, batch: int, cond: Tensor | None, context: Tensor | None = None) -> None:
        super().__init__(model)
        self.input = IncrementalConv(model.input_conv, batch, self.H, self.W)
        self.states = [layer_state(layer, batch, self.H, self.W) for layer in modules_as(model.layers, RecurrentLayer)]
        self.head = OutputHeadAt(model.head)
        self.biases = model.layer_biases(cond, context)

    def _advance_rows(self, x: Tensor, row: int) -> None:
        while self.states[0].row < row:
            image_row = self.model.scale(x[:, :, self.states[0].row])
            for state in self.states:
                state.next_row(image_row)

    def write_input(self, x: Tensor, front: Front) -> None:
        self.input.write(front, self.pixels(x, front))

    def column(self, x: Tensor, front: Front, c: int) -> Tensor:
        row, col = front.pixel
        self._advance_rows(x, row)
        value = self.pixels(x, front)
        self.input.write(front, value)
        y = self.input.output(front, value)
        for state, bias in zip(self.states, self.biases):
            y = state.step(y if bias is None else y + bias_at(bias, row, col), front)
        last_bias = self.biases[-1]
        if last_bias is not None:
            y = y + bias_at(last_bias, row, col)
        return self.head(y)[:, self.model.distribution.channel_params(c)]
