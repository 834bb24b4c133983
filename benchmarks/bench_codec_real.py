"""Whole real black-and-white images compressed by a model trained, through the command line,
on tiles of other images, against PNG, WebP lossless and JPEG XL lossless, per image.

    python benchmarks/bench_codec_real.py [--steps 1000] [--minutes M] [--tile 32] [--extra camera,coins]
        [--out benchmarks/results/codec_real.json]

The images are scikit-image's own, bundled with it (no download): its binary silhouette
(``horse``, from openclipart) and its two images of text (``text``: handwriting, Wikipedia's
Corner.png; ``page``: a scanned printed page, unevenly lit), the grey ones thresholded at
their Otsu threshold (``threshold_otsu``: one global threshold) to black (0) and white (255),
written as PNG files into ``<work>/images``. Leave-one-out: for each of them in turn (the
*test* image), a 2-level PixelCNN is trained on the non-overlapping ``--tile``×``--tile``
tiles of the *other* images (with ``--extra``, also on tiles of those bundled photos,
thresholded the same way, never tested), exactly as a user would::

    pixelar train --data folder:<work>/<test>/train --tiles --image-size 32 --levels 2 --channels 1 ...
    pixelar compress <work>/<test>/run <work>/images/<test>.png -o <work>/<test>/<test>.pxz
    pixelar decompress <work>/<test>/run <work>/<test>/<test>.pxz -o <work>/<test>/restored

and the restored PNG must equal the thresholded image. A training folder holds fewer than 10
images, so its "test" split is its training images (pixelar's folder split holds every tenth
image out only from 10 images on): the held-out image is the one compressed here, whole.

Per image: the .pxz file's bytes and bits per pixel, the model's NLL of the whole image (the
ideal payload), PNG (Pillow, mode "1", optimize), WebP lossless (method 6) and JPEG XL
lossless (imagecodecs, effort 10) bytes, each codec's round trip verified, and the wall-clock
seconds of the three commands (each a fresh process: Python and PyTorch start-up included).
Training runs a fixed number of --steps (the result does not depend on the machine's load),
or stops after --minutes if that comes first: the default (three trainings of 1000 steps of
a 6-layer PixelCNN, h = 32, at batch 32) takes about 15 minutes on 2 idle cores. --quick: a
tiny model and 20 steps, about a minute (numbers mean nothing).
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import harness
import pixelar
from pixelar.codec import image_nll_bits

# name -> what it is: the images compressed, each with a model trained on tiles of the others
IMAGES = {"horse": "silhouette", "text": "handwriting photographed", "page": "printed page scanned"}
# bundled grey or colour photos --extra may add to every training set (thresholded; never tested)
PHOTOS = ("camera", "coins", "moon", "astronaut", "coffee", "chelsea", "rocket")
MODEL = {"model": "pixelcnn", "num_layers": 6, "hidden_channels": 32}
QUICK_MODEL = {"model": "pixelcnn", "num_layers": 1, "hidden_channels": 8}


# -- the images -------------------------------------------------------------------------------
def black_and_white(name: str) -> np.ndarray:
    """scikit-image's bundled image ``name`` as uint8 [H, W] of 0 (black) and 255 (white):
    a binary image as it is, a grey or colour one thresholded at its Otsu threshold."""
    import skimage.data
    from skimage.color import rgb2gray
    from skimage.filters import threshold_otsu
    from skimage.util import img_as_ubyte

    image = getattr(skimage.data, name)()
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    if image.ndim == 3:
        image = img_as_ubyte(rgb2gray(image[..., :3]))
    return (image > threshold_otsu(image)).astype(np.uint8) * 255


def write_png(image: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


# -- classical codecs, each verified ----------------------------------------------------------
def png(image: np.ndarray) -> int:
    buf = io.BytesIO()
    Image.fromarray(image).convert("1").save(buf, format="PNG", optimize=True)
    restored = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    assert np.array_equal(restored, image), "PNG round trip failed"
    return len(buf.getvalue())


def webp(image: np.ndarray) -> int:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="WEBP", lossless=True, quality=100, method=6)
    restored = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    assert np.array_equal(restored, image), "WebP round trip failed"
    return len(buf.getvalue())


def jxl(image: np.ndarray, effort: int = 10) -> int:
    import imagecodecs

    data = imagecodecs.jpegxl_encode(image, lossless=True, effort=effort)
    assert np.array_equal(imagecodecs.jpegxl_decode(data).reshape(image.shape), image), "JPEG XL round trip failed"
    return len(data)


CODECS = {"PNG": png, "WebP": webp, "JPEG XL": jxl}


# -- the command line -------------------------------------------------------------------------
def pixelar_cli(args: list[str], threads: int | None) -> tuple[float, str]:
    """Run ``pixelar ARGS`` in a fresh process; (wall-clock seconds, stdout). Fails loudly."""
    env = dict(os.environ)
    if threads:
        env |= {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pixelar", *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"error: pixelar {shown(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def shown(args: list[str]) -> str:
    """A command as the results show it: paths relative to the repository."""

    def one(arg: str) -> str:
        prefix = "folder:" if arg.startswith("folder:") else ""
        path = arg[len(prefix) :]
        return prefix + harness.relative(path) if os.path.isabs(path) else arg

    return shlex.join(one(arg) for arg in args)


def train_args(a, data: Path, run: Path) -> list[str]:
    model = QUICK_MODEL if a.quick else MODEL
    args = ["train", "--data", f"folder:{data}", "--tiles", "--image-size", str(a.tile), "--levels", "2"]
    args += ["--channels", "1", "--model", model["model"], "--num-layers", str(model["num_layers"])]
    args += ["--hidden-channels", str(model["hidden_channels"]), "--steps", str(a.steps)]
    args += ["--batch-size", str(a.batch_size), "--lr", str(a.lr), "--seed", str(a.seed)]
    if a.minutes:
        args += ["--max-minutes", str(a.minutes)]
    return [*args, "--eval-every", "0", "--checkpoint-every", "0", "--num-samples", "0", "--out", str(run), "--quiet"]


def measure(a, test: str, work: Path, sources: dict[str, Path], images: dict[str, np.ndarray]) -> dict:
    """Train on the others' tiles, compress and decompress ``test`` through the CLI; one row."""
    folder, run, pxz, restored = work / test / "train", work / test / "run", work / test / f"{test}.pxz", work / test
    trained_on = [name for name in sources if name != test]
    folder.mkdir(parents=True)
    for name in trained_on:
        shutil.copyfile(sources[name], folder / f"{name}.png")
    tiles = sum((images[n].shape[0] // a.tile) * (images[n].shape[1] // a.tile) for n in trained_on)
    commands = [
        train_args(a, folder, run),
        ["compress", str(run), str(sources[test]), "-o", str(pxz)],
        ["decompress", str(run), str(pxz), "-o", str(restored / "restored")],
    ]
    seconds = [pixelar_cli(args, a.threads)[0] for args in commands]
    image = images[test]
    back = np.asarray(Image.open(restored / "restored" / "image_0000.png").convert("L"))
    assert np.array_equal(back, image), f"{test}: the decompressed image differs from the thresholded one"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    model = pixelar.load(run / "model")
    x = torch.from_numpy((image // 255).astype(np.int64))[None]
    pixels = image.size
    row = {
        "image": test,
        "kind": IMAGES[test],
        "height": image.shape[0],
        "width": image.shape[1],
        "black_fraction": float((image == 0).mean()),
        "trained_on": trained_on,
        "train_tiles": tiles,
        "steps": max(m["step"] for m in metrics),
        "train_minutes": max(m.get("elapsed", 0.0) for m in metrics) / 60,
        "parameters": sum(p.numel() for p in model.parameters()),
        "model_nll_bytes": image_nll_bits(model, [x]) / 8,
        "pixelar_bytes": pxz.stat().st_size,
        **{f"{name}_bytes": codec(image) for name, codec in CODECS.items()},
        "train_s": seconds[0],
        "compress_s": seconds[1],
        "decompress_s": seconds[2],
        "round_trip": True,
        "commands": ["pixelar " + shown(args) for args in commands],
    }
    for key in [k for k in row if k.endswith("_bytes")]:
        row[key.replace("_bytes", "_bpp")] = 8 * row[key] / pixels
    return row


# -- report -----------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    """Markdown: bytes (bits per pixel) per codec, then the times of the three commands."""
    names = ["model_nll", "pixelar", *CODECS]
    head = ["image", "size", "model NLL", "pixelar", *CODECS, "train s", "compress s", "decompress s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        best = min(r[f"{n}_bytes"] for n in names[1:])
        cells = [f"{r['image']} ({r['kind']})", f"{r['width']}×{r['height']}"]
        for n in names:
            text = f"{r[f'{n}_bytes']:,.0f} ({r[f'{n}_bpp']:.4f})"
            cells.append(f"**{text}**" if n != "model_nll" and r[f"{n}_bytes"] == best else text)
        cells += [f"{r['train_s']:.0f}", f"{r['compress_s']:.1f}", f"{r['decompress_s']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    total = {n: sum(r[f"{n}_bytes"] for r in rows) for n in names}
    pixels = sum(r["height"] * r["width"] for r in rows)
    cells = ["all", f"{pixels:,} px"] + [f"{total[n]:,.0f} ({8 * total[n] / pixels:.4f})" for n in names]
    cells += [f"{sum(r[k] for r in rows):.0f}" for k in ("train_s", "compress_s", "decompress_s")]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "codec_real")
    p.add_argument("--steps", type=int, default=1000, help="training steps per model")
    p.add_argument("--minutes", type=float, default=None, help="also stop each training after this many minutes")
    p.add_argument("--tile", type=int, default=32, help="side of the training tiles")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--images", default=",".join(IMAGES), help="the images to compress (leave-one-out among them)")
    p.add_argument("--extra", default="", help=f"bundled photos to add to every training set, of {', '.join(PHOTOS)}")
    p.add_argument("--work", default=None, help="folder for the images, runs and files (default: under runs/)")
    a = harness.parse(p, "codec_real", {"steps": 20, "batch_size": 8}, argv)
    a.model = QUICK_MODEL if a.quick else MODEL  # recorded in the configuration
    tests, extra = harness.each(a.images), harness.each(a.extra)
    for name in tests + extra:
        if name not in IMAGES and name not in PHOTOS:
            raise SystemExit(f"error: unknown image {name!r}; choose from {', '.join([*IMAGES, *PHOTOS])}")
    if len(tests) < 2:
        raise SystemExit("error: leave-one-out needs at least two --images")
    if len(tests) - 1 + len(extra) >= 10:
        raise SystemExit("error: keep a training set under 10 images (a folder of 10 holds every tenth image out)")
    work = Path(a.work) if a.work else Path(a.runs) / ("bench-quick" if a.quick else "") / "bench-codec-real"
    if work.exists():
        shutil.rmtree(work)
    images = {name: black_and_white(name) for name in tests + extra}
    sources = {name: write_png(image, work / "images" / f"{name}.png") for name, image in images.items()}
    rows = []
    for test in tests:
        print(f"{test}: training on tiles of {', '.join(n for n in sources if n != test)}", flush=True)
        rows.append(measure(a, test, work, sources, images))
        harness.emit({k: v for k, v in rows[-1].items() if k != "commands"})
    harness.write_results(a.out, "codec_real", rows, ("image",), a)
    print("\nBytes per image (bits per pixel), best file in bold; seconds per command, each a fresh process:\n")
    print(table(rows))


if __name__ == "__main__":
    main()
