"""Soak test of the codec: many round trips of random images of random sizes through
:func:`pixelar.encode` and :func:`pixelar.decode` (and now and then through the files of
``pixelar compress`` / ``pixelar decompress``), each checked to give the images back exactly.

    python benchmarks/soak_codec.py [--attempts 200] [--seed 0]

Nothing is trained: the models are small, with random weights redrawn so their conditionals
are neither uniform nor certain (binary, 4- and 256-level, grey and colour; PixelCNN, Gated
PixelCNN, PixelCNN++; a class-conditional one; one in float64). An attempt takes one model and
1–4 images, all at the model's own size, all at one other size, or each at its own (sides 1–16,
now and then a strip up to 48 long), of uniform noise, one flat level, or sparse dots; it codes
them with the fast sampler, the naive one, or (PixelCNN) the portable integer network. Every
fifth attempt also writes the images as PNGs, runs ``pixelar compress`` and ``pixelar decompress``
in this process on the saved model, and reads the decompressed PNGs back.

An attempt fails on any exception or any image (or label) that does not come back exactly. The
models run on one thread (they are tiny; restored afterwards), so 200 attempts take about
25 s on two shared cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import pixelar
from pixelar.cli import main as cli_main
from pixelar.codec import decode_images, decode_labels
from pixelar.imageio import read_image_list, write_image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak_report import MAX_ERRORS, one_line, table

MAX_SIDE = 16  # the largest side of an ordinary image of an attempt ...
MAX_STRIP = 48  # ... and of a strip (1 or 2 pixels across)
MAX_IMAGES = 4  # images per attempt
FILES_EVERY = 5  # every this many attempts also goes through the CLI's files


@dataclass
class Spec:
    """One model of the soak: its family, shape, levels and hyperparameters, and how often it is drawn."""

    family: str
    image_shape: tuple[int, int, int]
    num_levels: int
    extra: dict[str, Any] = field(default_factory=dict)
    dtype: torch.dtype = torch.float32
    weight: int = 2

    @property
    def label(self) -> str:
        c, h, w = self.image_shape
        extra = "".join(f" {k}={v}" for k, v in self.extra.items())
        kind = "" if self.dtype == torch.float32 else f" {str(self.dtype).removeprefix('torch.')}"
        return f"{self.family} {c}x{h}x{w} K={self.num_levels}{extra}{kind}"


SPECS = [
    Spec("pixelcnn", (1, 8, 8), 2),
    Spec("pixelcnn", (1, 8, 8), 256),
    Spec("pixelcnn", (3, 8, 8), 256),
    Spec("pixelcnn", (3, 6, 6), 4),
    Spec("pixelcnn", (1, 8, 8), 2, {"num_classes": 3}),
    Spec("pixelcnn", (1, 8, 8), 16, dtype=torch.float64),
    Spec("gated-pixelcnn", (1, 8, 8), 2),
    Spec("gated-pixelcnn", (3, 8, 8), 256),
    Spec("pixelcnn++", (3, 6, 6), 256, weight=1),  # slower: its mixture's probabilities cost more
]


def build(spec: Spec, seed: int) -> pixelar.models.AutoregressiveModel:
    """``spec``'s model with weights drawn from N(0, 1.5²/fan_in) (biases N(0, 0.1²))."""
    torch.manual_seed(seed)
    model = pixelar.create_model(
        spec.family,
        image_shape=spec.image_shape,
        num_levels=spec.num_levels,
        num_layers=1,
        hidden_channels=8,
        **spec.extra,
    ).to(spec.dtype)
    return randomized(model, seed)


def randomized(model: pixelar.models.AutoregressiveModel, seed: int) -> pixelar.models.AutoregressiveModel:
    """``model`` in eval mode with weights drawn from N(0, 1.5²/fan_in) (biases N(0, 0.1²))."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            std = 1.5 / param[0].numel() ** 0.5 if param.dim() > 1 else 0.1
            param.copy_(torch.randn(param.shape, generator=generator, dtype=torch.float64).to(param.dtype) * std)
    return model.eval()


def sizes_for(rng: random.Random, spec: Spec, count: int) -> list[tuple[int, int]]:
    """``count`` image sizes: the model's own, one other size for all, or one each."""

    def side_pair() -> tuple[int, int]:
        if rng.random() < 0.15:  # a strip, across or down
            long, short = rng.randint(1, MAX_STRIP), rng.randint(1, 2)
            return (short, long) if rng.random() < 0.5 else (long, short)
        return rng.randint(1, MAX_SIDE), rng.randint(1, MAX_SIDE)

    mode = rng.choice(["own", "one", "each", "each"])
    if mode == "own":
        return [spec.image_shape[1:]] * count
    if mode == "one":
        return [side_pair()] * count
    return [side_pair() for _ in range(count)]


def image_for(rng: random.Random, generator: torch.Generator, spec: Spec, size: tuple[int, int]) -> Tensor:
    """A random integer image [C, H, W]: uniform noise, one flat level, or sparse dots on a flat level."""
    channels, levels = spec.image_shape[0], spec.num_levels
    shape = (channels, *size)
    kind = rng.choice(["noise", "noise", "flat", "dots"])
    if kind == "noise":
        return torch.randint(0, levels, shape, generator=generator)
    image = torch.full(shape, rng.randrange(levels), dtype=torch.long)
    if kind == "dots":
        where = torch.rand(shape, generator=generator) < 0.1
        image[where] = torch.randint(0, levels, shape, generator=generator)[where]
    return image


def method_for(rng: random.Random, spec: Spec) -> str:
    """The codec's path: the fast sampler mostly, now and then the naive one or (PixelCNN) portable."""
    choices = ["auto"] * 6 + ["naive"] + (["portable"] * 2 if spec.family == "pixelcnn" else [])
    return rng.choice(choices)


def same(images: list[Tensor], back: list[Tensor]) -> str | None:
    """None when ``back`` holds ``images`` exactly, else what differs."""
    if len(back) != len(images):
        return f"{len(back)} image(s) came back, not {len(images)}"
    for index, (image, got) in enumerate(zip(images, back, strict=True)):
        if tuple(got.shape) != tuple(image.shape):
            return f"image {index} came back {tuple(got.shape)}, not {tuple(image.shape)}"
        if not torch.equal(got.cpu().long(), image.long()):
            wrong = int((got.cpu().long() != image.long()).sum())
            return f"image {index} ({tuple(image.shape)}) came back with {wrong} sub-pixel(s) changed"
    return None


def round_trip(model: Any, images: list[Tensor], cond: Tensor | None, method: str) -> str | None:
    """Encode and decode in memory; None when all came back, else what went wrong."""
    portable = method == "portable"
    data = pixelar.encode(model, images, cond, method="auto" if portable else method, portable=portable)
    problem = same(images, decode_images(model, data))
    if problem is None and len({tuple(image.shape) for image in images}) == 1:
        problem = same(images, list(pixelar.decode(model, data)))  # the one-size entry point too
    labels = decode_labels(data)
    if problem is None and labels != (None if cond is None else cond.tolist()):
        problem = f"labels came back as {labels}, not {None if cond is None else cond.tolist()}"
    return problem


def through_files(saved: Path, spec: Spec, images: list[Tensor], label: int | None, work: Path) -> str | None:
    """``pixelar compress`` PNGs of ``images`` into ``work`` (an empty directory) and
    ``pixelar decompress`` them; None when all came back."""
    pngs = [str(write_image(image, spec.num_levels, work / f"in_{i:02d}.png")) for i, image in enumerate(images)]
    pxz, out = work / "images.pxz", work / "out"
    labelled = [] if label is None else ["--label", str(label)]
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        status = cli_main(["compress", str(saved), *pngs, "-o", str(pxz), *labelled])
        if status == 0:
            status = cli_main(["decompress", str(saved), str(pxz), "-o", str(out)])
    if status != 0:
        return f"the CLI returned {status}: {one_line(said.getvalue()[-300:])}"
    back_paths = sorted(out.glob("image_*.png"))
    back = read_image_list(back_paths, spec.image_shape[0], spec.num_levels) if back_paths else []
    return same(images, back)


def run(attempts: int, seed: int = 0) -> dict[str, Any]:
    """``attempts`` round trips (see the module docstring); the result: name, attempts, failures,
    errors (the first few, one line each), images coded, and seconds."""
    started = time.perf_counter()
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    failures, errors, coded = 0, [], 0
    try:
        with tempfile.TemporaryDirectory(prefix="pixelar-soak-codec-") as tmp:
            root = Path(tmp)
            models = [build(spec, seed + i) for i, spec in enumerate(SPECS)]
            saved = [model.save_pretrained(root / f"model_{i}") for i, model in enumerate(models)]
            draws = [i for i, spec in enumerate(SPECS) for _ in range(spec.weight)]
            for attempt in range(attempts):
                which = rng.choice(draws)
                spec, model = SPECS[which], models[which]
                count = rng.randint(1, MAX_IMAGES)
                sizes = sizes_for(rng, spec, count)
                images = [image_for(rng, generator, spec, size) for size in sizes]
                label = rng.randrange(spec.extra["num_classes"]) if "num_classes" in spec.extra else None
                cond = None if label is None else torch.full((count,), label, dtype=torch.long)
                method = method_for(rng, spec)
                files = attempt % FILES_EVERY == FILES_EVERY - 1 and spec.num_levels <= 256
                what = f"attempt {attempt} ({spec.label}, {method}, sizes {sizes}{', files' if files else ''})"
                try:
                    problem = round_trip(model, images, cond, method)
                    if problem is None and files:
                        with tempfile.TemporaryDirectory(dir=root) as work:
                            problem = through_files(saved[which], spec, images, label, Path(work))
                except Exception as e:  # any exception is a failure of the attempt
                    problem = f"{type(e).__name__}: {e}"
                coded += count
                if problem is not None:
                    failures += 1
                    if len(errors) < MAX_ERRORS:
                        errors.append(one_line(f"{what}: {problem}"))
    finally:
        torch.set_num_threads(threads)
    return {
        "name": "codec round trip",
        "attempts": attempts,
        "failures": failures,
        "errors": errors,
        "images": coded,
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--attempts", type=int, default=200, help="round trips (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seeds the models, sizes and images")
    args = p.parse_args(argv)
    result = run(args.attempts, args.seed)
    print(table(result))
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
