"""The command line's grammar: one argparse sub-parser per verb (no work is done here)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from pixelar.codec.pages import DEFAULT_STRIPE
from pixelar.sampling import METHODS

# The TrainConfig settings that 'pixelar train' takes as flags of the same name: (type, help);
# a bool is a flag without a value that sets True (absent: None, the preset's or default value).
TRAIN_FLAGS: dict[str, tuple[Callable[[str], Any], str]] = {
    "model": (str, "registered model name (pixelar list models)"),
    "data": (str, "dataset name (pixelar list datasets), or folder:PATH"),
    "data_dir": (str, "where datasets are cached (default $PIXELAR_DATA_DIR or the user cache dir)"),
    "image_size": (int, "image size for folder:PATH datasets (with --tiles: the side of a tile)"),
    "channels": (int, "1 or 3, for folder:PATH datasets"),
    "tiles": (bool, "for folder:PATH datasets: train on every --image-size square tile of each image, unresized"),
    "levels": (int, "for folder:PATH datasets: quantise to this many levels (2: black and white, threshold 128)"),
    "batch_size": (int, "images per step (the global batch: under torchrun the processes share it)"),
    "micro_batch": (
        int,
        "at most this many images per forward/backward in a process; gradients accumulated (0: no limit)",
    ),
    "steps": (int, "optimisation steps"),
    "max_minutes": (float, "stop after this many minutes of training"),
    "optimizer": (str, "adam, adamw or rmsprop"),
    "lr": (float, "learning rate"),
    "betas": (lambda text: _numbers(text, 2), "Adam's beta1,beta2 (e.g. 0.95,0.9995 as in PixelCNN++)"),
    "weight_decay": (float, "weight decay (decoupled with adamw, L2 otherwise)"),
    "lr_decay": (float, "multiply the learning rate by this every step (e.g. 0.999995; 1: constant)"),
    "warmup_steps": (int, "ramp the learning rate up linearly over this many steps"),
    "grad_clip": (float, "max gradient norm (0: no clipping)"),
    "log_every": (int, "steps between logged training losses"),
    "eval_every": (int, "steps between test evaluations"),
    "eval_images": (int, "test images per evaluation during training (0: all)"),
    "checkpoint_every": (int, "steps between checkpoints"),
    "num_samples": (int, "samples drawn into samples.png at the end (the first 16 into samples/ at every evaluation)"),
    "ema": (float, "Polyak averaging decay of the weights (e.g. 0.9995; 0 disables)"),
    "perturb": (
        float,
        "replace each training pixel by noise with this probability (a likelihood-ratio background model, e.g. 0.2)",
    ),
    "clean_targets": (
        bool,
        "with --perturb: predict the clean pixels from the perturbed ones (noise in the context only)",
    ),
    "seed": (int, "random seed"),
    "device": (str, "cpu or cuda"),
    "compile": (bool, "compile the training step with torch.compile (faster steps after a minute of compiling)"),
    "precision": (str, "fp32, or bf16: the network under bfloat16 autocast, the likelihood in float32"),
    "activation_checkpointing": (bool, "recompute activations in the backward pass (less memory, one more forward)"),
    "workers": (int, "data-loading worker processes (0: in the training process)"),
    "tensorboard": (str, "also log to this TensorBoard directory (without a value: RUN_DIR/tensorboard)"),
}

# A TRAIN_FLAGS setting whose flag may be given without a value: the value it then stands for.
# TENSORBOARD_IN_RUN is resolved to the run directory's tensorboard/ by pixelar.cli.train.
TENSORBOARD_IN_RUN = "RUN_DIR/tensorboard"
FLAG_CONSTS: dict[str, str] = {"tensorboard": TENSORBOARD_IN_RUN}


def _numbers(text: str, count: int) -> list[float]:
    """``count`` comma-separated numbers (an argparse type)."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise argparse.ArgumentTypeError(f"expected {count} comma-separated numbers, got {text!r}")
    return values


VALUES_HELP = (
    "what the input's values mean: 8-bit intensities (default for image files; a K-level model takes "
    "round(k*255/(K-1))) or level indices 0..K-1 (default for .npy)"
)
ORDER_HELP = (
    "the order of the pixels: raster, snake, column, column-snake or hilbert (each also -tr, -bl, -br: from "
    "another corner), random-SEED, or a .npy permutation of the pixels (default: the model's; lmconv: any)"
)
CODEC_METHODS = ["auto", "fast", "naive"]  # the codec's: a compiled kernel rounds differently


def flag(name: str) -> str:
    """The long flag of a setting: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the CLI's error style: one line, ``error: ...``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see '{self.prog} --help')\n")


def _add_train(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("train", help="train a model (teacher-forced maximum likelihood)")
    verb.add_argument("--preset", help="a named set-up (pixelar list presets); flags override it")
    for name, (kind, text) in TRAIN_FLAGS.items():
        if kind is bool:
            verb.add_argument(flag(name), action="store_const", const=True, default=None, help=text)
        elif name in FLAG_CONSTS:
            verb.add_argument(flag(name), nargs="?", const=FLAG_CONSTS[name], type=kind, default=None, help=text)
        else:
            verb.add_argument(flag(name), type=kind, default=None, help=text)
    verb.add_argument("--minutes", dest="max_minutes", type=float, help=argparse.SUPPRESS)
    verb.add_argument("--num-layers", type=int, help="model depth (num_layers)")
    verb.add_argument("--hidden-channels", type=int, help="model width (hidden_channels)")
    verb.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE", help="any model hyperparameter")
    verb.add_argument("--conditional", action="store_true", help="class-conditional model on the dataset's labels")
    verb.add_argument(
        "--orders",
        metavar="ORDER[,ORDER...]",
        help="order-agnostic training over these pixel orders, one drawn per batch (models that generate in any "
        "order: lmconv); the first is the model's default",
    )
    verb.add_argument("--out", help="run directory (default runs/<preset or model>)")
    verb.add_argument("--resume", metavar="RUN", help="continue the run in RUN exactly where its checkpoint left off")
    verb.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_eval(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("eval", help="exact test NLL of a trained model over a whole split")
    verb.add_argument("run", metavar="RUN_OR_DIR")
    verb.add_argument("--data", help="dataset (default: the run's)")
    verb.add_argument("--split", default="test")
    verb.add_argument("--data-dir")
    verb.add_argument("--image-size", type=int)
    verb.add_argument("--batch-size", type=int, default=256)
    verb.add_argument("--device", default="cpu")
    verb.add_argument(
        "--orders",
        metavar="K|ORDER,...",
        help="also score the images in K orders (the model's own first, then the S-curves, ...) or in these named "
        "ones, and their ensemble: log-mean-exp over the orders, the exact likelihood of their mixture (lmconv)",
    )
    verb.add_argument("--json", action="store_true", help="also print the result as JSON")
    verb.add_argument("--quiet", action="store_true")


def _add_sampling_flags(verb: argparse.ArgumentParser, what: str) -> None:
    """The flags sample and complete share."""
    verb.add_argument("--temperature", type=float, default=1.0)
    verb.add_argument("--seed", type=int, default=0)
    verb.add_argument(
        "--method",
        default="auto",
        choices=METHODS,
        help="auto: fast where the model has it; naive: a whole forward pass per step (slow); compiled: the fast "
        "sampler with each step's network one C kernel call (PixelCNN, Gated PixelCNN; on the CPU; built on first use "
        "with the C compiler; faster at small batches)",
    )
    verb.add_argument("--label", type=int, help="class label for a conditional model")
    verb.add_argument("--order", help=ORDER_HELP)
    verb.add_argument("--batch-size", type=int, default=64, help=f"{what} sampled at a time (memory)")
    verb.add_argument("--device", default="cpu")
    verb.add_argument("--quiet", action="store_true")
    verb.add_argument("--animate", metavar="GIF", help=f"also write an animated GIF of the {what} being generated")
    verb.add_argument("--frame-every", type=int, metavar="K", help="--animate: a frame every K pixels (default: a row)")


def _add_sample(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("sample", help="draw samples into a PNG grid")
    verb.add_argument("run", metavar="RUN_OR_DIR")
    verb.add_argument("-n", type=int, default=16, help="number of samples")
    verb.add_argument("-o", "--output", default="samples.png", help="PNG grid to write")
    verb.add_argument("--npy", help="also write the integer samples to this .npy file")
    _add_sampling_flags(verb, "images")


def _add_complete(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("complete", help="complete the bottom of images (occlusion completion)")
    verb.add_argument("run", metavar="RUN_OR_DIR")
    verb.add_argument("--input", nargs="+", help="image files (or .npy arrays) of the model's size")
    verb.add_argument("--values", choices=["8bit", "levels"], help=VALUES_HELP)
    verb.add_argument("--data", help="take images from this dataset instead (default: the run's)")
    verb.add_argument("--split", default="test")
    verb.add_argument("--data-dir")
    verb.add_argument("--count", type=int, default=4, help="images taken from --data")
    known = verb.add_mutually_exclusive_group()
    known.add_argument("--keep-rows", type=int, help="rows kept at the top (default: half)")
    known.add_argument("--mask", help="mask image of the model's size: white pixels kept, black ones sampled")
    verb.add_argument("-n", type=int, default=4, help="completions per image")
    verb.add_argument("-o", "--output", default="completions.png")
    _add_sampling_flags(verb, "completions")


def _add_compress(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser(
        "compress",
        help="losslessly compress images with a trained model (black-and-white pages: no model needed)",
    )
    verb.add_argument(
        "run", metavar="RUN_OR_DIR", nargs="?", help="the model (default: the shipped page model, for bilevel pages)"
    )
    verb.add_argument("images", nargs="+", help="image files of any size, or .npy arrays of level indices [N, C, H, W]")
    verb.add_argument("-o", "--output", default="images.pxz")
    verb.add_argument("--values", choices=["8bit", "levels"], help=VALUES_HELP)
    verb.add_argument("--label", type=int, help="class label for a conditional model")
    verb.add_argument(
        "--method",
        default="auto",
        choices=CODEC_METHODS,
        help="naive is used only for a model without a fast sampler: one with it is always coded with the fast one "
        "(format 5 refuses naive files for such a model)",
    )
    verb.add_argument(
        "--portable",
        action="store_true",
        help="code with an integer network, so the file decodes on any machine (PixelCNN; slower)",
    )
    verb.add_argument(
        "--stripe",
        type=int,
        default=DEFAULT_STRIPE,
        help="page codec: rows per stripe (stripes are decoded together; each starts its context afresh)",
    )
    verb.add_argument("--device", default="cpu")


def _add_decompress(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("decompress", help="restore images compressed with 'pixelar compress'")
    verb.add_argument(
        "run", metavar="RUN_OR_DIR", nargs="?", help="the model (a page file names the shipped page model itself)"
    )
    verb.add_argument("file", help="a .pxz file")
    verb.add_argument("-o", "--output", default="decompressed", help="directory for the PNG images")
    verb.add_argument("--npy", action="store_true", help="also write images.npy with the integer images")
    verb.add_argument(
        "--max-subpixels",
        type=int,
        help="refuse files of more sub-pixels than this (default 2^26, about 67 million)",
    )
    verb.add_argument("--device", default="cpu")


def _add_list(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("list", help="list models, datasets, presets and pretrained models")
    verb.add_argument("what", nargs="?", default="all", choices=["all", "models", "datasets", "presets", "pretrained"])


def _add_report(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("report", help="write a training run's HTML report (curves, samples, completions, bits)")
    verb.add_argument("run", metavar="RUN_DIR")
    verb.add_argument("-o", "--output", metavar="DIR", help="folder for index.html and its PNGs (RUN_DIR/report)")
    verb.add_argument("--images", type=int, default=4, help="test images completed and shown as bits heat maps")
    verb.add_argument("--device", default="cpu")
    verb.add_argument("--quiet", action="store_true")


def _add_serve(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("serve", help="a local web page: watch sampling, complete drawings, bits heat maps, compress")
    verb.add_argument(
        "run",
        metavar="RUN_OR_DIR",
        nargs="?",
        help="a run, a saved model, or a directory of them (default: the pretrained models, 'pixelar list pretrained')",
    )
    verb.add_argument("--port", type=int, default=8000)
    verb.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    verb.add_argument("--device", default="cpu")


def _add_receptive_field(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("receptive-field", help="which earlier sub-pixels a pixel's conditional reads, per model")
    verb.add_argument(
        "--model", required=True, metavar="NAME[,NAME...]", help="registered models (seeded random weights) or runs"
    )
    verb.add_argument("--layers", "--num-layers", dest="num_layers", type=int, default=8, help="depth of fresh models")
    verb.add_argument("--hidden-channels", type=int, default=16, help="width of fresh models")
    verb.add_argument("--image-size", type=int, help="image side (default: 16 for fresh models, a run's own)")
    verb.add_argument("--channels", type=int, default=1, help="1 or 3, for fresh models")
    verb.add_argument("--levels", type=int, default=4, help="levels per sub-pixel, for fresh models")
    verb.add_argument("--pixel", type=int, nargs=2, metavar=("ROW", "COL"), help="target pixel (default: the centre)")
    verb.add_argument("--channel", type=int, default=0, help="the target pixel's channel")
    verb.add_argument("--order", help=ORDER_HELP + "; the past outlined is what comes before the pixel in it")
    verb.add_argument("--seed", type=int, default=0, help="seeds the fresh weights and the probe images")
    verb.add_argument("-o", "--output", default="receptive_field.png", help="PNG to write")
    verb.add_argument("--device", default="cpu")
    verb.add_argument("--quiet", action="store_true")


def _add_bits(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("bits", help="heat maps of the bits (-log2 p) each pixel of images costs under a model")
    verb.add_argument("run", metavar="RUN_OR_DIR")
    verb.add_argument("images", nargs="+", help="image files or .npy arrays of the model's size")
    verb.add_argument("-o", "--output", default="bits.png", help="PNG to write")
    verb.add_argument("--values", choices=["8bit", "levels"], help=VALUES_HELP)
    verb.add_argument("--label", type=int, help="class label for a conditional model")
    verb.add_argument("--device", default="cpu")


def _add_scoring_flags(verb: argparse.ArgumentParser) -> None:
    """The models and scores of 'score' and 'ood'."""
    verb.add_argument(
        "run", metavar="RUN_OR_DIR", help="the in-distribution model: a run, saved model or pretrained name"
    )
    verb.add_argument("--background", metavar="RUN", help="background model for the likelihood ratio (train --perturb)")
    verb.add_argument(
        "--complexity", metavar="NAME[,NAME]", help="complexity-corrected scores by png, jxl and/or model (the codec's)"
    )
    verb.add_argument(
        "--complexity-model",
        metavar="RUN",
        help="the codec's model for --complexity model: a general-purpose model of any size (the images' levels)",
    )
    verb.add_argument("--data-dir", help="where the datasets are (default $PIXELAR_DATA_DIR or the user cache dir)")
    verb.add_argument("--batch-size", type=int, default=256, help="images scored at a time (memory)")
    verb.add_argument("--device", default="cpu")
    verb.add_argument("--quiet", action="store_true")


def _add_score(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("score", help="per-image OOD scores: NLL, likelihood ratio, complexity-corrected, typicality")
    _add_scoring_flags(verb)
    verb.add_argument("images", nargs="+", help="image files or .npy arrays of the model's size")
    verb.add_argument("--values", choices=["8bit", "levels"], help=VALUES_HELP)
    verb.add_argument(
        "--typicality", action="store_true", help="also the typicality statistic (entropy from the run's training data)"
    )
    verb.add_argument("--reference", type=int, default=1000, help="training images that estimate the entropy")
    verb.add_argument("--reference-data", help="--typicality: the model's training data (default: the run's)")
    verb.add_argument("-o", "--output", help="CSV file of the scores, one row per image")


def _add_ood(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    verb = sub.add_parser("ood", help="how well each score tells a dataset from the model's own: AUROC, AUPRC, figure")
    _add_scoring_flags(verb)
    verb.add_argument("--in-data", help="the in-distribution dataset (default: the run's)")
    verb.add_argument("--out-data", required=True, help="the out-of-distribution dataset (or folder:PATH)")
    verb.add_argument("--split", default="test", help="the split of both datasets scored")
    verb.add_argument("--count", type=int, default=0, help="score the first COUNT images of each (0: all)")
    verb.add_argument(
        "--reference", type=int, default=2000, help="training images that estimate the entropy (0: no typicality)"
    )
    verb.add_argument(
        "--typicality-batch", type=int, default=1, metavar="M", help="also the typicality test on batches of M images"
    )
    verb.add_argument(
        "-o", "--output", metavar="DIR", help="folder for ood.json and ood.png (default RUN/ood or ./ood)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``pixelar`` parser; ``args.command`` names the verb (see :data:`pixelar.cli.COMMANDS`)."""
    parser = ArgumentParser(prog="pixelar", description="Pixel-level autoregressive image models.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_eval, _add_sample, _add_complete, _add_compress, _add_decompress, _add_list):
        add(sub)
    _add_report(sub)
    _add_score(sub)
    _add_ood(sub)
    _add_serve(sub)
    _add_receptive_field(sub)
    _add_bits(sub)
    return parser
