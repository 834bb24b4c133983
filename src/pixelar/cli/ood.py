"""``pixelar score`` (per-image OOD scores of image files) and ``pixelar ood`` (an
in-distribution dataset against an out-of-distribution one: metrics, JSON, figure)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from pixelar.cli.flags import at_least, check_output, load_model
from pixelar.errors import PixelarError
from pixelar.imageio import read_images
from pixelar.loading import load
from pixelar.models.base import AutoregressiveModel
from pixelar.ood import COMPLEXITIES, estimate_entropy, ood_experiment, save_ood_result, score
from pixelar.ood.experiment import OOD_DIR
from pixelar.training import is_run_dir, resolve_device, run_data_source
from pixelar.training_config import DataSource


def _complexities(text: str | None) -> list[str]:
    names = [] if not text else [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in COMPLEXITIES]
    if unknown:
        raise PixelarError(f"unknown --complexity {', '.join(unknown)}; choose from {', '.join(COMPLEXITIES)}")
    return names


def _models(args: argparse.Namespace) -> tuple[AutoregressiveModel, dict[str, Any]]:
    """The model (on --device), and the options of :func:`pixelar.ood.score` the flags give: the
    --background model, the --complexity scores and their --complexity-model."""
    device = resolve_device(args.device)
    names = _complexities(args.complexity)
    if ("model" in names) != (args.complexity_model is not None):
        raise PixelarError("--complexity model and --complexity-model RUN go together: give both or neither")
    model = load_model(args)
    options = {
        "background": None if args.background is None else load(args.background, device=device),
        "complexity": names,
        "complexity_model": None if args.complexity_model is None else load(args.complexity_model, device=device),
        "batch_size": args.batch_size,
        "progress": not args.quiet,
    }
    return model, options


def _source(args: argparse.Namespace, model: AutoregressiveModel, data: str | None, flag: str) -> DataSource:
    """Where ``data`` is (default: the run's own; ``flag`` names it); a folder of images is read at
    the model's levels."""
    try:
        source = run_data_source(args.run, model.image_shape, data, args.data_dir)
    except PixelarError as error:
        if "data" not in error.params:
            raise
        raise PixelarError(f"{args.run} names no dataset: pass {flag} NAME (the data it was trained on)") from None
    if source.data.startswith("folder:") and source.levels is None and model.num_levels != 256:
        source = source._replace(levels=model.num_levels)
    return source


def _reference(args: argparse.Namespace, model: AutoregressiveModel, source: DataSource) -> torch.Tensor:
    """The first --reference training images of ``source``: what the typicality's entropy is estimated on."""
    return source.load("train", model.image_shape[0]).subset(args.reference).images


def cmd_score(args: argparse.Namespace) -> int:
    at_least(args.batch_size, 1, "--batch-size")
    at_least(args.reference, 1, "--reference")
    check_output(args.output, "-o")
    model, options = _models(args)
    channels, height, width = model.image_shape
    images, names = [], []
    for path in args.images:
        batch = read_images([path], channels, model.num_levels, args.values, size=(height, width))
        images.append(batch)
        names += (
            [str(path)]
            if len(batch) == 1 and not str(path).endswith(".npy")
            else [f"{path}[{i}]" for i in range(len(batch))]
        )
    x = torch.cat(images)
    if len(x) == 0:
        raise PixelarError(f"{', '.join(args.images)} hold(s) no images; nothing to score")
    entropy = None
    if args.typicality:
        source = _source(args, model, args.reference_data, "--reference-data")
        entropy = estimate_entropy(model, _reference(args, model, source), args.batch_size, not args.quiet)
    scores = score(model, x, entropy=entropy, **options)
    columns = scores.columns()
    for i, name in enumerate(names):
        print(f"{name}: " + ", ".join(f"{key} {float(values[i]):.4g}" for key, values in columns.items()))
    if args.output:
        print(f"wrote {scores.write_csv(args.output, names)}")
    return 0


def cmd_ood(args: argparse.Namespace) -> int:
    at_least(args.batch_size, 1, "--batch-size")
    at_least(args.count, 0, "--count")
    at_least(args.reference, 0, "--reference")
    at_least(args.typicality_batch, 1, "--typicality-batch")
    model, options = _models(args)
    channels = model.image_shape[0]
    inside, outside = _source(args, model, args.in_data, "--in-data"), _source(args, model, args.out_data, "--out-data")
    in_set = inside.load(args.split, channels).subset(args.count)
    out_set = outside.load(args.split, channels).subset(args.count)
    reference = _reference(args, model, inside) if args.reference else None
    settings = {
        "model": args.run,
        "split": args.split,
        "count": args.count,
        "reference": args.reference,
        "background": args.background,
        "complexity_model": args.complexity_model,
    }
    result = ood_experiment(
        model,
        in_set,
        out_set,
        reference=reference,
        names=(inside.data, outside.data),
        typicality_batch=args.typicality_batch,
        settings=settings,
        **options,
    )
    print(f"in: {inside.data}/{args.split} ({len(in_set)} images), out: {outside.data}/{args.split} ({len(out_set)})")
    print(f"{'score':<24} {'AUROC':>7} {'AUPRC':>7} {'FPR80':>7}")
    for name, metrics in result.metrics.items():
        print(f"{name:<24} {metrics['auroc']:7.3f} {metrics['auprc']:7.3f} {metrics['fpr80']:7.3f}")
    out = Path(args.output) if args.output else (Path(args.run) / OOD_DIR if is_run_dir(args.run) else Path(OOD_DIR))
    for path in save_ood_result(result, out):
        print(f"wrote {path}")
    return 0
