"""What the verbs that use a model make of their flags: checks of flag values before any work
is done, the model RUN_OR_DIR names, the class labels --label gives, and the sampling options."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelar.errors import PixelarError
from pixelar.loading import load
from pixelar.models.base import AutoregressiveModel
from pixelar.orders import OrderSpec
from pixelar.training import resolve_device


def sampling_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`pixelar.sampling.sample` that the sampling flags set."""
    return {
        "generator": args.seed,
        "temperature": args.temperature,
        "method": args.method,
        "progress": not args.quiet,
        "batch_size": args.batch_size,
        "order": order_flag(args.order),
    }


def order_flag(text: str | None) -> OrderSpec | None:
    """--order: an order's name, or a .npy file holding a permutation of the pixels (checked
    against the model's size where it is used)."""
    if text is None or not text.endswith(".npy"):
        return text
    try:
        return np.load(text, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise PixelarError(f"--order {text}: cannot read a permutation from it ({e.__class__.__name__})") from None


# -- checks of flag values, before any model is loaded ---------------------------------------


def at_least(value: int | None, minimum: int, name: str) -> None:
    if value is not None and value < minimum:
        raise PixelarError(f"{name} must be at least {minimum}, got {value}")


def check_output(path: str | None, name: str) -> None:
    """Refuse an output file that cannot be written before any work is done (not after sampling)."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise PixelarError(f"{name} {path} is a directory; pass a file name")
    parent = next((folder for folder in target.parents if folder.exists()), None)
    if parent is not None and not parent.is_dir():
        raise PixelarError(f"{name} {path}: {parent} is a file, not a directory; pass another path")


def check_sampling_flags(args: argparse.Namespace) -> None:
    """The flags shared by sample and complete."""
    at_least(args.n, 1, "-n")
    at_least(args.batch_size, 1, "--batch-size")
    if not (math.isfinite(args.temperature) and args.temperature > 0):
        raise PixelarError(f"--temperature must be a positive number, got {args.temperature}")
    if not -(2**63) <= args.seed < 2**64:
        raise PixelarError(f"--seed must fit in 64 bits, got {args.seed}")
    at_least(args.label, 0, "--label")
    at_least(args.frame_every, 1, "--frame-every")
    if args.frame_every is not None and not args.animate:
        raise PixelarError("--frame-every sets the frames of --animate; add --animate OUT.gif (or drop --frame-every)")
    check_output(args.animate, "--animate")


def load_model(args: argparse.Namespace) -> AutoregressiveModel:
    """The model of RUN_OR_DIR (a run's model/ or a saved model directory) on --device."""
    return load(args.run, device=resolve_device(args.device))


def no_label_for_unconditional(args: argparse.Namespace, model: AutoregressiveModel) -> None:
    if args.label is not None and not model.num_classes:
        raise PixelarError("--label needs a class-conditional model; this one is unconditional (drop --label)")


def model_for_files(args: argparse.Namespace) -> AutoregressiveModel:
    """The model of a verb that reads image files and writes ``-o`` (compress, bits), once
    --label and -o are checked, and --label fits the model."""
    at_least(args.label, 0, "--label")
    check_output(args.output, "-o")
    model = load_model(args)
    no_label_for_unconditional(args, model)
    return model


def given_label(args: argparse.Namespace, model: AutoregressiveModel, count: int) -> torch.Tensor | None:
    """--label for ``count`` images of a class-conditional model (where it is required); None for an
    unconditional model."""
    if not model.num_classes:
        return None
    if args.label is None:
        raise PixelarError("the model is class-conditional: pass --label")
    return torch.full((count,), args.label, dtype=torch.long)
