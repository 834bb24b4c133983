"""The two sides of sampling as types: what every sampler implements (:class:`Stepper`) and
what the samplers and the sampling loop read of a model (:class:`SampledModel`), so that they
depend on no model class; :class:`~pixelar.models.base.AutoregressiveModel` implements the latter."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import ClassVar, Protocol

import torch
from torch import Tensor

from pixelar.distributions import OutputDistribution
from pixelar.incremental.schedule import Front
from pixelar.orders import OrderSpec, PixelOrder

# choose(logp, c, front): the values [n, count] of channel c at the front's pixels, given their
# conditionals logp [n, K, count] (drawn when sampling; the image's own when encoding).
Chooser = Callable[[Tensor, int, Front], Tensor]
# observe(x, c, front): called by the loop right after it sets channel c of the front's pixels in
# the images x [n, C, H, W] it fills (full-image coordinates, whatever the model's order); x is
# the loop's own tensor, to read and not to change.
Observer = Callable[[Tensor, int, Front], None]


class Stepper(Protocol):
    """Gives the conditionals of the next sub-pixels, following its schedule ``fronts``.

    ``conditional(x, c, front)`` returns log p(x_(c,h,w) = k | earlier sub-pixels) for the
    front's pixels: [n, K, count]. It is called front by front, channel by channel; ``x`` holds
    every sub-pixel generated before, and zeros at those not generated yet.
    """

    fronts: list[Front]

    def conditional(self, x: Tensor, c: int, front: Front) -> Tensor: ...


class SampledModel(Protocol):
    """A model as the steppers and the sampling loop (:mod:`pixelar.sampling`) use it: its
    images' shape and levels, its output distribution, its teacher-forced forward pass, its
    input checks, the order of its pixels, its fast stepper and its own loop (:meth:`autoregress`)."""

    model_name: ClassVar[str]
    has_compiled_sampler: ClassVar[bool]
    distribution: OutputDistribution

    @property
    def image_shape(self) -> tuple[int, int, int]: ...

    @property
    def num_levels(self) -> int: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def has_fast_sampler(self) -> bool: ...

    @property
    def wavefront_shift(self) -> int: ...

    def __call__(self, x: Tensor, cond: Tensor | None = None) -> Tensor: ...

    def scale(self, x: Tensor) -> Tensor: ...

    def check_input(self, x: Tensor, cond: Tensor | None = None) -> None: ...

    def check_cond(self, cond: Tensor | None, batch: int) -> None: ...

    def pixel_order(self, order: OrderSpec | None = None) -> PixelOrder: ...

    def in_order(self, order: OrderSpec | None) -> AbstractContextManager[None]: ...

    def fast_stepper(self, batch: int, cond: Tensor | None) -> Stepper | None: ...

    def autoregress(
        self,
        x: Tensor,
        known: Tensor,
        cond: Tensor | None,
        method: str,
        choose: Chooser,
        progress: bool = False,
        observe: Observer | None = None,
    ) -> Tensor: ...
