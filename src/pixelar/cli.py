"""The ``pixelar`` command line: a thin layer over the library API."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from pixelar.errors import PixelarError

TRAIN_FLAGS = {
    # flag: (TrainConfig field, type, help)
    "model": (str, "registered model name (pixelar list models)"),
    "data": (str, "dataset name (pixelar list datasets), or folder:PATH"),
    "data_dir": (str, "where datasets are cached (default $PIXELAR_DATA_DIR or the user cache dir)"),
    "image_size": (int, "image size for folder:PATH datasets"),
    "channels": (int, "1 or 3, for folder:PATH datasets"),
    "batch_size": (int, "images per step"),
    "steps": (int, "optimisation steps"),
    "max_minutes": (float, "stop after this many minutes of training"),
    "optimizer": (str, "adam or rmsprop"),
    "lr": (float, "learning rate"),
    "grad_clip": (float, "max gradient norm (0: no clipping)"),
    "eval_every": (int, "steps between test evaluations"),
    "eval_images": (int, "test images per evaluation during training (0: all)"),
    "checkpoint_every": (int, "steps between checkpoints"),
    "num_samples": (int, "samples drawn into samples.png at the end"),
    "ema": (float, "Polyak averaging decay of the weights (e.g. 0.9995; 0 disables)"),
    "seed": (int, "random seed"),
    "device": (str, "cpu or cuda"),
}


VALUES_HELP = (
    "what the input's values mean: 8-bit intensities (default for image files; a K-level model takes "
    "round(k*255/(K-1))) or level indices 0..K-1 (default for .npy)"
)


# Flags that 'train --resume' may change; every other setting comes from the run's train_config.json.
RESUME_FLAGS = ("steps", "max_minutes", "device")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the CLI's error style: one line, ``error: ...``, exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see '{self.prog} --help')\n")


def _at_least(value: int | None, minimum: int, flag: str) -> None:
    if value is not None and value < minimum:
        raise PixelarError(f"{flag} must be at least {minimum}, got {value}")


def _check_output(path: str | None, flag: str) -> None:
    """Refuse an output file that cannot be written before any work is done (not after sampling)."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise PixelarError(f"{flag} {path} is a directory; pass a file name")
    parent = next((p for p in target.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise PixelarError(f"{flag} {path}: {parent} is a file, not a directory; pass another path")


def _no_label_for_unconditional(args: argparse.Namespace, model: Any) -> None:
    if args.label is not None and not model.num_classes:
        raise PixelarError("--label needs a class-conditional model; this one is unconditional (drop --label)")


def _check_sampling_flags(args: argparse.Namespace) -> None:
    """The flags shared by sample and complete, checked before any model is loaded."""
    _at_least(args.n, 1, "-n")
    _at_least(args.batch_size, 1, "--batch-size")
    if not (math.isfinite(args.temperature) and args.temperature > 0):
        raise PixelarError(f"--temperature must be a positive number, got {args.temperature}")
    if not -(2**63) <= args.seed < 2**64:
        raise PixelarError(f"--seed must fit in 64 bits, got {args.seed}")
    _at_least(args.label, 0, "--label")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def cmd_train(args: argparse.Namespace) -> int:
    from pixelar.presets import get_preset
    from pixelar.training import CHECKPOINT_FILE, TrainConfig, load_run_config, train

    if args.resume:
        run_dir = Path(args.resume)
        fixed = [name for name in TRAIN_FLAGS if name not in RESUME_FLAGS and getattr(args, name) is not None]
        fixed += [
            name for name in ("preset", "out", "num_layers", "hidden_channels") if getattr(args, name) is not None
        ]
        fixed += ["model_arg"] * bool(args.model_arg) + ["conditional"] * args.conditional
        if fixed:
            flags = ", ".join("--" + name.replace("_", "-") for name in fixed)
            raise PixelarError(
                f"--resume continues {run_dir} with the settings in its train_config.json; {flags} cannot change "
                "them (only --steps, --max-minutes and --device can): drop them, or start a new run with --out"
            )
        config = load_run_config(run_dir, fix="restore it from a copy, or start a new run with --out")
        for name in RESUME_FLAGS:
            if getattr(args, name) is not None:
                setattr(config, name, getattr(args, name))
        config.validate()
        if not (run_dir / CHECKPOINT_FILE).exists():
            print(f"note: {run_dir} has no checkpoint yet; starting it from step 0", file=sys.stderr)
    else:
        settings: dict[str, Any] = get_preset(args.preset) if args.preset else {}
        for name in TRAIN_FLAGS:
            value = getattr(args, name)
            if value is not None:
                settings[name] = value
        model_args = dict(settings.get("model_args", {}))
        if args.num_layers is not None:
            model_args["num_layers"] = args.num_layers
        if args.hidden_channels is not None:
            model_args["hidden_channels"] = args.hidden_channels
        for item in args.model_arg:
            if "=" not in item:
                raise PixelarError(f"--model-arg expects KEY=VALUE, got {item!r}")
            key, value = item.split("=", 1)
            model_args[key] = _parse_value(value)
        settings["model_args"] = model_args
        settings["conditional"] = args.conditional or settings.get("conditional", False)
        config = TrainConfig(**settings)
        config.validate()  # bad values fail before any data is loaded
        from pixelar.registry import make_config

        try:  # unknown model or hyperparameter: fail before loading data
            make_config(config.model, **model_args)
        except (TypeError, ValueError) as e:
            raise PixelarError(f"invalid hyperparameters {model_args} for {config.model} ({e})") from None
        run_dir = Path(args.out) if args.out else Path("runs") / (args.preset or config.model)
    result = train(config, run_dir, resume=bool(args.resume), progress=not args.quiet)
    print(_format_nll(result, config.data))
    print(f"run directory: {run_dir}  (samples.png, loss.png, metrics.jsonl, model/)")
    return 0


def _format_nll(result: dict[str, Any], data: str) -> str:
    return (
        f"test NLL on {data}: {result['nats_per_image']:.3f} nats/image, "
        f"{result['bits_per_dim']:.4f} bits/dim ({result['images']} images)"
    )


def _load_model(args: argparse.Namespace) -> Any:
    """The model of RUN_OR_DIR (a run's model/ or a saved model directory) on --device."""
    from pixelar.checkpoint import load

    return load(args.run, device=_device(args.device))


def _run_config(run: str, needed_for: str) -> Any:
    """The TrainConfig of a training run, read only by the commands that need it (to find the
    run's dataset); None for a saved-model directory. A corrupt file is a one-line error that
    says how to do without it (``needed_for``: the flags that replace it)."""
    from pixelar.training import CONFIG_FILE, load_run_config

    if not (Path(run) / CONFIG_FILE).exists():
        return None
    return load_run_config(run, fix=f"pass {needed_for} instead, or restore the file from a copy of the run")


def _data_source(args: argparse.Namespace, model: Any, input_hint: str = "") -> tuple[str, Any, Any]:
    """(dataset name, data_dir, image_size) for eval and complete: --data and its flags, else the run's.

    The run's train_config.json is read only when the dataset is not named on the command
    line; when it is, the file is only a hint (the run's --data-dir and --image-size for the
    same dataset) and a damaged one is ignored.
    """
    from pixelar.training import CONFIG_FILE, TrainConfig

    data_dir, image_size = args.data_dir, getattr(args, "image_size", None)
    if args.data is None:
        trained = _run_config(args.run, "--data NAME (with --data-dir if the run used one)")
        if trained is None:
            raise PixelarError(f"pass {input_hint}--data NAME: {args.run} is a saved model, not a training run")
        data = trained.data
        data_dir = data_dir or trained.data_dir
        image_size = image_size or trained.image_size
    else:
        data = args.data
        try:
            hint = TrainConfig.from_json((Path(args.run) / CONFIG_FILE).read_text())
        except (OSError, ValueError, TypeError):
            hint = None
        if hint is not None and hint.data == data:
            data_dir = data_dir or hint.data_dir
            image_size = image_size or hint.image_size
    _, H, W = model.image_shape
    if image_size is None and H == W:
        image_size = H  # folder:PATH datasets are resized to the model's size
    return data, data_dir, image_size


def _device(name: str):
    from pixelar.training import resolve_device

    return resolve_device(name)


def cmd_eval(args: argparse.Namespace) -> int:
    from pixelar.data import get_dataset
    from pixelar.evaluation import evaluate

    _at_least(args.batch_size, 1, "--batch-size")
    _at_least(args.image_size, 1, "--image-size")
    model = _load_model(args)
    data, data_dir, image_size = _data_source(args, model)
    dataset = get_dataset(data, args.split, data_dir, image_size=image_size, channels=model.image_shape[0])
    nll = evaluate(model, dataset, batch_size=args.batch_size, progress=not args.quiet)
    print(_format_nll(nll.as_dict(), f"{data}/{args.split}"))
    if args.json:
        print(json.dumps(nll.as_dict()))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from pixelar.imageio import write_npy
    from pixelar.plotting import save_grid

    _check_sampling_flags(args)
    _check_output(args.output, "-o")
    _check_output(args.npy, "--npy")
    model = _load_model(args)
    _no_label_for_unconditional(args, model)
    cond = None
    if args.label is not None:
        cond = torch.full((args.n,), args.label, dtype=torch.long)
    elif model.num_classes:
        cond = torch.arange(args.n) % model.num_classes
    samples = model.sample(
        args.n,
        cond=cond,
        generator=args.seed,
        temperature=args.temperature,
        method=args.method,
        progress=not args.quiet,
        batch_size=args.batch_size,
    )
    out = save_grid(samples, model.num_levels, args.output)
    print(f"wrote {args.n} samples to {out}")
    if args.npy:
        write_npy(samples, model.num_levels, args.npy)
        print(f"wrote the integer samples (level indices) to {args.npy}")
    return 0


def cmd_complete(args: argparse.Namespace) -> int:
    import torch

    from pixelar.completion import complete, known_after_unknown, rows_mask
    from pixelar.data import get_dataset
    from pixelar.imageio import read_images, read_mask
    from pixelar.plotting import save_completion_grid

    _check_sampling_flags(args)
    _at_least(args.count, 1, "--count")
    _check_output(args.output, "-o")
    model = _load_model(args)
    _no_label_for_unconditional(args, model)
    C, H, W = model.image_shape
    labels = None
    if args.input:
        images = read_images(args.input, C, model.num_levels, args.values, size=(H, W))
    else:
        data, data_dir, image_size = _data_source(args, model, input_hint="--input IMAGE.png or ")
        dataset = get_dataset(data, args.split, data_dir, image_size=image_size, channels=C).subset(args.count)
        dataset.check_compatible(model.image_shape, model.num_levels)
        images, labels = dataset.images.long(), dataset.labels
    cond = None
    if model.num_classes:
        if args.label is not None:
            cond = torch.full((len(images),), args.label)
        elif labels is not None:
            cond = labels[: len(images)]
        else:
            raise PixelarError("the model is class-conditional: pass --label")
    if args.mask:
        known = read_mask(args.mask, model.image_shape)
        kept = f"{int(known[0].sum())} of {H * W} pixels kept, from {args.mask}"
        if known_after_unknown(known):
            print(
                "note: the mask keeps pixels after the first one to sample; they stay in the output, but each "
                "sampled sub-pixel is drawn given the sub-pixels before it in raster order only",
                file=sys.stderr,
            )
    else:
        keep = H // 2 if args.keep_rows is None else args.keep_rows
        if not 0 <= keep <= H:
            raise PixelarError(f"--keep-rows must be between 0 and the image height {H}, got {keep}")
        known = rows_mask(model.image_shape, keep)
        kept = f"top {keep} of {H} rows kept"
    images = images.to(model.device)
    out = complete(
        model,
        images,
        known,
        n=args.n,
        cond=cond,
        generator=args.seed,
        temperature=args.temperature,
        method=args.method,
        progress=not args.quiet,
        batch_size=args.batch_size,
    )
    path = save_completion_grid(images, known, out, model.num_levels, args.output)
    print(f"wrote {len(images)}×{args.n} completions ({kept}) to {path}")
    return 0


def cmd_compress(args: argparse.Namespace) -> int:
    import math

    import torch

    from pixelar.checkpoint import atomic_write
    from pixelar.codec import encode
    from pixelar.imageio import read_images

    _at_least(args.label, 0, "--label")
    _check_output(args.output, "-o")
    model = _load_model(args)
    _no_label_for_unconditional(args, model)
    C, H, W = model.image_shape
    x = read_images(args.images, C, model.num_levels, args.values, size=(H, W))
    cond = None
    if model.num_classes:
        if args.label is None:
            raise PixelarError("the model is class-conditional: pass --label")
        cond = torch.full((len(x),), args.label)
    if len(x) == 0:
        raise PixelarError(f"{', '.join(args.images)} hold(s) no images; nothing to compress")
    data = encode(model, x, cond, method=args.method)
    atomic_write(args.output, lambda tmp: Path(tmp).write_bytes(data))
    dims = len(x) * math.prod(model.image_shape)
    with torch.inference_mode():
        nll_bits = -float(model.log_prob(x.to(model.device), cond).double().sum()) / math.log(2)
    print(
        f"compressed {len(x)} image(s) into {len(data)} bytes: {8 * len(data) / dims:.4f} bits/dim "
        f"(model NLL {nll_bits / dims:.4f} bits/dim) -> {args.output}"
    )
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    from pixelar.codec import decode
    from pixelar.imageio import write_image, write_npy

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise PixelarError(f"{out} is a file; pass a directory for the images with -o")
    model = _load_model(args)
    try:
        with open(args.file, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PixelarError(f"cannot read {args.file} ({e.strerror})") from None
    x = decode(model, data)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PixelarError(f"cannot create the directory {out} ({e.strerror}); pass another one with -o") from None
    pngs = model.num_levels <= 256
    if pngs:
        for i, img in enumerate(x):
            write_image(img, model.num_levels, out / f"image_{i:04d}.png")
    if args.npy or not pngs:
        write_npy(x, model.num_levels, out / "images.npy")
    written = "PNG images" + (" and images.npy" if args.npy else "") if pngs else "images.npy (more than 256 levels)"
    print(f"decompressed {len(x)} image(s) into {out} ({written})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from pixelar.data import list_datasets
    from pixelar.presets import PRESETS
    from pixelar.registry import list_models

    if args.what in ("models", "all"):
        print("models:   " + ", ".join(list_models()))
    if args.what in ("datasets", "all"):
        print("datasets:")
        for name, text in list_datasets().items():
            print(f"  {name:16s} {text}")
    if args.what in ("presets", "all"):
        print("presets:")
        for name, p in PRESETS.items():
            print(f"  {name:18s} {p['model']} {p.get('model_args', {})} on {p['data']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="pixelar", description="Pixel-level autoregressive image models.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model (teacher-forced maximum likelihood)")
    p.add_argument("--preset", help="a named set-up (pixelar list presets); flags override it")
    for name, (typ, text) in TRAIN_FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), type=typ, default=None, help=text)
    p.add_argument("--minutes", dest="max_minutes", type=float, help=argparse.SUPPRESS)
    p.add_argument("--num-layers", type=int, help="model depth (num_layers)")
    p.add_argument("--hidden-channels", type=int, help="model width (hidden_channels)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE", help="any model hyperparameter")
    p.add_argument("--conditional", action="store_true", help="class-conditional model on the dataset's labels")
    p.add_argument("--out", help="run directory (default runs/<preset or model>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in RUN exactly where its checkpoint left off")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="exact test NLL of a trained model over a whole split")
    p.add_argument("run", metavar="RUN_OR_DIR")
    p.add_argument("--data", help="dataset (default: the run's)")
    p.add_argument("--split", default="test")
    p.add_argument("--data-dir")
    p.add_argument("--image-size", type=int)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="also print the result as JSON")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sample", help="draw samples into a PNG grid")
    p.add_argument("run", metavar="RUN_OR_DIR")
    p.add_argument("-n", type=int, default=16, help="number of samples")
    p.add_argument("-o", "--output", default="samples.png", help="PNG grid to write")
    p.add_argument("--npy", help="also write the integer samples to this .npy file")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="auto", choices=["auto", "fast", "naive"])
    p.add_argument("--label", type=int, help="class label for a conditional model")
    p.add_argument("--batch-size", type=int, default=64, help="images sampled at a time (memory)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("complete", help="complete the bottom of images (occlusion completion)")
    p.add_argument("run", metavar="RUN_OR_DIR")
    p.add_argument("--input", nargs="+", help="image files (or .npy arrays) of the model's size")
    p.add_argument("--values", choices=["8bit", "levels"], help=VALUES_HELP)
    p.add_argument("--data", help="take images from this dataset instead (default: the run's)")
    p.add_argument("--split", default="test")
    p.add_argument("--data-dir")
    p.add_argument("--count", type=int, default=4, help="images taken from --data")
    keep = p.add_mutually_exclusive_group()
    keep.add_argument("--keep-rows", type=int, help="rows kept at the top (default: half)")
    keep.add_argument("--mask", help="mask image of the model's size: white pixels kept, black ones sampled")
    p.add_argument("-n", type=int, default=4, help="completions per image")
    p.add_argument("-o", "--output", default="completions.png")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="auto", choices=["auto", "fast", "naive"])
    p.add_argument("--label", type=int, help="class label for a conditional model")
    p.add_argument("--batch-size", type=int, default=64, help="completions sampled at a time (memory)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_complete)

    p = sub.add_parser("compress", help="losslessly compress images with a trained model")
    p.add_argument("run", metavar="RUN_OR_DIR")
    p.add_argument(
        "images", nargs="+", help="image files of the model's size, or .npy arrays of level indices [N, C, H, W]"
    )
    p.add_argument("-o", "--output", default="images.pxz")
    p.add_argument("--values", choices=["8bit", "levels"], help=VALUES_HELP)
    p.add_argument("--label", type=int, help="class label for a conditional model")
    p.add_argument("--method", default="auto", choices=["auto", "fast", "naive"])
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("decompress", help="restore images compressed with 'pixelar compress'")
    p.add_argument("run", metavar="RUN_OR_DIR")
    p.add_argument("file", help="a .pxz file")
    p.add_argument("-o", "--output", default="decompressed", help="directory for the PNG images")
    p.add_argument("--npy", action="store_true", help="also write images.npy with the integer images")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_decompress)

    p = sub.add_parser("list", help="list models, datasets and presets")
    p.add_argument("what", nargs="?", default="all", choices=["all", "models", "datasets", "presets"])
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; user errors print one ``error:`` line and return 2 (a bad flag
    exits with status 2 through argparse, also with one line)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PixelarError as e:
        print(f"error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system refused something not checked above (disk full, permissions)
        where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
        print(f"error: {e.strerror or e.__class__.__name__}{': ' + where if where else ''}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory; lower --batch-size (or -n)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _one_line(text: str) -> str:
    return " ".join(text.split("\n")).strip()


if __name__ == "__main__":
    sys.exit(main())
