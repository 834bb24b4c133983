"""``pixelar train``: a new run from a preset and flags, or ``--resume`` of a run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pixelar.cli.parser import TENSORBOARD_IN_RUN, TRAIN_FLAGS, flag
from pixelar.distributed import current
from pixelar.errors import PixelarError
from pixelar.presets import get_preset
from pixelar.registry import get_entry
from pixelar.training import RESUMABLE, TrainConfig, has_checkpoint, resume_config, train

# The flags of 'train' beyond TRAIN_FLAGS that set up a new run (so 'train --resume' refuses them).
NEW_RUN_FLAGS = ("preset", "out", "num_layers", "hidden_channels", "orders")


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        run_dir = Path(args.resume)
        _refuse_new_run_flags(args, run_dir)
        args.tensorboard = _tensorboard_dir(args.tensorboard, run_dir)
        config = resume_config(run_dir, **{name: getattr(args, name) for name in RESUMABLE})
        if not has_checkpoint(run_dir):
            print(f"note: {run_dir} has no checkpoint yet; starting it from step 0", file=sys.stderr)
    else:
        config = new_run_config(args)
        run_dir = Path(args.out) if args.out else Path("runs") / (args.preset or config.model)
        config.tensorboard = _tensorboard_dir(config.tensorboard, run_dir)
    result = train(config, run_dir, resume=bool(args.resume), progress=not args.quiet)
    if not current().is_main:  # under torchrun: rank 0 reports
        return 0
    print(format_nll(result, config.data))
    print(f"run directory: {run_dir}  (samples.png, loss.png, metrics.jsonl, model/)")
    return 0


def _tensorboard_dir(value: str | None, run_dir: Path) -> str | None:
    """--tensorboard's log directory: RUN_DIR/tensorboard when the flag has no value."""
    return str(run_dir / "tensorboard") if value == TENSORBOARD_IN_RUN else value


def format_nll(result: dict[str, Any], data: str) -> str:
    return (
        f"test NLL on {data}: {result['nats_per_image']:.3f} nats/image, "
        f"{result['bits_per_dim']:.4f} bits/dim ({result['images']} images)"
    )


def _refuse_new_run_flags(args: argparse.Namespace, run_dir: Path) -> None:
    """'train --resume' takes the run's own settings: any flag that would change one is an error."""
    given = [name for name in TRAIN_FLAGS if name not in RESUMABLE and getattr(args, name) is not None]
    given += [name for name in NEW_RUN_FLAGS if getattr(args, name) is not None]
    given += ["model_arg"] * bool(args.model_arg) + ["conditional"] * args.conditional
    if given:
        allowed = ", ".join(flag(name) for name in RESUMABLE[:-1]) + f" and {flag(RESUMABLE[-1])}"
        raise PixelarError(
            f"--resume continues {run_dir} with the settings in its train_config.json; "
            f"{', '.join(flag(name) for name in given)} cannot change them (only {allowed} can): "
            "drop them, or start a new run with --out"
        )


def new_run_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of a new run: the preset's settings, overridden by the flags given."""
    settings: dict[str, Any] = get_preset(args.preset) if args.preset else {}
    settings.update({name: getattr(args, name) for name in TRAIN_FLAGS if getattr(args, name) is not None})
    model_args = dict(settings.get("model_args", {}))
    if args.num_layers is not None:
        model_args["num_layers"] = args.num_layers
    if args.hidden_channels is not None:
        model_args["hidden_channels"] = args.hidden_channels
    if args.orders is not None:
        model_args["orders"] = _orders(args.orders, settings.get("model", TrainConfig.model))
    for item in args.model_arg:
        if "=" not in item:
            raise PixelarError(f"--model-arg expects KEY=VALUE, got {item!r}")
        key, text = item.split("=", 1)
        model_args[key] = _parse_value(text)
    settings["model_args"] = model_args
    settings["conditional"] = args.conditional or settings.get("conditional", False)
    return TrainConfig(**settings)


def _parse_value(text: str) -> Any:
    """A --model-arg value: JSON (numbers, true/false, lists), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _orders(text: str, model: str) -> list[str]:
    """--orders: the names it lists, for a model that generates in any order."""
    if not get_entry(model).cls.any_order:
        raise PixelarError(
            f"--orders needs a model that generates in any order (lmconv); {model} generates in raster order only"
        )
    return [name.strip() for name in text.split(",")]
