"""The one reading of image files as a model's integer images, and the writing back.

A model sees integer images [C, H, W] with values in [0, K) (its ``num_levels``). Files are
read by these rules, the same in the library and the CLI, and nothing is ever changed
silently: a file whose pixels the model cannot hold exactly is refused with a
:class:`~pixelar.errors.PixelarError` that says why.

Image files (PNG and every format Pillow reads)
    * Greyscale modes give one channel: ``1`` (1-bit: 0 and 255), ``L``, ``LA``; colour modes
      give three: ``RGB``, ``RGBA``, and palette images (``P``, ``PA``), which are expanded
      to their colours. A one-channel model also takes a colour image whose pixels are all
      grey (R = G = B), e.g. a palette of greys; a three-channel model does not take
      greyscale images (convert them to RGB yourself).
    * Alpha (an ``A`` band, or a ``tRNS`` transparency entry) is accepted only when every
      pixel is fully opaque; it is then dropped. A model has no alpha channel, so a
      transparent pixel is refused rather than composited on some background.
    * Samples of more than 8 bits (``I;16``, ``I``, ``F``) and other colour spaces (CMYK,
      YCbCr, LAB, HSV) are refused: convert them yourself if that is what you want.
* ``.npy`` arrays (read with ``allow_pickle=False``) of shape [N, C, H, W] or [C, H, W]:
  bool, any integer dtype, or floats whose values are all integral (a 0.7 is refused, never
  truncated).

What a value means is said, never guessed from the pixels: ``values="8bit"`` (the default for
image files) reads 8-bit intensities, value v being level k when v = round(k·255/(K−1)) — the
mapping :func:`to_8bit` writes back — so a binary model takes exactly 0 and 255 and a
256-level model every byte; ``values="levels"`` (the default for ``.npy``) reads level indices
0 … K−1 as they are. Any other value is refused.

Masks (:func:`read_mask`, the ``known`` sub-pixels of :func:`pixelar.complete`) are image files read by the same rules,
holding only black (0: to sample) and white (255: known).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from pixelar.checkpoint import atomic_write
from pixelar.errors import PixelarError

Values = Literal["8bit", "levels"]
VALUES = ("8bit", "levels")
GREY_MODES = {"1": 1, "L": 1, "LA": 1}
COLOUR_MODES = {"RGB": 3, "RGBA": 3, "P": 3, "PA": 3}
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def level_values(num_levels: int) -> np.ndarray:
    """The 8-bit intensity of each of K levels: round(k·255/(K−1)) (all 256 bytes for K = 256)."""
    if not 2 <= num_levels <= 256:
        raise PixelarError(f"only models with 2 to 256 levels map to 8-bit images, not {num_levels}; use .npy files")
    return np.rint(np.arange(num_levels) * 255 / (num_levels - 1)).astype(np.uint8)


def to_8bit(images: Tensor | np.ndarray, num_levels: int) -> np.ndarray:
    """Integer images [..., C, H, W] with values in [0, K) as uint8 intensities [..., H, W, C]."""
    x = images.detach().cpu().numpy() if isinstance(images, Tensor) else np.asarray(images)
    if x.size and (x.min() < 0 or x.max() >= num_levels):
        raise PixelarError(f"images hold values outside [0, {num_levels}); they are not images of {num_levels} levels")
    return np.moveaxis(level_values(num_levels)[x.astype(np.int64)], -3, -1)


def from_8bit(arr: np.ndarray, num_levels: int, what: str) -> np.ndarray:
    """8-bit intensities as level indices; refuses any value that is not one of the K levels."""
    table = level_values(num_levels)
    index = np.full(256, -1, dtype=np.int64)
    index[table] = np.arange(num_levels)
    out = index[arr]
    if (out < 0).any():
        bad = int(arr[out < 0].flat[0])
        shown = ", ".join(map(str, table[:4])) + ("…" if num_levels > 4 else "")
        raise PixelarError(
            f"{what} has the 8-bit value {bad}, which is none of the model's {num_levels} levels ({shown}); "
            "quantise it first (e.g. threshold at 128 for a binary model), or pass values='levels' "
            "if the file holds level indices",
            param="values",
        )
    return out


def _check_values(values: str) -> None:
    if values not in VALUES:
        raise PixelarError(f"values must be '8bit' or 'levels', not {values!r}", param="values")


def _levels(arr: np.ndarray, num_levels: int, values: str, what: str) -> np.ndarray:
    """Integer samples of a file as level indices (int64), refusing anything not exact."""
    if values == "8bit":
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise PixelarError(
                f"{what} has samples outside 0…255, so it does not hold 8-bit intensities; pass values='levels' "
                "if it holds level indices",
                param="values",
            )
        return from_8bit(arr.astype(np.int64), num_levels, what)
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= num_levels):
        bad = int(arr.max() if arr.max() >= num_levels else arr.min())
        raise PixelarError(
            f"{what} holds the level {bad}, but the model has levels 0…{num_levels - 1}; "
            "pass values='8bit' if it holds 8-bit intensities",
            param="values",
        )
    return arr


def _opaque(arr: np.ndarray, what: str) -> np.ndarray:
    """Drop an alpha band [..., -1] that is fully opaque; refuse any transparency."""
    if (arr[..., -1] != 255).any():
        raise PixelarError(
            f"{what} has transparent pixels; the model has no alpha channel: flatten the image onto a background "
            "(or remove its alpha) first"
        )
    return arr[..., :-1]


def _pixels(img: Image.Image, what: str) -> np.ndarray:
    """An opened image's samples as uint8 [H, W, bands] (greyscale: one band, colour: three)."""
    mode = img.mode
    if mode in WIDE_MODES:
        raise PixelarError(
            f"{what} has {'floating-point' if mode == 'F' else 'more than 8-bit'} samples (mode {mode}); "
            "the model reads 8-bit images: convert it to 8 bits yourself if that is what you want"
        )
    if mode not in GREY_MODES and mode not in COLOUR_MODES:
        raise PixelarError(f"{what} has {mode} pixels; convert it to RGB or greyscale first")
    if mode in ("P", "PA") or "transparency" in img.info:
        img = img.convert("LA" if mode in GREY_MODES else "RGBA")  # palettes and tRNS as colours + alpha
    arr = np.asarray(img)
    if img.mode == "1":
        arr = arr.astype(np.uint8) * 255
    arr = arr.reshape(*arr.shape[:2], -1)
    if img.mode in ("LA", "RGBA"):
        arr = _opaque(arr, what)
    return arr


def _pixels_levels(img: Image.Image, what: str) -> np.ndarray:
    """An image's integer samples as they are (values='levels'), [H, W, bands]."""
    if img.mode in ("P", "PA", "F") or img.mode not in (*GREY_MODES, *COLOUR_MODES, *WIDE_MODES):
        raise PixelarError(f"{what} (mode {img.mode}) cannot hold level indices; store them in L, RGB or I;16 images")
    arr = np.asarray(img)
    if img.mode in ("LA", "RGBA"):
        arr = _opaque(arr, what)
    return arr.astype(np.int64).reshape(*arr.shape[:2], -1)


def _channels(arr: np.ndarray, channels: int, what: str) -> np.ndarray:
    """[H, W, bands] → [C, H, W] for a model with ``channels`` channels."""
    bands = arr.shape[-1]
    if bands == 3 and channels == 1:
        if not ((arr[..., 0] == arr[..., 1]) & (arr[..., 1] == arr[..., 2])).all():
            raise PixelarError(f"{what} has colour pixels but the model is greyscale (1 channel); convert it first")
        arr = arr[..., :1]
    elif bands != channels:
        raise PixelarError(
            f"{what} has {bands} channel(s) but the model expects {channels}; convert it "
            f"({'to greyscale' if channels == 1 else 'to RGB'}) first"
        )
    return arr.transpose(2, 0, 1)


def _open(path: str | Path, values: str = "8bit") -> np.ndarray:
    """An image file's samples [H, W, bands] by the module's rules (8-bit, or integer levels)."""
    what = str(path)
    if not Path(path).is_file():
        raise PixelarError(f"{path} does not exist; pass an image file")
    try:
        with Image.open(path) as img:
            img.load()
            return _pixels(img, what) if values == "8bit" else _pixels_levels(img, what)
    except (OSError, ValueError, SyntaxError) as e:
        raise PixelarError(f"{path} is not a readable image ({e.__class__.__name__}: {e})") from None


def read_image(
    path: str | Path,
    channels: int,
    num_levels: int,
    values: Values = "8bit",
    size: tuple[int, int] | None = None,
) -> Tensor:
    """One image file as an integer image [C, H, W] (long) for a model with ``channels`` channels
    and ``num_levels`` levels (rules in the module docstring); ``size`` (H, W) is checked if given."""
    _check_values(values)
    what = str(path)
    x = _levels(_channels(_open(path, values), channels, what), num_levels, values, what)
    _check_size(x, size, what)
    return torch.from_numpy(np.ascontiguousarray(x))


def read_npy(
    path: str | Path,
    channels: int,
    num_levels: int,
    values: Values = "levels",
    size: tuple[int, int] | None = None,
) -> Tensor:
    """A ``.npy`` array [N, C, H, W] or [C, H, W] as integer images [N, C, H, W] (long)."""
    _check_values(values)
    what = str(path)
    if not Path(path).is_file():
        raise PixelarError(f"{path} does not exist; pass a .npy file")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise PixelarError(f"{path} is not a readable .npy array ({e.__class__.__name__})") from None
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise PixelarError(f"{path} holds non-integral values (e.g. 0.5); store integer images")
    elif arr.dtype.kind not in "biu":
        raise PixelarError(f"{path} holds {arr.dtype} values; store integer images")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1] != channels:
        raise PixelarError(
            f"{path} has shape {list(arr.shape)}; the model expects [N, {channels}, H, W] or [{channels}, H, W]"
        )
    x = _levels(arr, num_levels, values, what)
    _check_size(x, size, what)
    return torch.from_numpy(np.ascontiguousarray(x))


def _check_size(x: np.ndarray, size: tuple[int, int] | None, what: str) -> None:
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        H, W = size
        raise PixelarError(f"{what} is {x.shape[-1]}×{x.shape[-2]} but the model expects {W}×{H}; resize it first")


def read_image_list(
    paths: Sequence[str | Path],
    channels: int,
    num_levels: int,
    values: Values | None = None,
    size: tuple[int, int] | None = None,
) -> list[Tensor]:
    """Image files and/or ``.npy`` arrays as a list of integer images [C, H, W] (long), each at
    its own size unless ``size`` (H, W) is given; ``values`` defaults to '8bit' for image files
    and 'levels' for ``.npy`` files."""
    images: list[Tensor] = []
    for path in paths:
        if str(path).endswith(".npy"):
            images.extend(read_npy(path, channels, num_levels, values or "levels", size))
        else:
            images.append(read_image(path, channels, num_levels, values or "8bit", size))
    if not paths:
        raise PixelarError("no images given")
    return images


def read_images(
    paths: Sequence[str | Path],
    channels: int,
    num_levels: int,
    values: Values | None = None,
    size: tuple[int, int] | None = None,
) -> Tensor:
    """Image files and/or ``.npy`` arrays of one size as one batch [N, C, H, W] (long)
    (:func:`read_image_list`)."""
    images = read_image_list(paths, channels, num_levels, values, size)
    if len({tuple(image.shape) for image in images}) > 1:
        raise PixelarError("the images have different sizes; pass images of one size")
    if not images:
        return torch.zeros(0, channels, *(size or (0, 0)), dtype=torch.long)
    return torch.stack(images)


def write_image(image: Tensor, num_levels: int, path: str | Path) -> Path:
    """An integer image [C, H, W] as an 8-bit PNG (mode L or RGB), written atomically."""
    arr = to_8bit(image, num_levels)
    img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    return atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


def write_npy(images: Tensor, num_levels: int, path: str | Path) -> Path:
    """Integer images as a ``.npy`` of level indices (uint8 when K ≤ 256), written atomically."""
    arr = images.detach().cpu().numpy().astype(np.uint8 if num_levels <= 256 else np.int64)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, arr)

    return atomic_write(path, write)


def read_mask(path: str | Path, image_shape: tuple[int, int, int]) -> Tensor:
    """A mask image — white (255) = known, black (0) = to sample — as a known-sub-pixel mask
    [C, H, W], read by the same rules as images; any other value is refused, not thresholded."""
    C, H, W = image_shape
    what = f"the mask {path}"
    arr = _channels(_open(path), 1, what)
    if not np.isin(arr, (0, 255)).all():
        raise PixelarError(f"{what} has values other than black (0) and white (255); make it black and white first")
    _check_size(arr, (H, W), what)
    return torch.from_numpy(arr[0] == 255).expand(C, H, W).clone()
