"""Generation as an animation: the state of the sampling loop, frame by frame, in the order the
model really generates its sub-pixels.

The frames are recorded by an observer of the one sampling loop (:func:`pixelar.sampling.fill`,
through :func:`pixelar.sampling.sample` and :func:`pixelar.completion.complete`), so they show
that loop's order: raster order for the naive sampler, the fast PixelCNN sampler's wavefronts,
the multi-scale model's small image before the rest. Sub-pixels not generated yet are drawn
hatched grey.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from pixelar.checkpoint import atomic_write
from pixelar.completion import complete
from pixelar.errors import PixelarError
from pixelar.incremental import Front
from pixelar.orders import OrderSpec
from pixelar.plotting import tile, to_uint8
from pixelar.sampling import Method, sample

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel

Every = int | Literal["row"]
HATCH = (96, 176)  # the two greys of the stripes drawn over sub-pixels not generated yet
SIDE = 192  # the default upscaling brings each image to about this many pixels a side


@dataclass
class Generation:
    """A recorded generation: ``samples`` (what the sampler returned: [n, C, H, W], or
    [N, n, C, H, W] for completions) and, per frame, the images being filled ``canvases``
    [n·, C, H, W] (uint8: a frame costs a byte a sub-pixel; int32 for over 256 levels) and which
    of their sub-pixels are set so far ``generated`` (bool, the same shape); the last frame holds
    the samples, every sub-pixel set."""

    samples: Tensor
    canvases: list[Tensor]
    generated: list[Tensor]


class _Recorder:
    """The loop's observer: a snapshot whenever ``per_frame`` more sub-pixel positions are set."""

    def __init__(self, x: Tensor, known: Tensor, per_frame: int, num_levels: int) -> None:
        self.dtype = canvas_dtype(num_levels)
        self.done = known.cpu().clone()
        self.per_frame = per_frame
        self.total = int((~self.done).any(0).sum())  # positions some image does not know
        self.count = 0
        self.next = per_frame
        self.canvases: list[Tensor] = []
        self.generated: list[Tensor] = []
        self.snapshot(x)

    def snapshot(self, x: Tensor) -> None:
        self.canvases.append(x.detach().to("cpu", dtype=self.dtype, copy=True))
        self.generated.append(self.done.clone())

    def __call__(self, x: Tensor, c: int, front: Front) -> None:
        n, C, H, W = x.shape
        done = self.done.view(n, C, H * W)
        where = front.flat(W)
        self.count += int((~done[:, c, where]).any(0).sum())
        done[:, c, where] = True
        if self.count >= self.next:
            self.next = (self.count // self.per_frame + 1) * self.per_frame
            if self.count < self.total:  # the last frame is taken from the returned samples
                self.snapshot(x)


def canvas_dtype(num_levels: int) -> torch.dtype:
    """The smallest integer type a recorded frame of images with ``num_levels`` levels fits in."""
    return torch.uint8 if num_levels <= 256 else torch.int32


def _per_frame(every: Every, image_shape: tuple[int, int, int]) -> int:
    C, _, W = image_shape
    if every == "row":
        return C * W
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise PixelarError(f"every must be 'row' or a whole number of pixels >= 1, got {every!r}", param="every")
    return C * every


def record_generation(
    model: AutoregressiveModel,
    n: int,
    every: Every = "row",
    cond: Tensor | int | None = None,
    generator: torch.Generator | int | None = None,
    temperature: float = 1.0,
    known: Tensor | None = None,
    images: Tensor | None = None,
    method: Method = "auto",
    progress: bool = False,
    order: OrderSpec | None = None,
) -> Generation:
    """Sample (or, with ``images`` and ``known``, complete) like :func:`pixelar.sampling.sample`
    (:func:`pixelar.completion.complete`), recording a frame every ``every`` pixels' worth of
    sub-pixels set (``"row"``: an image row's worth), plus the starting state and the end,
    with the pixels in ``order`` (None: the model's own).

    The samples are those the same call without recording returns (all images are sampled in
    one batch; the images do not depend on the batch size). With ``images`` [N, C, H, W] and
    ``known`` ([C, H, W] or [N, C, H, W]), ``n`` completions of each image: [N, n, C, H, W].
    """
    per_frame = _per_frame(every, model.image_shape)
    if (known is None) != (images is None):
        raise PixelarError(
            "completion needs both the images and the mask of their known sub-pixels; pass images=... with known=...",
            param=("images", "known"),
        )
    C, H, W = model.image_shape
    if images is None or known is None:
        start = torch.zeros(max(n, 1), C, H, W, dtype=torch.long)
        recorder = _Recorder(start, torch.zeros_like(start, dtype=torch.bool), per_frame, model.num_levels)
        samples = sample(
            model,
            n,
            cond=cond if not isinstance(cond, int) else torch.tensor(cond),
            generator=generator,
            temperature=temperature,
            method=method,
            progress=progress,
            observe=recorder,
            order=order,
        )
        final = samples
    else:
        mask = known.bool().cpu()
        if mask.shape not in (images.shape[1:], images.shape):
            raise PixelarError(f"the known mask has shape {tuple(known.shape)}, not {tuple(images.shape[1:])}")
        mask = mask.expand(images.shape).repeat_interleave(max(n, 1), 0)
        start = torch.where(mask, images.cpu().long().repeat_interleave(max(n, 1), 0), 0)
        recorder = _Recorder(start, mask, per_frame, model.num_levels)
        samples = complete(
            model,
            images,
            known,
            n,
            cond=cond if not isinstance(cond, int) else torch.tensor(cond),
            generator=generator,
            temperature=temperature,
            method=method,
            progress=progress,
            observe=recorder,
            order=order,
        )
        final = samples.reshape(-1, C, H, W)
    canvases = [*recorder.canvases, final.detach().to("cpu", dtype=recorder.dtype, copy=True)]
    generated = [*recorder.generated, torch.ones(final.shape, dtype=torch.bool)]
    return Generation(samples, canvases, generated)


def render_frame(
    canvas: Tensor, generated: Tensor, num_levels: int, nrow: int | None = None, scale: int | None = None
) -> Image.Image:
    """Images being generated [N, C, H, W] as one grid picture (the layout of
    :func:`pixelar.plotting.make_grid`, which it equals at the same ``scale`` once everything is
    ``generated``; by default each image is upscaled to about :data:`SIDE` pixels a side), with
    the sub-pixels not ``generated`` yet drawn as grey stripes."""
    pixels = to_uint8(canvas, num_levels)
    _, h, w, _ = pixels.shape
    scale = scale or max(1, SIDE // max(h, w))
    picture = np.asarray(tile(pixels, nrow, scale))
    pending_map = np.where(generated.cpu().permute(0, 2, 3, 1).numpy(), 0, 255).astype(np.uint8)
    pending = np.asarray(tile(pending_map, nrow, scale)) == 255  # the grid's padding is 128: never pending
    rows, cols = np.indices(pending.shape[:2])
    band = max(1, scale // 4)
    stripes = np.where(((rows + cols) // band) % 2 == 0, HATCH[0], HATCH[1]).astype(np.uint8)
    if picture.ndim == 3:
        stripes = np.repeat(stripes[..., None], picture.shape[2], axis=2)
    return Image.fromarray(np.where(pending, stripes, picture))


def generation_frames(
    model: AutoregressiveModel,
    n: int,
    every: Every = "row",
    cond: Tensor | int | None = None,
    generator: torch.Generator | int | None = None,
    temperature: float = 1.0,
    known: Tensor | None = None,
    images: Tensor | None = None,
    method: Method = "auto",
    progress: bool = False,
    nrow: int | None = None,
    scale: int | None = None,
    order: OrderSpec | None = None,
) -> tuple[list[Image.Image], Tensor]:
    """The frames of a generation (:func:`record_generation`, in ``order``) as grid pictures
    (:func:`render_frame`; completions: one row per image, ``n`` per row) and the samples.
    The last frame is exactly the samples' grid."""
    generation = record_generation(
        model, n, every, cond, generator, temperature, known, images, method, progress, order
    )
    if nrow is None and images is not None:
        nrow = n
    frames = [
        render_frame(canvas, done, model.num_levels, nrow, scale)
        for canvas, done in zip(generation.canvases, generation.generated)
    ]
    return frames, generation.samples


def save_animation(
    frames: Sequence[Image.Image], path: str | Path, duration_ms: int = 100, final_ms: int = 2000
) -> Path:
    """Write frames as a looping animated GIF, atomically: ``duration_ms`` per frame, the last
    held ``final_ms``. (A GIF holds at most 256 colours per frame: colour frames may be
    quantised; greyscale ones are exact.)"""
    if not frames:
        raise PixelarError("no frames to write; record a generation first")
    if duration_ms < 1 or final_ms < 1:
        raise PixelarError(f"frame durations must be at least 1 ms, got {duration_ms} and {final_ms}")
    durations = [duration_ms] * (len(frames) - 1) + [final_ms]
    first, *rest = frames

    def write(tmp: str) -> None:
        first.save(tmp, format="GIF", save_all=True, append_images=rest, duration=durations, loop=0)

    return atomic_write(path, write)
