"""Image completion: keep the known sub-pixels of an image and sample the rest (the
occlusion-completion figure of the PixelRNN paper, Figure 1).

A completion is an exact draw from p(unknown | known) when every known sub-pixel comes before
every unknown one in the generation order. In raster order that holds for the top rows only:
with the bottom half known, a raster model samples the top from p(top) and the known bottom
never enters it. A model that generates in any order completes in an order that visits the
known pixels first (:func:`completion_order`; Jain, Abbeel & Pathak, UAI 2020), so
every completion uses every known pixel, and :func:`hidden_log_prob` is then the exact
conditional log-likelihood of the hidden region. Where one of the orders the model was trained
over visits the known pixels first already (the bottom half known: an S-curve from the bottom),
that order is taken: the model's conditionals there are those it learnt, while an order with the
known pixels moved to the front may be one it never saw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.orders import OrderSpec, known_first, visits_first
from pixelar.sampling import Method, Observer, as_generator, broadcast_labels, sample

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


def known_after_unknown(known: Tensor, index: Tensor | None = None) -> bool:
    """Whether some known sub-pixel ([C, H, W] or [N, C, H, W] mask) comes after an unknown one
    in generation order (``index``: the generation index of every sub-pixel [C, H, W], by
    default raster order's): it is kept, but the sub-pixels sampled before it do not depend on it."""
    if index is None:
        flat = known.reshape(-1, *known.shape[-3:]).permute(0, 2, 3, 1).flatten(1)  # raster order
    else:
        flat = known.reshape(-1, index.numel())[:, index.flatten().argsort().to(known.device)]
    after_unknown = (~flat).cumsum(1) > 0
    return bool((flat & after_unknown).any())


def completion_order(model: AutoregressiveModel, known: Tensor, order: OrderSpec | None = None) -> OrderSpec | None:
    """The order a completion of images with the ``known`` mask [C, H, W] runs in: ``order`` when
    given; else None (the model's own) for a raster-only model. A model that generates in any
    order takes the first order that visits every fully known pixel before the others among its
    own (that of ``in_order``, else its default) and, when that is its default, the orders it was
    trained over; failing that, its own with the fully known pixels moved to the front
    (:func:`pixelar.orders.known_first`). Exact either way."""
    if order is not None or not model.any_order:
        return order
    pixels = known.bool().all(0)
    own = model.pixel_order()
    trained = getattr(model.config, "orders", ()) if own.name == model.default_order else ()
    for candidate in (own, *(model.pixel_order(name) for name in trained)):
        if visits_first(candidate, pixels):
            return candidate
    return known_first(own, pixels)


def hidden_log_prob(
    model: AutoregressiveModel,
    images: Tensor,
    known: Tensor,
    cond: Tensor | None = None,
    order: OrderSpec | None = None,
) -> Tensor:
    """Σ log p(x_i | x_<i) over the unknown sub-pixels of each image [N] (nats), in the order
    :func:`completion_order` gives: the exact log p(hidden | known) when every known sub-pixel
    comes before every hidden one in it (:func:`known_after_unknown` false for that order);
    otherwise the hidden region given only the known sub-pixels before it (a raster model with
    the bottom half known: log p(top))."""
    masks = known.bool().expand(images.shape)
    labels = broadcast_labels(cond, len(images))
    out = torch.empty(len(images), dtype=torch.float64)
    with model.in_mode(training=False), torch.no_grad():
        for mask, rows in _groups(masks):
            logp = model.log_prob(images[rows], _part(labels, rows), "none", completion_order(model, mask, order))
            out[rows] = (logp * ~mask.to(logp.device)).flatten(1).sum(1).double().cpu()
    return out


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
    order: OrderSpec | None = None,
) -> Tensor:
    """``n`` completions of each image: [N, n, C, H, W] (long); ``batch_size`` and ``observe``
    as in :func:`pixelar.sampling.sample` (``observe`` sees the N·n images, each image's
    completions next to each other).

    ``known`` ([C, H, W] or [N, C, H, W], bool) marks the sub-pixels to keep; every other
    sub-pixel is sampled from the model given all earlier ones (known or sampled), so the
    completion is exact wherever the known sub-pixels precede the unknown ones in the
    ordering (e.g. the top rows). ``order``: the order of the pixels; by default the model's
    own, and for a model that generates in any order its own with the known pixels first
    (:func:`completion_order`) — an exact draw from p(unknown | known) whenever the known
    pixels are known in every channel. Images with different masks then run apart, one batch
    per mask, drawing from one ``generator`` in turn.
    """
    N = images.shape[0]
    labels = broadcast_labels(cond, N)
    model.check_input(images, labels)
    known = known.bool()
    if known.shape not in (images.shape[1:], images.shape):
        raise PixelarError(f"the known mask has shape {tuple(known.shape)}, not {tuple(images.shape[1:])}")
    masks = known.expand(images.shape)
    if N == 0:
        raise PixelarError("there are no images to complete; pass at least one image")
    groups = _groups(masks) if order is None and model.any_order else [(masks[0], torch.arange(N))]
    if len(groups) > 1 and observe is not None:
        raise PixelarError("a completion can be watched with one mask for every image; pass one mask [C, H, W]")
    gen = as_generator(generator)
    out = torch.empty(N, n, *images.shape[1:], dtype=torch.long, device=model.device)
    for mask, rows in groups:
        out[rows] = sample(
            model,
            len(rows) * n,
            cond=None if labels is None else labels[rows].repeat_interleave(n, 0),
            generator=gen,
            temperature=temperature,
            method=method,
            x=images[rows].repeat_interleave(n, 0),
            known=masks[rows].repeat_interleave(n, 0),
            progress=progress,
            batch_size=batch_size,
            observe=observe,
            order=completion_order(model, mask, order),
        ).reshape(len(rows), n, *images.shape[1:])
    return out


def _groups(masks: Tensor) -> list[tuple[Tensor, Tensor]]:
    """The distinct masks of a batch [N, C, H, W], each with the indices of its images."""
    unique, which = masks.flatten(1).unique(dim=0, return_inverse=True)
    return [(unique[g].view(masks.shape[1:]), (which == g).nonzero().flatten().cpu()) for g in range(len(unique))]


def _part(labels: Tensor | None, rows: Tensor) -> Tensor | None:
    return None if labels is None else labels[rows.to(labels.device)]
