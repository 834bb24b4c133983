"""What each sub-pixel of an image costs under a model: −log₂ p(x_i | x_<i), and its heat map.

These are the conditionals the codec (:mod:`pixelar.codec`) pays for: an image's bits summed
over its sub-pixels are its NLL in bits (:func:`pixelar.codec.image_nll_bits`), the ideal size
of its compressed payload.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from torch import Tensor

from pixelar.checkpoint import atomic_write
from pixelar.errors import PixelarError
from pixelar.figures import figure_image, new_figure
from pixelar.plotting import to_uint8
from pixelar.sampling import broadcast_labels

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


def bits_per_subpixel(
    model: AutoregressiveModel, images: Tensor, cond: Tensor | int | None = None, batch_size: int = 64
) -> Tensor:
    """−log₂ p(x_i | x_<i) of every sub-pixel of integer images (uint8 or long level indices
    in [0, K)) of the model's size: float64 [B, C, H, W] on the CPU for images [B, C, H, W]
    ([C, H, W] for one image [C, H, W]).

    ``cond``: labels [B] (or one label) for a class-conditional model. The model runs in eval
    mode, ``batch_size`` images at a time.
    """
    single = images.dim() == 3
    batch = images.unsqueeze(0) if single else images
    labels = broadcast_labels(cond, batch.shape[0] if batch.dim() == 4 else 1)
    model.check_input(batch, labels)
    if batch_size < 1:
        raise PixelarError(f"batch_size must be at least 1, got {batch_size}", param="batch_size")
    parts = []
    with model.in_mode(training=False), torch.inference_mode():
        for start in range(0, batch.shape[0], batch_size):
            chunk = batch[start : start + batch_size].to(model.device).long()
            part_labels = None if labels is None else labels[start : start + batch_size].to(model.device)
            parts.append(model.log_prob(chunk, part_labels, reduction="none").double().cpu())
    nats = torch.cat(parts) if parts else torch.zeros(batch.shape, dtype=torch.float64)
    bits = -nats / math.log(2)
    return bits[0] if single else bits


def bits_figure(image: Tensor, bits: Tensor, num_levels: int, names: Sequence[str] | None = None) -> Image.Image:
    """Each image beside its heat map of bits per pixel (the sum over its channels), with a
    colour bar up to the largest pixel's cost and the image's total bits and bits/dim.

    ``image``: integer image [C, H, W] or images [N, C, H, W]; ``bits``: the same shape
    (:func:`bits_per_subpixel`); ``names``: a title per image (e.g. its file name).
    """
    images = image.unsqueeze(0) if image.dim() == 3 else image
    costs = bits.unsqueeze(0) if bits.dim() == 3 else bits
    if images.dim() != 4 or tuple(costs.shape) != tuple(images.shape):
        raise PixelarError(
            f"bits have shape {tuple(bits.shape)} but the images {tuple(image.shape)}; "
            "pass the bits_per_subpixel of these images"
        )
    if names is not None and len(names) != len(images):
        raise PixelarError(f"{len(names)} names for {len(images)} images; pass one name per image")
    pictures = to_uint8(images, num_levels)
    figure = new_figure(7.0, 3.2 * len(images))
    axes = figure.subplots(len(images), 2, squeeze=False)
    for index, (picture, cost) in enumerate(zip(pictures, costs.double())):
        per_pixel = cost.sum(0).numpy()
        total = float(cost.sum())
        left, right = axes[index]
        if picture.shape[-1] == 1:
            left.imshow(picture[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            left.imshow(picture, interpolation="nearest")
        left.set_title(names[index] if names is not None else f"image {index}", fontsize=9)
        top = max(float(per_pixel.max()), 1e-12)
        heat = right.imshow(per_pixel, cmap="inferno", vmin=0.0, vmax=top, interpolation="nearest")
        right.set_title(f"total {total:.1f} bits, {total / cost.numel():.4f} bits/dim", fontsize=9)
        bar = figure.colorbar(heat, ax=right, fraction=0.046, pad=0.04)
        bar.set_label(f"−log₂ p, bits per pixel (max {top:.2f})", fontsize=8)
        for axis in (left, right):
            axis.set_xticks([])
            axis.set_yticks([])
    return figure_image(figure)


def save_bits_map(
    image: Tensor, bits: Tensor, num_levels: int, path: str | Path, names: Sequence[str] | None = None
) -> Path:
    """Write :func:`bits_figure` as a PNG, atomically."""
    picture = bits_figure(image, bits, num_levels, names)
    return atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))
