"""Image completion: keep the known sub-pixels of an image and sample the rest (the
occlusion-completion figure of the PixelRNN paper, Figure 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.sampling import Method, Observer, broadcast_labels, sample

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


def rows_mask(image_shape: tuple[int, int, int], keep_rows: int) -> Tensor:
    """Known-sub-pixel mask [C, H, W] keeping the top ``keep_rows`` rows."""
    C, H, W = image_shape
    if not 0 <= keep_rows <= H:
        raise PixelarError(f"keep_rows must be between 0 and the image height {H}, got {keep_rows}", param="keep_rows")
    known = torch.zeros(C, H, W, dtype=torch.bool)
    known[:, :keep_rows] = True
    return known


def known_after_unknown(known: Tensor) -> bool:
    """Whether some known sub-pixel ([C, H, W] or [N, C, H, W] mask) comes after an unknown one
    in generation order: it is kept, but the sub-pixels sampled before it do not depend on it."""
    flat = known.reshape(-1, *known.shape[-3:]).permute(0, 2, 3, 1).flatten(1)  # generation order
    after_unknown = (~flat).cumsum(1) > 0
    return bool((flat & after_unknown).any())


def complete(
    model: AutoregressiveModel,
    images: Tensor,
    known: Tensor,
    n: int = 4,
    cond: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    temperature: float = 1.0,
    method: Method = "auto",
    progress: bool = False,
    batch_size: int | None = None,
    observe: Observer | None = None,
) -> Tensor:
    """``n`` completions of each image: [N, n, C, H, W] (long); ``batch_size`` and ``observe``
    as in :func:`pixelar.sampling.sample` (``observe`` sees the N·n images, each image's
    completions next to each other).

    ``known`` ([C, H, W] or [N, C, H, W], bool) marks the sub-pixels to keep; every other
    sub-pixel is sampled from the model given all earlier ones (known or sampled), so the
    completion is exact wherever the known sub-pixels precede the unknown ones in the
    ordering (e.g. the top rows).
    """
    N = images.shape[0]
    labels = broadcast_labels(cond, N)
    model.check_input(images, labels)
    known = known.bool()
    if known.shape not in (images.shape[1:], images.shape):
        raise PixelarError(f"the known mask has shape {tuple(known.shape)}, not {tuple(images.shape[1:])}")
    x = images.repeat_interleave(n, 0)
    mask = known.expand(images.shape).repeat_interleave(n, 0)
    out = sample(
        model,
        N * n,
        cond=None if labels is None else labels.repeat_interleave(n, 0),
        generator=generator,
        temperature=temperature,
        method=method,
        x=x,
        known=mask,
        progress=progress,
        batch_size=batch_size,
        observe=observe,
    )
    return out.reshape(N, n, *images.shape[1:])
