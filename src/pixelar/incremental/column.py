"""The base of the fast samplers (:class:`ColumnSampler`), with the pieces they share to
evaluate a network at a few pixels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from pixelar.distributions import scale_levels
from pixelar.incremental.conv import Pointwise
from pixelar.incremental.protocols import SampledModel
from pixelar.incremental.schedule import Front, wavefronts

if TYPE_CHECKING:
    from pixelar.layers.common import OutputHead


class ColumnSampler:
    """Base of the fast samplers that compute one column — every layer at the front's pixels —
    per sub-pixel step, from per-layer caches.

    A causal network's activations at pixel q depend only on sub-pixels before q's last
    channel, so they are final once q's column has been computed for its last channel; only
    the first layer's cached input still needs q's final value (:meth:`write_input`). Fronts
    the loop skipped (known pixels, in completion) get their columns computed on the way.
    The schedule is the model's :attr:`~pixelar.models.base.AutoregressiveModel.wavefront_shift`.
    Subclasses implement :meth:`column` and :meth:`write_input`.
    """

    def __init__(self, model: SampledModel) -> None:
        self.model = model
        self.C, self.H, self.W = model.image_shape
        self.fronts = wavefronts(self.H, self.W, model.wavefront_shift)
        self.done = 0  # fronts before this index have final columns and inputs
        self.last: tuple[int, int] = (-1, -1)  # (front, channel) of the last column computed
        self.dtype = model.dtype

    def pixels(self, x: Tensor, front: Front, channels: int | None = None) -> Tensor:
        """The front's pixels of x (their first ``channels`` channels), scaled as the network's
        input (:func:`~pixelar.distributions.scale_levels`): [n·count, channels or C]."""
        channels = self.C if channels is None else channels
        values = x.flatten(2)[:, :channels, front.flat(self.W)].transpose(1, 2).reshape(-1, channels)
        return scale_levels(values, self.model.num_levels, self.dtype)

    def column(self, x: Tensor, front: Front, c: int) -> Tensor:
        """Every layer at the front's pixels, given x up to channel c of them → the parameters
        that channel c's conditional reads (``distribution.channel_params(c)``): [n·count, P_c].

        At c = C − 1 every sub-pixel but the pixels' last channels is known: the activations
        computed then are final, those later pixels read.
        """
        raise NotImplementedError

    def write_input(self, x: Tensor, front: Front) -> None:
        """Store the final values of the front's pixels where the first layer reads them."""
        raise NotImplementedError

    def compile(self) -> None:
        """Run each step's network as one native call (``method="compiled"``, see
        :mod:`pixelar.native`): the same conditionals to float rounding, faster
        at small batches, where a step's few dozen small operations cost more to dispatch one by
        one than to compute. Samplers that have a kernel override this (and their model sets
        ``has_compiled_sampler``)."""
        raise NotImplementedError(f"{type(self).__name__} has no compiled form")

    def conditional(self, x: Tensor, c: int, front: Front) -> Tensor:
        while self.done < front.t:
            skipped = self.fronts[self.done]
            if self.last == (skipped.t, self.C - 1):
                self.write_input(x, skipped)  # features never see their own pixel's last channel
            else:
                self.column(x, skipped, self.C - 1)
            self.done += 1
        part = self.column(x, front, c)
        self.last = (front.t, c)
        part = part.view(x.shape[0], front.count, -1).transpose(1, 2)
        return self.model.distribution.conditional_from(part, x.flatten(2)[:, :, front.flat(self.W)], c)


class OutputHeadAt:
    """An :class:`~pixelar.layers.common.OutputHead` applied to the features of a few positions:
    [n, F] → [n, P]."""

    def __init__(self, head: OutputHead) -> None:
        self.hidden, self.out = Pointwise.of(head.hidden), Pointwise.of(head.out)

    def __call__(self, x: Tensor) -> Tensor:
        return self.out(torch.relu(self.hidden(torch.relu(x))))


def bias_at(bias: Tensor, row: int, col: int) -> Tensor:
    """The [n, F] value at (row, col) of a bias [n, F] or bias map [n, F, H, W]."""
    return bias if bias.dim() == 2 else bias[:, :, row, col]


def per_pixel(bias: Tensor, count: int) -> Tensor:
    """A per-image bias [n, F] repeated for ``count`` pixels of each image: [n·count, F]."""
    return bias if count == 1 else bias.repeat_interleave(count, 0)
