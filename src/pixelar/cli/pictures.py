"""The picture verbs: receptive-field (which earlier sub-pixels a conditional reads, for several
models side by side), bits (per-pixel −log₂ p heat maps of images) and the --animate option of
sample and complete; each checks its flags, then hands the work to the library
(:mod:`pixelar.receptive_field`, :mod:`pixelar.bits_map`, :mod:`pixelar.animation`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from pixelar.animation import Every, generation_frames, save_animation
from pixelar.bits_map import bits_per_subpixel, save_bits_map
from pixelar.cli.flags import at_least, check_output, given_label, model_for_files, order_flag, sampling_options
from pixelar.errors import PixelarError
from pixelar.imageio import read_images
from pixelar.loading import load
from pixelar.models.base import AutoregressiveModel
from pixelar.plotting import save_image
from pixelar.pretrained import pretrained_dir
from pixelar.receptive_field import ReceptiveField, randomize_weights, receptive_field, receptive_field_figure
from pixelar.registry import create_model, list_models
from pixelar.training import resolve_device


def animate(args: argparse.Namespace, model: AutoregressiveModel, n: int, **inputs: Any) -> torch.Tensor:
    """sample / complete --animate: the samples (``inputs``: cond, or cond, images and known for
    completions) drawn as the sampling flags say, the generation recorded frame by frame into the
    GIF --animate names (all images in one batch: --batch-size is not used)."""
    options = sampling_options(args)
    del options["batch_size"]
    every: Every = "row" if args.frame_every is None else int(args.frame_every)
    frames, samples = generation_frames(model, n, every, **inputs, **options)
    path = save_animation(frames, args.animate)
    print(f"wrote the generation, {len(frames)} frames, to {path}")
    return samples


def _receptive_model(name: str, args: argparse.Namespace) -> tuple[str, AutoregressiveModel, tuple[int, int] | None]:
    """(label, model, size to measure at) for one --model entry: a registered model name (a fresh
    model with seeded random weights) or a run directory / saved model."""
    if name in list_models():
        size = args.image_size if args.image_size is not None else 16
        model = create_model(
            name,
            image_shape=(args.channels, size, size),
            num_levels=args.levels,
            num_layers=args.num_layers,
            hidden_channels=args.hidden_channels,
        )
        randomize_weights(model, args.seed)
        return f"{name}, {args.num_layers} layers", model.to(resolve_device(args.device)), None
    if Path(name).exists() or pretrained_dir(name) is not None:
        model = load(name, device=resolve_device(args.device))
        size = None if args.image_size is None else (args.image_size, args.image_size)
        return name, model, size
    raise PixelarError(
        f"--model {name}: neither a registered model ({', '.join(list_models())}) nor a run directory or saved model"
    )


def cmd_receptive_field(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.model.split(",") if name.strip()]
    if not names:
        raise PixelarError("--model names no model; pass e.g. --model pixelcnn,gated-pixelcnn")
    at_least(args.num_layers, 0, "--layers")
    at_least(args.hidden_channels, 1, "--hidden-channels")
    at_least(args.image_size, 1, "--image-size")
    at_least(args.levels, 2, "--levels")
    at_least(args.channel, 0, "--channel")
    if args.channels not in (1, 3):
        raise PixelarError(f"--channels must be 1 or 3, got {args.channels}")
    check_output(args.output, "-o")
    order = order_flag(args.order)
    models = [_receptive_model(name, args) for name in names]
    for _, model, _ in models:  # every model takes the order, before any is measured
        if isinstance(order, str) and not model.any_order:
            model.pixel_order(order)
    fields: list[tuple[str, ReceptiveField]] = []
    for label, model, size in models:
        label += "" if args.order is None else f", order {args.order}"
        pixel = None if args.pixel is None else (args.pixel[0], args.pixel[1])
        field = receptive_field(model, pixel, args.channel, size, seed=args.seed, progress=not args.quiet, order=order)
        row, col = field.pixel
        line = (
            f"{label}: pixel ({row}, {col}) channel {field.channel} depends on "
            f"{int((field.dependencies & field.past).sum())} of {int(field.past.sum())} earlier sub-pixels "
            f"(coverage {100 * field.coverage:.1f}%)"
        )
        if field.outside_past:
            line += f" and on {field.outside_past} later one(s): a causality leak"
        print(line)
        fields.append((label, field))
    path = save_image(receptive_field_figure(fields), args.output)
    print(f"wrote {path}")
    return 0


def cmd_bits(args: argparse.Namespace) -> int:
    model = model_for_files(args)
    channels, height, width = model.image_shape
    batches: list[torch.Tensor] = []
    names: list[str] = []
    for path in args.images:
        images = read_images([path], channels, model.num_levels, args.values, size=(height, width))
        batches.append(images)
        names.extend([str(path)] if len(images) == 1 else [f"{path}[{i}]" for i in range(len(images))])
    images = torch.cat(batches)
    if len(images) == 0:
        raise PixelarError(f"{', '.join(args.images)} hold(s) no images; nothing to measure")
    cond = given_label(args, model, len(images))
    bits = bits_per_subpixel(model, images, cond)
    for name, cost in zip(names, bits):
        total = float(cost.sum())
        print(f"{name}: {total:.1f} bits, {total / cost.numel():.4f} bits/dim")
    path = save_bits_map(images, bits, model.num_levels, args.output, names)
    print(f"wrote {path}")
    return 0
