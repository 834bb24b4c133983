"""The one sampling loop shared by every model: sub-pixel by sub-pixel in raster order.

A *stepper* returns the conditional of the next sub-pixel given the image so far. The naive
stepper runs the whole network once per sub-pixel; models may provide a fast stepper
(:meth:`AutoregressiveModel.fast_stepper`) that reuses computation. Both consume randomness
identically, one uniform per image per sampled sub-pixel drawn on the CPU from ``generator``,
turned into a value by inverse-CDF lookup in float64, so the two methods give the same images
whenever their probabilities agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pixelar.errors import PixelarError

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


class Stepper(Protocol):
    """Gives log p(x_(c,h,w) = k | x_<(c,h,w)) for k in [0, K): [n, K].

    It is called in raster order; ``x`` holds every sub-pixel before (c, h, w).
    """

    def conditional(self, x: Tensor, c: int, h: int, w: int) -> Tensor: ...


class ColumnSampler:
    """Base of the fast samplers that compute one column — every layer at one pixel — per
    sub-pixel, from per-layer caches.

    A causal network's activations at pixel q depend only on sub-pixels before q's last
    channel, so they are final once q's column has been computed for its last channel; only
    the first layer's cached input still needs q's final value (:meth:`write_input`). Pixels
    the loop skipped (known ones, in completion) get their columns computed on the way.
    Subclasses implement :meth:`column` and :meth:`write_input`.
    """

    def __init__(self, model: AutoregressiveModel) -> None:
        self.model = model
        self.C, self.W = model.image_shape[0], model.image_shape[2]
        self.done = 0  # pixels before this raster index have final columns and inputs
        self.last: tuple[int, int] = (-1, -1)  # (pixel, channel) of the last column computed

    def column(self, x: Tensor, h: int, w: int) -> Tensor:
        """Every layer at pixel (h, w), given x up to the current sub-pixel → parameters [n, P]."""
        raise NotImplementedError

    def write_input(self, x: Tensor, h: int, w: int) -> None:
        """Store the final value of pixel (h, w) where the first layer reads it."""
        raise NotImplementedError

    def conditional(self, x: Tensor, c: int, h: int, w: int) -> Tensor:
        p = h * self.W + w
        while self.done < p:
            qh, qw = divmod(self.done, self.W)
            if self.last == (self.done, self.C - 1):
                self.write_input(x, qh, qw)  # features never see their own pixel's last channel
            else:
                self.column(x, qh, qw)
            self.done += 1
        params = self.column(x, h, w)
        self.last = (p, c)
        return self.model.distribution.conditional(params, x[:, :, h, w], c)


class NaiveStepper:
    """The reference: a full teacher-forced forward pass for every sub-pixel."""

    def __init__(self, model: AutoregressiveModel, cond: Tensor | None) -> None:
        self.model = model
        self.cond = cond

    def conditional(self, x: Tensor, c: int, h: int, w: int) -> Tensor:
        params = self.model(x, self.cond)
        return self.model.distribution.conditional(params[:, :, h, w], x[:, :, h, w], c)


def as_generator(generator: torch.Generator | int | None) -> torch.Generator:
    """A CPU generator: the given one, one seeded with the given int, or a fresh random one."""
    if isinstance(generator, torch.Generator):
        return generator
    g = torch.Generator()
    if generator is None:
        g.seed()
    else:
        g.manual_seed(int(generator))
    return g


def draw(logp: Tensor, u: Tensor, temperature: float = 1.0) -> Tensor:
    """Inverse-CDF sample from log-probabilities [n, K] with uniforms u [n]; returns [n] long.

    With temperature T the distribution is p^(1/T), renormalised.
    """
    probs = torch.softmax(logp.double() / temperature, dim=1)
    cdf = probs.cumsum(1)
    target = u.to(cdf.device, torch.float64)[:, None] * cdf[:, -1:]
    return (cdf < target).sum(1).clamp_max(logp.shape[1] - 1)


def make_stepper(model: AutoregressiveModel, n: int, cond: Tensor | None, method: str) -> Stepper:
    if method not in ("auto", "fast", "naive"):
        raise PixelarError(f"unknown sampling method {method!r}; choose auto, fast or naive")
    if method == "naive":
        return NaiveStepper(model, cond)
    fast = model.fast_stepper(n, cond)
    if fast is None:
        if method == "fast":
            raise PixelarError(f"model {model.model_name!r} has no fast sampler yet; use method='naive'")
        return NaiveStepper(model, cond)
    return fast


def sample(
    model: AutoregressiveModel,
    n: int,
    *,
    cond: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    temperature: float = 1.0,
    method: Literal["auto", "fast", "naive"] = "auto",
    x: Tensor | None = None,
    known: Tensor | None = None,
    progress: bool = False,
) -> Tensor:
    """Draw n images [n, C, H, W] (long, on the model's device).

    Args:
        cond: class labels [n] for a conditional model.
        generator: a CPU ``torch.Generator`` or an int seed, for reproducible draws.
        temperature: T > 0; each conditional is sharpened to p^(1/T).
        method: "naive" (full pass per sub-pixel), "fast" (the model's incremental sampler) or
            "auto" (fast where the model has it).
        x, known: for completion: images [n, C, H, W] and a bool mask ([C, H, W] or
            [n, C, H, W]) of the sub-pixels to keep; the others are sampled given them.
        progress: show a progress bar (rows, rate, ETA).
    """
    if n < 1:
        raise PixelarError(f"the number of samples must be at least 1, got {n}")
    if not temperature > 0:
        raise PixelarError(f"temperature must be positive, got {temperature}")
    C, H, W = model.image_shape
    device = model.device
    gen = as_generator(generator)
    if cond is not None:
        cond = torch.as_tensor(cond, device=device).long().reshape(-1)
        if cond.numel() == 1 and n > 1:
            cond = cond.expand(n).clone()
    model.check_cond(cond, n)
    if x is None:
        x = torch.zeros(n, C, H, W, dtype=torch.long, device=device)
        known_mask = torch.zeros(n, C, H, W, dtype=torch.bool, device=device)
    else:
        model.check_input(x)
        x = x.to(device=device, dtype=torch.long).clone()
        if known is None:
            raise PixelarError("completion needs a mask of the known sub-pixels (known=...)")
        known_mask = known.to(device=device, dtype=torch.bool).expand(n, C, H, W)
    x = torch.where(known_mask, x, torch.zeros_like(x))

    def choose(logp: Tensor, c: int, h: int, w: int) -> Tensor:
        u = torch.rand(n, generator=gen, dtype=torch.float64)
        return draw(logp, u, temperature)

    return model.autoregress(x, known_mask, cond, method, choose, progress=progress)


Chooser = Callable[[Tensor, int, int, int], Tensor]


def autoregress(
    model: AutoregressiveModel,
    x: Tensor,
    known: Tensor,
    cond: Tensor | None,
    method: str,
    choose: Chooser,
    progress: bool = False,
    desc: str = "sampling",
) -> Tensor:
    """The loop shared by sampling, completion and the codec's encoder and decoder.

    Visits sub-pixels in generation order; for each one some image does not know, asks the
    stepper for its conditional log p [n, K] and sets it to ``choose(logp, c, h, w)`` [n]
    where unknown. ``x`` [n, C, H, W] (long) is filled in place and returned; it must hold
    zeros at the unknown positions, so every caller presents the stepper the same inputs.
    """
    n, C, H, W = x.shape
    first_unknown, last_unknown = _unknown_span(known)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            stepper = make_stepper(model, n, cond, method)
            bar = tqdm(total=H, unit="row", desc=desc, disable=not progress, leave=False)
            for h in range(H):
                for w in range(W):
                    for c in range(C):
                        index = (h * W + w) * C + c
                        if index < first_unknown or index > last_unknown:
                            continue  # nothing unknown before or after this point: no work needed
                        todo = ~known[:, c, h, w]
                        if not bool(todo.any()):
                            stepper.conditional(x, c, h, w)  # keeps an incremental cache in step
                            continue
                        value = choose(stepper.conditional(x, c, h, w), c, h, w)
                        x[:, c, h, w] = torch.where(todo, value.to(x.device), x[:, c, h, w])
                bar.update(1)
            bar.close()
    finally:
        model.train(was_training)
    return x


def _unknown_span(known: Tensor) -> tuple[int, int]:
    """Generation indices of the first and the last sub-pixel that some image does not know
    ((n, -1) when every image knows everything)."""
    flat = known.permute(0, 2, 3, 1).reshape(known.shape[0], -1).all(0)
    missing = (~flat).nonzero()
    if not len(missing):
        return flat.numel(), -1
    return int(missing[0]), int(missing[-1])
