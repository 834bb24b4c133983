"""Receptive fields: which earlier sub-pixels one conditional of a model really depends on,
measured by perturbation (:mod:`pixelar.causality`), and a figure comparing models.

The plain PixelCNN's blind spot (the cells above-right of a pixel that stacked masked
convolutions never reach) shows as past sub-pixels without dependence; the Gated PixelCNN and
the Diagonal BiLSTM, deep enough, depend on the whole past.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from pixelar.causality import perturbation_effects
from pixelar.errors import PixelarError
from pixelar.figures import figure_image, new_figure
from pixelar.orders import OrderSpec

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel

# Elements of one batch of conditional tables [batch, C, K, H, W] the measurement holds at a time,
# and the most perturbed images per batch (the progress bar's step).
TABLE_ELEMENTS = 2**24
MAX_BATCH = 32


@dataclass(frozen=True)
class ReceptiveField:
    """What the conditional of sub-pixel (``channel``, ``pixel``) depends on.

    Attributes:
        pixel: (row, column) of the target sub-pixel.
        channel: its channel.
        effect: float64 [C, H, W]: the largest change of the conditional's log-probabilities
            (over its levels, and over the random images measured) when that sub-pixel
            changes; 0 where it does not depend on it.
        past: bool [C, H, W]: the sub-pixels before the target in the model's generation
            order (:meth:`~pixelar.models.base.AutoregressiveModel.generation_order`), the
            context it may depend on.
    """

    pixel: tuple[int, int]
    channel: int
    effect: Tensor
    past: Tensor

    @property
    def dependencies(self) -> Tensor:
        """bool [C, H, W]: the sub-pixels the conditional depends on."""
        return self.effect > 0

    @property
    def coverage(self) -> float:
        """The fraction of the past the conditional depends on (1.0 when the past is empty)."""
        past = int(self.past.sum())
        return 1.0 if past == 0 else int((self.dependencies & self.past).sum()) / past

    @property
    def outside_past(self) -> int:
        """How many sub-pixels outside the past (the target itself and later ones) it depends
        on: a causality leak; 0 for a correct model."""
        return int((self.dependencies & ~self.past).sum())


def randomize_weights(model: AutoregressiveModel, seed: int = 0, gain: float = 1.0) -> AutoregressiveModel:
    """Redraw every weight of ``model`` in place as N(0, gain²/fan_in) and every bias (and other
    vector) as N(0, 0.1²), seeded; returns it. A fresh model's own initialisation may zero
    whole connections (PixelCNN++'s residual outputs, class biases), which would hide part of
    the receptive field its architecture has; random weights show all of it."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            std = gain / param[0].numel() ** 0.5 if param.dim() > 1 else 0.1
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float64)
            param.copy_(noise.to(device=param.device, dtype=param.dtype) * std)
    return model


def _shape(model: AutoregressiveModel, image_shape: Sequence[int] | None) -> tuple[int, int]:
    """(H, W) to measure at: ``image_shape`` ((H, W) or (C, H, W)) or the model's own."""
    C, H, W = model.image_shape
    if image_shape is None:
        return H, W
    shape = tuple(int(side) for side in image_shape)
    if len(shape) == 3 and shape[0] != C:
        raise PixelarError(f"image_shape has {shape[0]} channel(s) but the model {C}; pass ({C}, H, W) or (H, W)")
    if len(shape) not in (2, 3):
        raise PixelarError(f"image_shape must be (H, W) or (C, H, W), got {tuple(image_shape)}", param="image_shape")
    return shape[-2], shape[-1]


def receptive_field(
    model: AutoregressiveModel,
    pixel: tuple[int, int] | None = None,
    channel: int = 0,
    image_shape: Sequence[int] | None = None,
    cond: int | None = None,
    draws: int = 2,
    seed: int = 0,
    progress: bool = False,
    order: OrderSpec | None = None,
) -> ReceptiveField:
    """The receptive field of the conditional of sub-pixel (``channel``, ``pixel``).

    Every sub-pixel of a random image is changed in turn and the change of the conditional's
    table measured (:func:`pixelar.causality.perturbation_effects`), on a float64 copy of the
    model (the model itself is not changed) in eval mode; the effects of ``draws`` random
    images (seeded by ``seed``) are combined by their maximum, so a dependence that one image
    hides (a ReLU that happens to be off) still shows.

    Args:
        pixel: (row, column); default the central pixel (H // 2, W // 2).
        image_shape: measure at this size ((H, W) or (C, H, W)), with the same weights;
            default the model's own.
        cond: the class label for a class-conditional model (default 0).
        progress: show a progress bar over the batches of perturbed images.
        order: the order of the pixels (None: the model's own): the past is what comes
            before the target in it (a raster-only model refuses any other than raster).
    """
    height, width = _shape(model, image_shape)
    C = model.image_shape[0]
    row, col = (height // 2, width // 2) if pixel is None else (int(pixel[0]), int(pixel[1]))
    if not (0 <= row < height and 0 <= col < width):
        raise PixelarError(
            f"pixel must lie inside the {height}×{width} image (rows 0…{height - 1}, columns 0…{width - 1}), "
            f"got ({row}, {col})",
            param="pixel",
        )
    if not 0 <= channel < C:
        raise PixelarError(f"channel must be in 0…{C - 1} for a {C}-channel model, got {channel}", param="channel")
    if draws < 1:
        raise PixelarError(f"draws must be at least 1, got {draws}", param="draws")
    probe = copy.deepcopy(model).double()
    probe.resize(height, width)
    with probe.in_order(order):
        return _measure(probe, row, col, channel, cond, draws, seed, progress)


def _measure(
    probe: AutoregressiveModel,
    row: int,
    col: int,
    channel: int,
    cond: int | None,
    draws: int,
    seed: int,
    progress: bool,
) -> ReceptiveField:
    """:func:`receptive_field` of the float64 ``probe`` at its size and in its order."""
    C, height, width = probe.image_shape
    K = probe.num_levels
    labels = torch.tensor([cond if cond is not None else 0], device=probe.device) if probe.num_classes else None
    order = probe.generation_order()
    target = order[channel, row, col]
    batch = max(1, min(MAX_BATCH, TABLE_ELEMENTS // (C * K * height * width)))
    effect = torch.zeros(C * height * width, dtype=torch.float64)
    for draw in range(draws):
        x = torch.randint(0, K, (C, height, width), generator=torch.Generator().manual_seed(seed + draw))
        effects = perturbation_effects(
            probe,
            x.to(probe.device),
            labels,
            seed=seed + draw,
            targets=target.reshape(1),
            batch_size=batch,
            progress=progress,
        )
        effect = torch.maximum(effect, effects[0])
    return ReceptiveField((row, col), channel, effect[order], order < target)


def _past_outline(past: np.ndarray) -> list[list[tuple[float, float]]]:
    """Segments (in imshow's pixel coordinates) of the border of the pixels marked in ``past`` [H, W]."""
    H, W = past.shape
    padded = np.pad(past, 1)
    segments = []
    for r in range(H + 1):  # horizontal edges: between rows r - 1 and r
        for c in range(W):
            if padded[r, c + 1] != padded[r + 1, c + 1]:
                segments.append([(c - 0.5, r - 0.5), (c + 0.5, r - 0.5)])
    for c in range(W + 1):  # vertical edges: between columns c - 1 and c
        for r in range(H):
            if padded[r + 1, c] != padded[r + 1, c + 1]:
                segments.append([(c - 0.5, r - 0.5), (c - 0.5, r + 0.5)])
    return segments


def receptive_field_figure(fields: Sequence[tuple[str, ReceptiveField]], columns: int = 4) -> Image.Image:
    """Receptive fields side by side (``columns`` per row), one panel per (name, field): the
    strength of each pixel's influence (its channels' largest effect, log colour scale; white:
    none), the causal past outlined, the target pixel framed in red; titled with the name and
    the coverage of the past."""
    if not fields:
        raise PixelarError("no receptive fields to draw; pass at least one (name, field)")
    columns = max(1, min(columns, len(fields)))
    rows = math.ceil(len(fields) / columns)
    figure = new_figure(3.3 * columns, 3.5 * rows + 0.4)  # first: says how to install matplotlib
    import matplotlib
    from matplotlib.collections import LineCollection
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.flat[len(fields) :]:
        axis.set_visible(False)
    for axis, (name, field) in zip(axes.flat, fields):
        strength = field.effect.amax(0).numpy()
        positive = strength[strength > 0]
        top = float(positive.max()) if positive.size else 1.0
        low = max(float(positive.min()) if positive.size else top, top * 1e-8)
        shown = np.ma.masked_less_equal(strength, 0.0)
        axis.imshow(shown, cmap=cmap, norm=LogNorm(vmin=low, vmax=top * (1 + 1e-9)), interpolation="nearest")
        past = field.past.any(0).numpy()
        axis.add_collection(LineCollection(_past_outline(past), colors="tab:blue", linewidths=2.0))
        row, col = field.pixel
        axis.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.0))
        title = f"{name}\ncoverage {100 * field.coverage:.1f}% of {int(field.past.sum())} earlier sub-pixels"
        leaks = field.outside_past
        if leaks:
            title += f"\n{leaks} LATER sub-pixel(s): a causality leak"
        axis.set_title(title, fontsize=9, color="red" if leaks else "black")
        axis.set_xticks([])
        axis.set_yticks([])
    figure.supxlabel(
        "colour: how strongly the conditional changes with each pixel (log scale); white: not at all; "
        "blue outline: the causal past; red: the target pixel",
        fontsize=8,
    )
    return figure_image(figure)
