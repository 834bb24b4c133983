"""The one autoregressive loop shared by every model and by sampling, completion and the codec.

A *stepper* returns the conditionals of the next sub-pixels given the image so far, following
its schedule: a list of *fronts* (:class:`Front`), sets of pixels generated together, each
front channel by channel (R → G → B). The naive stepper runs the whole network once per
sub-pixel in raster order (once per pixel where a pixel's parameters do not depend on its own
channels, as with PixelCNN++'s mixture); models may provide a fast stepper
(:meth:`AutoregressiveModel.fast_stepper`) that reuses computation and, where the model's
receptive field allows (:attr:`AutoregressiveModel.wavefront_shift`), generates a wavefront of
pixels per step. Both consume randomness identically — one uniform per image and sub-pixel,
drawn on the CPU from ``generator`` before the loop and turned into a value by inverse-CDF
lookup in float64 — so the two methods give the same images whenever their probabilities
agree, whatever order they visit the sub-pixels in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pixelar.errors import PixelarError
from pixelar.incremental import (
    Chooser,
    ColumnSampler,
    Front,
    Observer,
    SampledModel,
    Stepper,
    order_fronts,
    step_index,
    wavefronts,
)
from pixelar.orders import OrderSpec

__all__ = [
    "METHODS",
    "Chooser",
    "Front",
    "Method",
    "NaiveStepper",
    "Observer",
    "Stepper",
    "as_generator",
    "autoregress",
    "broadcast_labels",
    "draw",
    "fill",
    "make_stepper",
    "params_per_pixel",
    "resolve_method",
    "sample",
    "step_index",
    "wavefronts",
]

# "auto": fast where the model has it; "compiled": fast, its per-step work one native call
METHODS = ("auto", "fast", "naive", "compiled")
Method = Literal["auto", "fast", "naive", "compiled"]


def params_per_pixel(model: SampledModel) -> bool:
    """Whether one network evaluation per pixel gives every channel's conditional there.

    True when each channel's conditional reads the same parameters as the first channel's
    (``distribution.channel_params``): those depend on no sub-pixel of their own pixel (the
    model's contract), so they are final before the pixel's first channel is drawn, and the
    distribution carries the dependence between the pixel's channels (PixelCNN++'s mixture,
    :meth:`~pixelar.distributions.OutputDistribution.conditional_from`). Trivially true for
    one channel.
    """
    dist = model.distribution
    first = dist.channel_params(0)
    return all(dist.channel_params(c) == first for c in range(1, model.image_shape[0]))


class NaiveStepper:
    """The reference: a full teacher-forced forward pass per step, in the model's order (raster
    unless it generates in any order and is told another: :meth:`~SampledModel.pixel_order`).

    One pass per sub-pixel, or one per pixel when the parameters of a pixel's conditionals do
    not depend on its own channels (:func:`params_per_pixel`): the pass is then made at the
    pixel's first unknown channel and every channel's conditional derived from its parameters
    (the same values a pass per sub-pixel would give, since they never read the pixel).
    """

    def __init__(
        self, model: SampledModel, cond: Tensor | None, params: Callable[[Tensor], Tensor] | None = None
    ) -> None:
        """``params``: images [n, C, H, W] → every conditional's parameters [n, P, H, W];
        by default the model's teacher-forced forward pass with labels ``cond``."""
        self.model = model
        self.params = params if params is not None else lambda x: model(x, cond)
        self.fronts = order_fronts(model.pixel_order())
        self.per_pixel = params_per_pixel(model)
        self.cached: tuple[int, Tensor] | None = None  # (front, its pixel's parameters)

    def conditional(self, x: Tensor, c: int, front: Front) -> Tensor:
        row, col = front.pixel
        if self.per_pixel and self.cached is not None and self.cached[0] == front.t:
            params = self.cached[1]
        else:
            params = self.params(x)[:, :, row, col, None]
            if self.per_pixel:
                self.cached = (front.t, params)
        return self.model.distribution.conditional(params, x[:, :, row, col, None], c)


def broadcast_labels(cond: Tensor | int | None, n: int, device: torch.device | None = None) -> Tensor | None:
    """Labels for n images: ``cond`` as a long tensor [n] (one label is repeated n times)."""
    if cond is None:
        return None
    labels = torch.as_tensor(cond, device=device).long().reshape(-1)
    return labels.expand(n).clone() if labels.numel() == 1 and n > 1 else labels


def as_generator(generator: torch.Generator | int | None) -> torch.Generator:
    """A CPU generator: the given one, one seeded with the given int, or a fresh random one."""
    if isinstance(generator, torch.Generator):
        return generator
    seeded = torch.Generator()
    if generator is None:
        seeded.seed()
    else:
        seeded.manual_seed(int(generator))
    return seeded


def draw(logp: Tensor, u: Tensor, temperature: float = 1.0) -> Tensor:
    """Inverse-CDF samples from normalised log-probabilities [n, K, *S] with uniforms u [n, *S]:
    [n, *S] long, the first k whose cumulative probability reaches u (in float64).

    With temperature T the distribution is p^(1/T), renormalised.
    """
    logp = logp.double().movedim(1, -1)  # [n, *S, K]
    probs = logp.exp() if temperature == 1.0 else torch.softmax(logp / temperature, dim=-1)
    cdf = probs.cumsum(-1)
    target = (u.to(cdf.device, torch.float64) * cdf[..., -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, target).squeeze(-1).clamp_max(logp.shape[-1] - 1)


def resolve_method(model: SampledModel, method: str) -> Literal["fast", "naive", "compiled"]:
    """The sampler a ``method`` (:data:`METHODS`) selects for ``model``: "auto" is the fast one
    where the model has it; "compiled" is the fast one with its per-step work in a native kernel
    (:mod:`pixelar.native`), where the model has one."""
    if method not in METHODS:
        raise PixelarError(f"unknown sampling method {method!r}; choose {', '.join(METHODS)}")
    if method == "compiled":
        if not model.has_compiled_sampler:
            raise PixelarError(f"model {model.model_name!r} has no compiled sampler; use method='fast'")
        return "compiled"
    if method == "fast" and not model.has_fast_sampler:
        raise PixelarError(f"model {model.model_name!r} has no fast sampler yet; use method='naive'")
    if method == "naive" or not model.has_fast_sampler:
        return "naive"
    return "fast"


def make_stepper(model: SampledModel, batch: int, cond: Tensor | None, method: str) -> Stepper:
    """The stepper ``method`` selects (:func:`resolve_method`) for ``batch`` images with labels ``cond``."""
    resolved = resolve_method(model, method)
    if resolved == "naive":
        return NaiveStepper(model, cond)
    stepper = model.fast_stepper(batch, cond)
    if stepper is None:  # a model that generates in its own order (see autoregress)
        raise PixelarError(f"model {model.model_name!r} has no single stepper; sample it with model.autoregress")
    if resolved == "compiled" and isinstance(stepper, ColumnSampler):
        stepper.compile()
    return stepper


def sample(
    model: SampledModel,
    n: int,
    *,
    cond: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    temperature: float = 1.0,
    method: Method = "auto",
    x: Tensor | None = None,
    known: Tensor | None = None,
    progress: bool = False,
    batch_size: int | None = None,
    observe: Observer | None = None,
    order: OrderSpec | None = None,
) -> Tensor:
    """Draw n images [n, C, H, W] (long, on the model's device), pixel after pixel in ``order``.

    Args:
        cond: class labels [n] for a conditional model.
        generator: a CPU ``torch.Generator`` or an int seed, for reproducible draws.
        temperature: T > 0; each conditional is sharpened to p^(1/T).
        method: "naive" (full pass per sub-pixel), "fast" (the model's incremental sampler),
            "compiled" (the fast one with each step's network one native call, built once per
            machine with the C compiler: faster at small batches; PixelCNN, Gated PixelCNN) or
            "auto" (fast where the model has it).
        x, known: for completion: images [n, C, H, W] and a bool mask ([C, H, W] or
            [n, C, H, W]) of the sub-pixels to keep; the others are sampled given them.
        progress: show a progress bar (rows, rate, ETA).
        batch_size: sample at most this many images at a time (the samplers' caches grow with
            the batch); the uniforms are drawn for all n first, so the images do not depend on it.
        observe: called as the loop goes (see :data:`Observer`), with the batch being filled
            (the images of one ``batch_size`` part at a time).
        order: the order of the pixels (:mod:`pixelar.orders`: a name such as "snake", a
            permutation, a :class:`~pixelar.orders.PixelOrder`); None: the model's own. A model
            that generates in raster order only refuses any other.
    """
    with model.in_order(order):
        return _sample(model, n, cond, generator, temperature, method, x, known, progress, batch_size, observe)


def _sample(
    model: SampledModel,
    n: int,
    cond: Tensor | None,
    generator: torch.Generator | int | None,
    temperature: float,
    method: Method,
    x: Tensor | None,
    known: Tensor | None,
    progress: bool,
    batch_size: int | None,
    observe: Observer | None,
) -> Tensor:
    """:func:`sample` in the model's current order."""
    if n < 1:
        raise PixelarError(f"the number of samples must be at least 1, got {n}")
    if batch_size is not None and batch_size < 1:
        raise PixelarError(f"the batch size must be at least 1, got {batch_size}")
    if not temperature > 0:
        raise PixelarError(f"temperature must be positive, got {temperature}")
    C, H, W = model.image_shape
    device = model.device
    gen = as_generator(generator)
    cond = broadcast_labels(cond, n, device)
    model.check_cond(cond, n)
    if x is None:
        x = torch.zeros(n, C, H, W, dtype=torch.long, device=device)
        known_mask = torch.zeros(n, C, H, W, dtype=torch.bool, device=device)
    else:
        if x.dim() == 4 and x.shape[0] != n:
            raise PixelarError(f"x holds {x.shape[0]} images but {n} samples were asked for; pass n={x.shape[0]}")
        model.check_input(x, cond)
        x = x.to(device=device, dtype=torch.long).clone()
        if known is None:
            raise PixelarError("completion needs a mask of the known sub-pixels (known=...)")
        known_mask = known.to(device=device, dtype=torch.bool).expand(n, C, H, W)
    x = torch.where(known_mask, x, torch.zeros_like(x))

    uniforms = torch.rand(n, C, H, W, generator=gen, dtype=torch.float64).to(device)  # one per sub-pixel
    step = n if batch_size is None else batch_size
    for start in range(0, n, step):
        part = slice(start, start + step)
        u = uniforms[part]

        def choose(logp: Tensor, c: int, front: Front, u: Tensor = u) -> Tensor:
            return draw(logp, front.take(u, c), temperature)

        labels = None if cond is None else cond[part]
        model.autoregress(x[part], known_mask[part], labels, method, choose, progress=progress, observe=observe)
    return x


def autoregress(
    model: SampledModel,
    x: Tensor,
    known: Tensor,
    cond: Tensor | None,
    method: str,
    choose: Chooser,
    progress: bool = False,
    observe: Observer | None = None,
) -> Tensor:
    """The loop shared by sampling, completion and the codec's encoder and decoder: the
    model's own :meth:`~pixelar.models.base.AutoregressiveModel.autoregress` — by default
    :func:`fill` with the stepper ``method`` selects (:func:`make_stepper`), in eval mode; a
    model with its own generation order (the multi-scale model) overrides it.

    Visits the stepper's fronts in order and the channels of each front in order; for each
    (front, channel) where some image does not know a sub-pixel, asks the stepper for the
    conditionals log p [n, K, count] and sets the unknown sub-pixels to
    ``choose(logp, c, front)`` [n, count]. ``x`` [n, C, H, W] (long) is filled in place and
    returned; it must hold zeros at the unknown positions, so every caller presents the
    stepper the same inputs. ``observe`` (:data:`Observer`) sees each step's result.
    """
    return model.autoregress(x, known, cond, method, choose, progress, observe)


def fill(
    stepper: Stepper,
    x: Tensor,
    known: Tensor,
    choose: Chooser,
    progress: bool = False,
    desc: str = "sampling",
    observe: Observer | None = None,
) -> Tensor:
    """:func:`autoregress` with a given stepper (the caller sets the model's mode)."""
    batch, C, H, W = x.shape
    first, last = _unknown_span(known, stepper.fronts)
    flat = x.view(batch, C, H * W)
    missing = None if bool((~known).all()) else (~known.expand_as(x)).reshape(batch, C, H * W)
    bar = tqdm(total=H, unit="row", desc=desc, disable=not progress, leave=False)
    pixels = 0  # pixels the fronts so far hold: the bar shows them in rows' worth
    for front in stepper.fronts:
        for c in range(C):
            if not first <= front.t * C + c <= last:
                continue  # nothing unknown before or after this point: no work needed
            where = front.flat(W)
            if missing is None:
                flat[:, c, where] = choose(stepper.conditional(x, c, front), c, front).to(x.device)
            else:
                todo = missing[:, c, where]
                if not bool(todo.any()):
                    continue
                value = choose(stepper.conditional(x, c, front), c, front).to(x.device)
                flat[:, c, where] = torch.where(todo, value, flat[:, c, where])
            if observe is not None:
                observe(x, c, front)
        pixels += front.count
        if pixels // W > bar.n:
            bar.update(pixels // W - bar.n)
    bar.close()
    return x


def _unknown_span(known: Tensor, fronts: list[Front]) -> tuple[int, int]:
    """Step indices (front.t·C + c) of the first and the last sub-pixel that some image does not
    know ((C·H·W, -1) when every image knows everything)."""
    C, H, W = known.shape[-3:]
    unknown = (~known).reshape(-1, C, H * W).any(0)
    if not bool(unknown.any()):
        return unknown.numel(), -1
    if fronts[0].dw:  # wavefronts(): front t holds the pixels (h, w) with w + shift·h = t
        step = step_index((1, H, W), fronts[0].dw).flatten()
    else:  # one pixel per front, in any order
        step = torch.empty(H * W, dtype=torch.long)
        for front in fronts:
            step[front.flat(W)] = front.t
    steps = (step[None] * C + torch.arange(C)[:, None]).to(known.device)[unknown]
    return int(steps.min()), int(steps.max())
