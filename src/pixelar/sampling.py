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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, Protocol

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pixelar.errors import PixelarError

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


@dataclass(frozen=True)
class Front:
    """Pixels generated in the same step: (h0 + i·dh, w0 − i·dw) for i < count, in raster order.

    A front is a strided slice of any flattened map (:meth:`flat`), so reading and writing it
    costs one view, never a gather.
    """

    t: int
    h0: int
    w0: int
    count: int = 1
    dh: int = 1
    dw: int = 0

    def flat(self, width: int, pad_top: int = 0, pad_left: int = 0) -> slice:
        """The front's positions in a map of ``width`` columns (after padding) flattened over (H, W)."""
        start = (self.h0 + pad_top) * width + self.w0 + pad_left
        step = self.dh * width - self.dw if self.count > 1 else 1
        return slice(start, start + (self.count - 1) * step + 1, step)

    def take(self, t: Tensor, c: int) -> Tensor:
        """Channel c of a contiguous map [n, C, H, W] at the front's pixels: [n, count]."""
        return t.flatten(2)[:, c, self.flat(t.shape[3])]

    def scaled(self, factor: int) -> Front:
        """The same pixels in an image ``factor`` times larger (pixel (h, w) → (f·h, f·w))."""
        return replace(self, h0=self.h0 * factor, w0=self.w0 * factor, dh=self.dh * factor, dw=self.dw * factor)

    @property
    def pixel(self) -> tuple[int, int]:
        """(h, w) of a one-pixel front."""
        if self.count != 1:
            raise ValueError("this sampler generates one pixel per step")
        return self.h0, self.w0


def wavefronts(height: int, width: int, shift: int) -> list[Front]:
    """The generation schedule: front t holds the pixels (h, w) with w + shift·h = t.

    shift = width is raster order, one pixel per front. A smaller shift is exact for a model
    whose conditionals at (h, w) depend on no pixel (h − k, w') with w' ≥ w + k·shift (k ≥ 1):
    every pixel a conditional reads then lies on an earlier front.
    """
    if not 1 <= shift <= width:
        raise ValueError(f"a wavefront shift must lie in [1, {width}], got {shift}")
    fronts = []
    for t in range(width + shift * (height - 1)):
        lo = max(0, -(-(t - width + 1) // shift))
        hi = min(height - 1, t // shift)
        fronts.append(Front(t, lo, t - shift * lo, hi - lo + 1, 1, shift))
    return fronts


def step_index(image_shape: tuple[int, int, int], shift: int) -> Tensor:
    """Index of the sampling step of every sub-pixel [C, H, W]: (w + shift·h)·C + c."""
    C, H, W = image_shape
    t = torch.arange(W)[None, :] + shift * torch.arange(H)[:, None]
    return (t[None] * C + torch.arange(C)[:, None, None]).long()


class Stepper(Protocol):
    """Gives the conditionals of the next sub-pixels, following its schedule ``fronts``.

    ``conditional(x, c, front)`` returns log p(x_(c,h,w) = k | earlier sub-pixels) for the
    front's pixels: [n, K, count]. It is called front by front, channel by channel; ``x`` holds
    every sub-pixel generated before, and zeros at those not generated yet.
    """

    fronts: list[Front]

    def conditional(self, x: Tensor, c: int, front: Front) -> Tensor: ...


class ColumnSampler:
    """Base of the fast samplers that compute one column — every layer at the front's pixels —
    per sub-pixel step, from per-layer caches.

    A causal network's activations at pixel q depend only on sub-pixels before q's last
    channel, so they are final once q's column has been computed for its last channel; only
    the first layer's cached input still needs q's final value (:meth:`write_input`). Fronts
    the loop skipped (known pixels, in completion) get their columns computed on the way.
    The schedule is the model's :attr:`~AutoregressiveModel.wavefront_shift`.
    Subclasses implement :meth:`column` and :meth:`write_input`.
    """

    def __init__(self, model: AutoregressiveModel) -> None:
        self.model = model
        self.C, H, self.W = model.image_shape
        self.fronts = wavefronts(H, self.W, model.wavefront_shift)
        self.done = 0  # fronts before this index have final columns and inputs
        self.last: tuple[int, int] = (-1, -1)  # (front, channel) of the last column computed
        self.dtype = model.dtype
        self.unit = 2.0 / (model.num_levels - 1)

    def pixels(self, x: Tensor, front: Front, channels: int | None = None) -> Tensor:
        """The front's pixels of x (their first ``channels`` channels), scaled as the network's
        input (:meth:`AutoregressiveModel.scale`, its dtype looked up once): [n·count, channels or C]."""
        channels = self.C if channels is None else channels
        v = x.flatten(2)[:, :channels, front.flat(self.W)].transpose(1, 2).reshape(-1, channels)
        return v.to(self.dtype) * self.unit - 1.0

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


def params_per_pixel(model: AutoregressiveModel) -> bool:
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
    """The reference: a full teacher-forced forward pass per step, in raster order.

    One pass per sub-pixel, or one per pixel when the parameters of a pixel's conditionals do
    not depend on its own channels (:func:`params_per_pixel`): the pass is then made at the
    pixel's first unknown channel and every channel's conditional derived from its parameters
    (the same values a pass per sub-pixel would give, since they never read the pixel).
    """

    def __init__(self, model: AutoregressiveModel, cond: Tensor | None) -> None:
        self.model = model
        self.cond = cond
        _, H, W = model.image_shape
        self.fronts = wavefronts(H, W, W)
        self.per_pixel = params_per_pixel(model)
        self.cached: tuple[int, Tensor | None] = (-1, None)  # (front, its pixel's parameters)

    def conditional(self, x: Tensor, c: int, front: Front) -> Tensor:
        h, w = front.pixel
        if self.per_pixel and self.cached[0] == front.t:
            params = self.cached[1]
        else:
            params = self.model(x, self.cond)[:, :, h, w, None]
            if self.per_pixel:
                self.cached = (front.t, params)
        return self.model.distribution.conditional(params, x[:, :, h, w, None], c)


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
    """Inverse-CDF samples from normalised log-probabilities [n, K, *S] with uniforms u [n, *S]:
    [n, *S] long, the first k whose cumulative probability reaches u (in float64).

    With temperature T the distribution is p^(1/T), renormalised.
    """
    logp = logp.double().movedim(1, -1)  # [n, *S, K]
    probs = logp.exp() if temperature == 1.0 else torch.softmax(logp / temperature, dim=-1)
    cdf = probs.cumsum(-1)
    target = (u.to(cdf.device, torch.float64) * cdf[..., -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, target).squeeze(-1).clamp_max(logp.shape[-1] - 1)


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
    batch_size: int | None = None,
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
        batch_size: sample at most this many images at a time (the samplers' caches grow with
            the batch); the uniforms are drawn for all n first, so the images do not depend on it.
    """
    if n < 1:
        raise PixelarError(f"the number of samples must be at least 1, got {n}")
    if batch_size is not None and batch_size < 1:
        raise PixelarError(f"the batch size must be at least 1, got {batch_size}")
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
        model.autoregress(x[part], known_mask[part], labels, method, choose, progress=progress)
    return x


Chooser = Callable[[Tensor, int, Front], Tensor]


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

    Visits the stepper's fronts in order and the channels of each front in order; for each
    (front, channel) where some image does not know a sub-pixel, asks the stepper for the
    conditionals log p [n, K, count] and sets the unknown sub-pixels to
    ``choose(logp, c, front)`` [n, count]. ``x`` [n, C, H, W] (long) is filled in place and
    returned; it must hold zeros at the unknown positions, so every caller presents the
    stepper the same inputs.
    """
    n, C, H, W = x.shape
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            stepper = make_stepper(model, n, cond, method)
            shift = stepper.fronts[0].dw  # wavefronts() gives every front its shift as the column step
            first, last = _unknown_span(known, shift)
            flat = x.view(n, C, H * W)
            missing = None if bool((~known).all()) else (~known.expand_as(x)).reshape(n, C, H * W)
            bar = tqdm(total=H, unit="row", desc=desc, disable=not progress, leave=False)
            for front in stepper.fronts:
                for c in range(C):
                    if not first <= front.t * C + c <= last:
                        continue  # nothing unknown before or after this point: no work needed
                    where = front.flat(W)
                    if missing is None:
                        flat[:, c, where] = choose(stepper.conditional(x, c, front), c, front).to(x.device)
                        continue
                    todo = missing[:, c, where]
                    if bool(todo.any()):
                        value = choose(stepper.conditional(x, c, front), c, front).to(x.device)
                        flat[:, c, where] = torch.where(todo, value, flat[:, c, where])
                rows = min(H, max(0, (front.t - W + 1) // shift + 1))  # rows finished after this front
                if rows > bar.n:
                    bar.update(rows - bar.n)
            bar.close()
    finally:
        model.train(was_training)
    return x


def _unknown_span(known: Tensor, shift: int) -> tuple[int, int]:
    """Step indices (:func:`step_index`) of the first and the last sub-pixel that some image
    does not know ((n, -1) when every image knows everything)."""
    unknown = (~known).reshape(-1, *known.shape[-3:]).any(0)
    steps = step_index(tuple(known.shape[-3:]), shift).to(known.device)[unknown]
    if not len(steps):
        return unknown.numel(), -1
    return int(steps.min()), int(steps.max())
