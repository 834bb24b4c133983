"""A locally masked PixelCNN: the PixelCNN of the PixelRNN paper with its spatial convolutions
locally masked (Jain, Abbeel & Pathak, "Locally Masked Convolution for Autoregressive Models",
UAI 2020), so that one network generates the pixels in any order.

    x ──7×7 local conv, mask A──► 2h ──[block]×num_layers──► ReLU, 1×1 (B) ► ReLU, 1×1 (B) ► params

A block is PixelCNN's (van den Oord et al. 2016, Figure 5): ReLU → 1×1 conv 2h→h → ReLU → k×k
local conv h→h (mask B) → ReLU → 1×1 conv h→2h, added to its input. Each position's masks come
from the order (:func:`pixelar.layers.local.local_masks`): the first layer reads the pixels
generated before the position's own (mask A), the later ones those and the position itself
(mask B); inside a pixel the colour groups are masked R → G → B as in PixelCNN. The 1×1
convolutions need no spatial mask. In raster order every mask is PixelCNN's, so PixelCNN's
weights give the same model (the parameters have the same names and shapes).

Order-agnostic training (the paper trains one network over 8 orders): with several ``orders`` in the config, the network in
train mode draws one of them for each forward pass from torch's generator (seeded per step by
the trainer, like dropout), unless an order is given. Evaluation and sampling use the first
one unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pixelar.distributions import make_distribution
from pixelar.errors import PixelarError
from pixelar.layers import MaskedConv2d
from pixelar.layers.common import OutputHead, modules_as, with_bias
from pixelar.layers.local import LocallyMaskedConv2d, LocalMask
from pixelar.models.base import AutoregressiveModel
from pixelar.models.config import ModelConfig
from pixelar.models.lmconv_sampler import LocalColumnSampler
from pixelar.orders import OrderSpec, batch_ranks, make_order

INPUT_KERNEL = 7  # the first layer's kernel side, as PixelCNN's


@dataclass
class LMConvConfig(ModelConfig):
    """Hyperparameters of :class:`LocallyMaskedPixelCNN`.

    Attributes:
        num_layers: number of residual blocks, each with one k×k mask-B local convolution.
        hidden_channels: h; the residual stream carries 2h features.
        kernel_size: k, the blocks' odd kernel side (3 as in PixelCNN).
        distribution: "auto" (Bernoulli when num_levels = 2, else a K-way softmax),
            "categorical" or "bernoulli".
        orders: names of the orders the model is trained over (:data:`pixelar.orders.ORDER_NAMES`,
            random-SEED; a comma-separated string is split); the first is its default order.
    """

    num_layers: int = 4
    hidden_channels: int = 16
    kernel_size: int = 3
    distribution: str = "auto"
    orders: tuple[str, ...] = ("raster",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 0 or self.hidden_channels < 1:
            raise PixelarError(
                "num_layers must be >= 0 and hidden_channels >= 1", param=("num_layers", "hidden_channels")
            )
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise PixelarError(f"kernel_size must be odd and positive, got {self.kernel_size}", param="kernel_size")
        names = self.orders.split(",") if isinstance(self.orders, str) else list(self.orders)
        if not names or not all(isinstance(name, str) for name in names):
            raise PixelarError(f"orders must be a list of order names, got {self.orders!r}", param="orders")
        self.orders = tuple(make_order(name, 2, 2).name if name.strip() else "" for name in names)
        if "" in self.orders:
            raise PixelarError(f"orders holds an empty name: {names!r}", param="orders")

    def to_dict(self) -> dict[str, object]:
        d = super().to_dict()
        d["orders"] = list(self.orders)
        return d


class LocalResidualBlock(nn.Module):
    """PixelCNN's 2h → h → 2h block with its k×k convolution locally masked (mask B).

    Shapes: ``forward(x, mask)``: [B, 2h, H, W] and the k×k masks (a
    :class:`~pixelar.layers.local.LocalMask`) → [B, 2h, H, W].
    """

    def __init__(self, features: int, num_colors: int, kernel_size: int) -> None:
        super().__init__()
        self.reduce = MaskedConv2d(2 * features, features, 1, "B", num_colors)
        self.conv = LocallyMaskedConv2d(features, features, kernel_size, "B", num_colors)
        self.expand = MaskedConv2d(features, 2 * features, 1, "B", num_colors)

    def forward(self, x: Tensor, mask: LocalMask) -> Tensor:
        y = self.reduce(torch.relu(x))
        y = self.conv(torch.relu(y), mask)
        return x + self.expand(torch.relu(y))


class LocallyMaskedPixelCNN(AutoregressiveModel):
    """PixelCNN with locally masked convolutions: exact likelihoods and sampling in any order
    of the pixels (see the module docstring); a class-conditional model adds a learned
    per-class bias before every block and the output head.

    Shapes: ``forward(x, cond, order)``: images [B, C, H, W] (integers in [0, K)) → parameters
    [B, P, H, W]; ``order`` one order for the batch or one per image.
    """

    model_name = "lmconv"
    step_work = (4, 1024)  # the codec's units a fast step costs (AutoregressiveModel.step_work)
    any_order = True

    Config = LMConvConfig
    config: LMConvConfig

    def __init__(self, config: LMConvConfig) -> None:
        super().__init__(config)
        C = config.image_shape[0]
        features = config.hidden_channels
        self.distribution = make_distribution(config.distribution, C, config.num_levels)
        self.input_conv = LocallyMaskedConv2d(C, 2 * features, INPUT_KERNEL, "A", C)
        self.blocks = nn.ModuleList(
            LocalResidualBlock(features, C, config.kernel_size) for _ in range(config.num_layers)
        )
        self.head = OutputHead(2 * features, C, self.distribution)
        self.add_class_biases(config.num_layers + 1, 2 * features)

    @property
    def default_order(self) -> str:
        """The first of the orders the model is trained over."""
        return self.config.orders[0]

    def forward(self, x: Tensor, cond: Tensor | None = None, order: OrderSpec | None = None) -> Tensor:
        """Parameters [B, P, H, W] teacher-forced on x in ``order``: one order (a name, a
        permutation, a :class:`~pixelar.orders.PixelOrder`), a list of them with one per image,
        or None (the model's order)."""
        self.check_input(x, cond)
        _, height, width = self.image_shape
        ranks = None if order is None else batch_ranks(order, x.shape[0], height, width)
        return self.network(self.scale(x), cond, ranks)

    def order_ranks(self) -> Tensor:
        """The ranks [1, H, W] of the order the network uses when given none: the one
        :meth:`in_order` set; in train mode with several training orders one drawn at random;
        else the default order."""
        orders = self.config.orders
        if self._order is None and self.training and len(orders) > 1:
            _, height, width = self.image_shape
            drawn = orders[int(torch.randint(len(orders), ()))]
            return make_order(drawn, height, width).ranks[None]
        return self.pixel_order().ranks[None]

    def network(self, x: Tensor, cond: Tensor | None, ranks: Tensor | None = None) -> Tensor:
        """Scaled images [B, C, H, W], labels, and the ranks of the order [B or 1, H, W] (None:
        :meth:`order_ranks`) → parameters [B, P, H, W]."""
        ranks = (self.order_ranks() if ranks is None else ranks).to(x.device)
        first = LocalMask.of(ranks, INPUT_KERNEL)
        later = LocalMask.of(ranks, self.config.kernel_size)
        y = self.input_conv(x, first)
        biases = self.class_biases(cond)
        for block, bias in zip(self.blocks, biases):
            y = self.checkpointed(block, with_bias(y, bias), later)
        return self.head(with_bias(y, biases[-1]))

    def local_blocks(self) -> list[LocalResidualBlock]:
        """The residual blocks, typed (what the fast sampler reads)."""
        return modules_as(self.blocks, LocalResidualBlock)

    def fast_stepper(self, batch: int, cond: Tensor | None) -> LocalColumnSampler:
        """A pixel per step in the model's current order, every layer at that pixel only."""
        return LocalColumnSampler(self, batch, cond)
