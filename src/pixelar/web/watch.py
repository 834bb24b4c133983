"""Sampling that can be watched: the images as they are drawn, sub-pixel by sub-pixel.

It is :func:`pixelar.sampling.sample` (the one autoregressive loop, the same images for the
same arguments) with an observer that copies the images so far now and then.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.orders import OrderSpec
from pixelar.sampling import Front, Method, sample

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


@dataclass
class Frame:
    """The images so far: ``images`` [n, C, H, W] (long; level 0 where nothing is drawn yet),
    ``drawn`` [n, C, H, W] (bool: which sub-pixels are), the fraction drawn, and whether these
    are the finished images."""

    images: Tensor
    drawn: Tensor
    filled: float
    done: bool = False


class SamplingStoppedError(Exception):
    """Raised inside the sampling loop when the watcher asked it to stop."""


def watch_sample(
    model: AutoregressiveModel,
    n: int,
    on_frame: Callable[[Frame], None],
    *,
    cond: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    temperature: float = 1.0,
    method: Method = "auto",
    every: float = 0.1,
    should_stop: Callable[[], bool] = lambda: False,
    order: OrderSpec | None = None,
) -> Tensor:
    """Draw n images [n, C, H, W] (long) with :func:`pixelar.sampling.sample` (in ``order``:
    the frames show the pixels filling in that order), calling
    ``on_frame`` with the images so far at most once every ``every`` seconds (0: after every
    step of the loop) and once at the end with the finished images. Raises :class:`SamplingStoppedError`
    as soon as ``should_stop()`` is true."""
    if n < 1:
        raise PixelarError(f"the number of samples must be at least 1, got {n}")
    C, H, W = model.image_shape
    drawn = torch.zeros(n, C, H * W, dtype=torch.bool)
    last = time.monotonic()

    def observe(x: Tensor, c: int, front: Front) -> None:
        nonlocal last
        if should_stop():
            raise SamplingStoppedError
        drawn[:, c, front.flat(W)] = True
        filled = float(drawn.float().mean())
        if time.monotonic() - last >= every and filled < 1.0:  # the finished images come last, once
            on_frame(Frame(x.detach().cpu().clone(), drawn.view(n, C, H, W).clone(), filled))
            last = time.monotonic()

    x = sample(
        model, n, cond=cond, generator=generator, temperature=temperature, method=method, observe=observe, order=order
    )
    on_frame(Frame(x.cpu().clone(), torch.ones(n, C, H, W, dtype=torch.bool), 1.0, done=True))
    return x
