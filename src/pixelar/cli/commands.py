"""The verbs that use a trained model (eval, sample, complete, compress, decompress) and list:
each checks its flags, then hands the work to the library."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch

from pixelar.checkpoint import atomic_write
from pixelar.cli.errors import in_flags
from pixelar.cli.train import format_nll
from pixelar.codec import MAX_SUBPIXELS, decode_images, encode, image_nll_bits
from pixelar.completion import complete, known_after_unknown, rows_mask
from pixelar.data import DATASET_PARAMS, list_datasets
from pixelar.errors import PixelarError
from pixelar.evaluation import evaluate
from pixelar.imageio import read_image_list, read_images, read_mask, write_image, write_npy
from pixelar.loading import load
from pixelar.models.base import AutoregressiveModel
from pixelar.plotting import save_completion_grid, save_grid
from pixelar.presets import PRESETS
from pixelar.registry import list_models
from pixelar.training import is_run_dir, resolve_device, run_data_source


def _sampling_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`pixelar.sampling.sample` that the sampling flags set."""
    return {
        "generator": args.seed,
        "temperature": args.temperature,
        "method": args.method,
        "progress": not args.quiet,
        "batch_size": args.batch_size,
    }


# -- checks of flag values, before any model is loaded ---------------------------------------


def _at_least(value: int | None, minimum: int, name: str) -> None:
    if value is not None and value < minimum:
        raise PixelarError(f"{name} must be at least {minimum}, got {value}")


def _check_output(path: str | None, name: str) -> None:
    """Refuse an output file that cannot be written before any work is done (not after sampling)."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise PixelarError(f"{name} {path} is a directory; pass a file name")
    parent = next((folder for folder in target.parents if folder.exists()), None)
    if parent is not None and not parent.is_dir():
        raise PixelarError(f"{name} {path}: {parent} is a file, not a directory; pass another path")


def _check_sampling_flags(args: argparse.Namespace) -> None:
    """The flags shared by sample and complete."""
    _at_least(args.n, 1, "-n")
    _at_least(args.batch_size, 1, "--batch-size")
    if not (math.isfinite(args.temperature) and args.temperature > 0):
        raise PixelarError(f"--temperature must be a positive number, got {args.temperature}")
    if not -(2**63) <= args.seed < 2**64:
        raise PixelarError(f"--seed must fit in 64 bits, got {args.seed}")
    _at_least(args.label, 0, "--label")
    _at_least(args.frame_every, 1, "--frame-every")
    if args.frame_every is not None and not args.animate:
        raise PixelarError("--frame-every sets the frames of --animate; add --animate OUT.gif (or drop --frame-every)")
    _check_output(args.animate, "--animate")


def _load_model(args: argparse.Namespace) -> AutoregressiveModel:
    """The model of RUN_OR_DIR (a run's model/ or a saved model directory) on --device."""
    return load(args.run, device=resolve_device(args.device))


def _no_label_for_unconditional(args: argparse.Namespace, model: AutoregressiveModel) -> None:
    if args.label is not None and not model.num_classes:
        raise PixelarError("--label needs a class-conditional model; this one is unconditional (drop --label)")


def _model_for_files(args: argparse.Namespace) -> AutoregressiveModel:
    """The model of a verb that reads image files and writes ``-o`` (compress, bits), once
    --label and -o are checked, and --label fits the model."""
    _at_least(args.label, 0, "--label")
    _check_output(args.output, "-o")
    model = _load_model(args)
    _no_label_for_unconditional(args, model)
    return model


def _given_label(args: argparse.Namespace, model: AutoregressiveModel, count: int) -> torch.Tensor | None:
    """--label for ``count`` images of a class-conditional model (where it is required); None for an
    unconditional model."""
    if not model.num_classes:
        return None
    if args.label is None:
        raise PixelarError("the model is class-conditional: pass --label")
    return torch.full((count,), args.label, dtype=torch.long)


# -- the verbs ---------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    _at_least(args.batch_size, 1, "--batch-size")
    _at_least(args.image_size, 1, "--image-size")
    model = _load_model(args)
    source = run_data_source(args.run, model.image_shape, args.data, args.data_dir, args.image_size)
    channels = model.image_shape[0]
    dataset = source.load(args.split, channels)
    nll = evaluate(model, dataset, batch_size=args.batch_size, progress=not args.quiet)
    print(format_nll(nll.as_dict(), f"{source.data}/{args.split}"))
    if args.json:
        print(json.dumps(nll.as_dict()))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    _check_sampling_flags(args)
    _check_output(args.output, "-o")
    _check_output(args.npy, "--npy")
    model = _load_model(args)
    _no_label_for_unconditional(args, model)
    if args.label is None and model.num_classes:
        cond: torch.Tensor | None = torch.arange(args.n) % model.num_classes  # every class in turn
    else:
        cond = _given_label(args, model, args.n)
    if args.animate:
        from pixelar.cli.pictures import animate

        samples = animate(args, model, args.n, cond=cond)
    else:
        samples = model.sample(args.n, cond=cond, **_sampling_options(args))
    out = save_grid(samples, model.num_levels, args.output)
    print(f"wrote {args.n} samples to {out}")
    if args.npy:
        write_npy(samples, model.num_levels, args.npy)
        print(f"wrote the integer samples (level indices) to {args.npy}")
    return 0


def cmd_complete(args: argparse.Namespace) -> int:
    _check_sampling_flags(args)
    _at_least(args.count, 1, "--count")
    _check_output(args.output, "-o")
    model = _load_model(args)
    _no_label_for_unconditional(args, model)
    channels, height, width = model.image_shape
    labels = None
    if args.input:
        images = read_images(args.input, channels, model.num_levels, args.values, size=(height, width))
    else:
        if args.data is None and not is_run_dir(args.run):
            raise PixelarError(
                f"pass --input IMAGE.png or --data NAME: {args.run} is a saved model, not a training run"
            )
        source = run_data_source(args.run, model.image_shape, args.data, args.data_dir)
        dataset = source.load(args.split, channels).subset(args.count)
        dataset.check_compatible(model.image_shape, model.num_levels)
        images, labels = dataset.images.long(), dataset.labels
    if args.label is None and labels is not None and model.num_classes:
        cond: torch.Tensor | None = labels[: len(images)]  # the dataset's own labels
    else:
        cond = _given_label(args, model, len(images))
    if args.mask:
        known = read_mask(args.mask, model.image_shape)
        kept = f"{int(known[0].sum())} of {height * width} pixels kept, from {args.mask}"
        if known_after_unknown(known):
            print(
                "note: the mask keeps pixels after the first one to sample; they stay in the output, but each "
                "sampled sub-pixel is drawn given the sub-pixels before it in raster order only",
                file=sys.stderr,
            )
    else:
        keep_rows = height // 2 if args.keep_rows is None else args.keep_rows
        known = rows_mask(model.image_shape, keep_rows)
        kept = f"top {keep_rows} of {height} rows kept"
    images = images.to(model.device)
    if args.animate:
        from pixelar.cli.pictures import animate

        out = animate(args, model, args.n, cond=cond, images=images, known=known)
    else:
        out = complete(model, images, known, n=args.n, cond=cond, **_sampling_options(args))
    path = save_completion_grid(images, known, out, model.num_levels, args.output)
    print(f"wrote {len(images)}×{args.n} completions ({kept}) to {path}")
    return 0


def cmd_compress(args: argparse.Namespace) -> int:
    model = _model_for_files(args)
    images = read_image_list(args.images, model.image_shape[0], model.num_levels, args.values)
    cond = _given_label(args, model, len(images))
    if len(images) == 0:
        raise PixelarError(f"{', '.join(args.images)} hold(s) no images; nothing to compress")
    data = encode(model, images, cond, method=args.method, portable=args.portable, progress=True)
    atomic_write(args.output, lambda tmp: Path(tmp).write_bytes(data))
    dims = sum(image.numel() for image in images)
    nll_bits = image_nll_bits(model, images, cond)
    print(
        f"compressed {len(images)} image(s) into {len(data)} bytes: {8 * len(data) / dims:.4f} bits/dim "
        f"(model NLL {nll_bits / dims:.4f} bits/dim) -> {args.output}"
    )
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise PixelarError(f"{out} is a file; pass a directory for the images with -o")
    model = _load_model(args)
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        raise PixelarError(f"cannot read {args.file} ({e.strerror})") from None
    max_subpixels = MAX_SUBPIXELS if args.max_subpixels is None else args.max_subpixels
    _at_least(max_subpixels, 1, "--max-subpixels")
    images = decode_images(model, data, max_subpixels)
    if (args.npy or model.num_levels > 256) and len({tuple(image.shape) for image in images}) > 1:
        raise PixelarError("the images have different sizes, so they cannot share one images.npy; drop --npy")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PixelarError(f"cannot create the directory {out} ({e.strerror}); pass another one with -o") from None
    pngs = model.num_levels <= 256
    if pngs:
        for index, image in enumerate(images):
            write_image(image, model.num_levels, out / f"image_{index:04d}.png")
    if args.npy or not pngs:
        write_npy(torch.stack(images), model.num_levels, out / "images.npy")
    written = "PNG images" + (" and images.npy" if args.npy else "") if pngs else "images.npy (more than 256 levels)"
    print(f"decompressed {len(images)} image(s) into {out} ({written})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.what in ("models", "all"):
        print("models:   " + ", ".join(list_models()))
    if args.what in ("datasets", "all"):
        print("datasets:")
        for name, text in list_datasets().items():
            print(f"  {name:16s} {in_flags(text, DATASET_PARAMS)}")
    if args.what in ("presets", "all"):
        print("presets:")
        for name, preset in PRESETS.items():
            print(f"  {name:18s} {preset['model']} {preset.get('model_args', {})} on {preset['data']}")
    return 0
