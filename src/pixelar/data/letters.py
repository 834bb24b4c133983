"""Rendered letters: a NotMNIST-like 28×28 set made offline, the validation OOD set of the
likelihood-ratio background model (Ren et al., NeurIPS 2019, Section 5.1 tune μ and the L2
penalty on NotMNIST, which is not reachable here).

Each image is one of the letters A–J (NotMNIST's ten classes, the label 0–9) in Pillow's bundled
scalable font, white on black, at a seeded random size, stroke width, slant and position: the same
images wherever Pillow (10.1 or later) and FreeType are the same versions.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from pixelar.data.base import ImageDataset
from pixelar.errors import PixelarError

LETTERS = "ABCDEFGHIJ"
SIZE = 28
COUNTS = {"train": 10_000, "test": 2_000}
SEEDS = {"train": 0, "test": 1}


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def render_letter(letter: str, size: int, stroke: int, slant: float, dx: int, dy: int) -> np.ndarray:
    """One letter as a uint8 [28, 28] image: white glyph of font ``size`` px and ``stroke`` px
    outline, sheared by ``slant`` (x shift per row), centred then moved by (dx, dy)."""
    canvas = Image.new("L", (2 * SIZE, 2 * SIZE), 0)
    draw = ImageDraw.Draw(canvas)
    draw.text((SIZE, SIZE), letter, fill=255, font=_font(size), anchor="mm", stroke_width=stroke, stroke_fill=255)
    sheared = canvas.transform(
        canvas.size, Image.Transform.AFFINE, (1, slant, -slant * SIZE, 0, 1, 0), Image.Resampling.BILINEAR
    )
    left, top = SIZE // 2 - dx, SIZE // 2 - dy
    return np.asarray(sheared.crop((left, top, left + SIZE, top + SIZE)), dtype=np.uint8)


def load_letters(split: str) -> ImageDataset:
    """The rendered letters of ``split`` ("train": 10,000, "test": 2,000; different seeds), 8-bit
    grey [N, 1, 28, 28], labelled 0–9 for A–J."""
    if split not in COUNTS:
        raise PixelarError(f"the rendered letters have splits {' and '.join(COUNTS)}, not {split!r}")
    rng = np.random.default_rng(SEEDS[split])
    n = COUNTS[split]
    labels = rng.integers(0, len(LETTERS), n)
    sizes = rng.integers(18, 31, n)
    strokes = rng.integers(0, 3, n)
    slants = rng.uniform(-0.25, 0.25, n)
    shifts = rng.integers(-2, 3, (n, 2))
    images = np.stack(
        [
            render_letter(LETTERS[c], int(s), int(w), float(t), int(dx), int(dy))
            for c, s, w, t, (dx, dy) in zip(labels, sizes, strokes, slants, shifts, strict=True)
        ]
    )
    return ImageDataset(torch.from_numpy(images[:, None]), torch.from_numpy(labels), 256, f"letters/{split}", 10)
