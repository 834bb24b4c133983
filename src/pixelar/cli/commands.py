"""The verbs that use a trained model (eval, sample, complete, compress, decompress) and list:
each checks its flags, then hands the work to the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from pixelar.checkpoint import atomic_write
from pixelar.cli.errors import in_flags
from pixelar.cli.flags import (
    at_least,
    check_output,
    check_sampling_flags,
    given_label,
    load_model,
    no_label_for_unconditional,
    order_flag,
    sampling_options,
)
from pixelar.cli.train import format_nll
from pixelar.codec import MAX_SUBPIXELS, decode_images, encode, image_nll_bits
from pixelar.completion import complete, completion_order, hidden_log_prob, known_after_unknown, rows_mask
from pixelar.data import DATASET_PARAMS, list_datasets
from pixelar.errors import PixelarError
from pixelar.evaluation import ensemble_orders, evaluate, evaluate_orders
from pixelar.imageio import read_image_list, read_images, read_mask, write_image, write_npy
from pixelar.models.base import AutoregressiveModel
from pixelar.plotting import save_completion_grid, save_grid
from pixelar.presets import PRESETS
from pixelar.pretrained import card_of, list_pretrained
from pixelar.registry import list_models
from pixelar.training import is_run_dir, run_data_source


def cmd_eval(args: argparse.Namespace) -> int:
    at_least(args.batch_size, 1, "--batch-size")
    at_least(args.image_size, 1, "--image-size")
    model = load_model(args)
    source = run_data_source(args.run, model.image_shape, args.data, args.data_dir, args.image_size)
    channels = model.image_shape[0]
    orders = None if args.orders is None else _eval_orders(args.orders, model)
    dataset = source.load(args.split, channels)
    where = f"{source.data}/{args.split}"
    if orders is None:
        nll = evaluate(model, dataset, batch_size=args.batch_size, progress=not args.quiet)
        print(format_nll(nll.as_dict(), where))
        if args.json:
            print(json.dumps(nll.as_dict()))
        return 0
    result = evaluate_orders(model, dataset, orders, batch_size=args.batch_size, progress=not args.quiet)
    for name, one in zip(orders, result.per_order):
        print(format_nll(one.as_dict(), where) + f" in order {name}")
    ensemble = result.ensemble
    print(
        f"ensemble of the {len(orders)} orders (the exact likelihood of their mixture): "
        f"{ensemble.nats_per_image:.3f} nats/image, {ensemble.bits_per_dim:.4f} bits/dim ({ensemble.count} images)"
    )
    if args.json:
        print(json.dumps({**result.per_order[0].as_dict(), **result.as_dict()}))
    return 0


def _eval_orders(text: str, model: AutoregressiveModel) -> list[str]:
    """--orders: K (:func:`pixelar.evaluation.ensemble_orders`) or comma-separated names, checked."""
    if text.strip().isdigit():
        return ensemble_orders(model, int(text))
    names = [name.strip() for name in text.split(",")]
    for name in names:
        model.pixel_order(name)
    return [model.pixel_order(name).name for name in names]


def cmd_sample(args: argparse.Namespace) -> int:
    check_sampling_flags(args)
    check_output(args.output, "-o")
    check_output(args.npy, "--npy")
    model = load_model(args)
    no_label_for_unconditional(args, model)
    if args.label is None and model.num_classes:
        cond: torch.Tensor | None = torch.arange(args.n) % model.num_classes  # every class in turn
    else:
        cond = given_label(args, model, args.n)
    if args.animate:
        from pixelar.cli.pictures import animate

        samples = animate(args, model, args.n, cond=cond)
    else:
        samples = model.sample(args.n, cond=cond, **sampling_options(args))
    out = save_grid(samples, model.num_levels, args.output)
    print(f"wrote {args.n} samples to {out}")
    if args.npy:
        write_npy(samples, model.num_levels, args.npy)
        print(f"wrote the integer samples (level indices) to {args.npy}")
    return 0


def cmd_complete(args: argparse.Namespace) -> int:
    check_sampling_flags(args)
    at_least(args.count, 1, "--count")
    check_output(args.output, "-o")
    model = load_model(args)
    no_label_for_unconditional(args, model)
    channels, height, width = model.image_shape
    labels = None
    if args.input:
        images = read_images(args.input, channels, model.num_levels, args.values, size=(height, width))
    else:
        if args.data is None and not is_run_dir(args.run) and card_of(args.run) is None:
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
        cond = given_label(args, model, len(images))
    if args.mask:
        known = read_mask(args.mask, model.image_shape)
        kept = f"{int(known[0].sum())} of {height * width} pixels kept, from {args.mask}"
    else:
        keep_rows = height // 2 if args.keep_rows is None else args.keep_rows
        known = rows_mask(model.image_shape, keep_rows)
        kept = f"top {keep_rows} of {height} rows kept"
    order = model.pixel_order(completion_order(model, known, order_flag(args.order)))
    exact = not known_after_unknown(known, order.generation_index(channels))
    if not exact:
        print(
            "note: the mask keeps pixels after the first one to sample; they stay in the output, but each "
            f"sampled sub-pixel is drawn given the sub-pixels before it in {order.name} order only",
            file=sys.stderr,
        )
    images = images.to(model.device)
    if args.animate:
        from pixelar.cli.pictures import animate

        out = animate(args, model, args.n, cond=cond, images=images, known=known)
    else:
        out = complete(model, images, known, n=args.n, cond=cond, **sampling_options(args))
    path = save_completion_grid(images, known, out, model.num_levels, args.output)
    print(f"wrote {len(images)}×{args.n} completions ({kept}, in {order.name} order) to {path}")
    nll = -hidden_log_prob(model, images, known, cond, order).mean()
    given = "the known pixels (exact)" if exact else f"the known pixels before it in {order.name} order"
    print(f"NLL of the hidden region of the input images given {given}: {nll:.3f} nats/image")
    return 0


def cmd_compress(args: argparse.Namespace) -> int:
    from pixelar.cli.pages import compress_pages, page_model
    from pixelar.codec.pages import is_template_model

    if args.run is not None and Path(args.run).is_file():  # `compress a.png b.png`: no model given
        args.images, args.run = [args.run, *args.images], None
    check_output(args.output, "-o")
    model = page_model(args.run, args.device)
    if is_template_model(model):
        return compress_pages(args, model)
    at_least(args.label, 0, "--label")
    no_label_for_unconditional(args, model)
    images = read_image_list(args.images, model.image_shape[0], model.num_levels, args.values)
    cond = given_label(args, model, len(images))
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
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        raise PixelarError(f"cannot read {args.file} ({e.strerror})") from None
    from pixelar.cli.pages import decompress_pages
    from pixelar.codec.pages import is_page_file

    if is_page_file(data):
        return decompress_pages(args, data)
    if args.run is None:
        raise PixelarError(
            f"{args.file} is no page file: pass the model it was compressed with, `pixelar decompress RUN {args.file}`"
        )
    model = load_model(args)
    max_subpixels = MAX_SUBPIXELS if args.max_subpixels is None else args.max_subpixels
    at_least(max_subpixels, 1, "--max-subpixels")
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
        datasets = list_datasets()
        width = max(map(len, datasets))
        for name, text in datasets.items():
            print(f"  {name:{width}s} {in_flags(text, DATASET_PARAMS)}")
    if args.what in ("presets", "all"):
        print("presets:")
        for name, preset in PRESETS.items():
            print(f"  {name:18s} {preset['model']} {preset.get('model_args', {})} on {preset['data']}")
    if args.what in ("pretrained", "all"):
        print("pretrained (use the name wherever a run is taken):")
        for name, card in list_pretrained().items():
            print(
                f"  {name:16s} {card['description']}; {card['test_nll']:.2f} {card['unit']} on {card['data']}/{card['split']}"
            )
    return 0
