"""Uploaded files as a model's images: checked for type and size before they are decoded,
read by :mod:`pixelar.imageio`'s rules from a file of the app's own naming in its temporary
directory (a client's file name is never a path), which is removed right after."""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import uuid
import warnings
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.imageio import read_image_list

NPY_MAGIC = b"\x93NUMPY"
UPLOAD_NAME = "the uploaded file"
# The image formats an upload may be: plain raster formats whose decoders run no external
# program (EPS would run Ghostscript) and whose header size is the decoded size (an ICO can
# hold a larger embedded PNG than its header says).
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")


def display_name(filename: str | None, default: str = UPLOAD_NAME) -> str:
    """A client's file name reduced to a safe base name (letters, digits, ``.``, ``-``, ``_``)
    for messages and downloads: no directory, no ``..``, at most 80 characters."""
    if not filename:
        return default
    base = PureWindowsPath(PurePosixPath(filename).name).name  # drop both kinds of directory part
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[:80]
    return base or default


def check_image_header(data: bytes, max_pixels: int, what: str) -> tuple[int, int]:
    """(width, height) of an image file's bytes, read from its header only; refuses bytes that
    are no image Pillow reads, and images of more than ``max_pixels`` pixels (before decoding
    them, so a small file of huge dimensions costs nothing)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
                width, height = img.size
                frames = getattr(img, "n_frames", 1)
    except Image.DecompressionBombError:
        raise PixelarError(f"{what} has more pixels than the limit of {max_pixels}; choose a smaller image") from None
    except Exception:  # whatever a parser raises on bytes that are no image it knows
        raise PixelarError(f"{what} is not an image (PNG, JPEG, GIF, BMP, WebP, …); choose an image file") from None
    if width * height > max_pixels:
        raise PixelarError(
            f"{what} is {width}×{height} pixels, more than the limit of {max_pixels}; choose a smaller image"
        )
    if frames > 1:
        raise PixelarError(f"{what} is an animation of {frames} frames; choose a still image")
    return width, height


def check_npy_header(data: bytes, max_pixels: int, max_images: int, what: str) -> None:
    """Refuse a ``.npy`` upload from its header alone (before any array is built): an unknown
    version, a shape with an empty axis or other than [C, H, W] / [N, C, H, W], more than
    ``max_images`` images or ``max_pixels`` pixels in all."""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}[version]
        shape, _, _ = read(f)
    except Exception:  # a damaged header, or a version this reader does not take
        raise PixelarError(f"{what} is not a readable .npy array; save it with numpy.save") from None
    if len(shape) not in (3, 4) or min(shape) < 1:
        raise PixelarError(f"{what} has shape {list(shape)}; send images as [N, C, H, W] or [C, H, W] arrays")
    count = shape[0] if len(shape) == 4 else 1
    if count > max_images:
        raise PixelarError(f"{what} holds {count} images, more than the limit of {max_images}; send fewer")
    pixels = count * math.prod(shape[-2:])
    if pixels > max_pixels:
        raise PixelarError(
            f"{what} holds {pixels} pixels, more than the limit of {max_pixels}; send fewer or smaller images"
        )


def read_upload(
    data: bytes,
    workdir: Path,
    channels: int,
    num_levels: int,
    *,
    filename: str | None = None,
    size: tuple[int, int] | None = None,
    max_pixels: int = 256 * 256,
    max_images: int = 16,
) -> list[Tensor]:
    """The images [C, H, W] (long) of an uploaded image file or ``.npy`` array, for a model of
    ``channels`` channels and ``num_levels`` levels; ``size`` (H, W) is checked when given.
    Messages name the file by its :func:`display_name`."""
    what = display_name(filename)
    is_npy = data.startswith(NPY_MAGIC)
    if is_npy:
        check_npy_header(data, max_pixels, max_images, what)
    else:
        check_image_header(data, max_pixels, what)
    path = workdir / f"upload-{uuid.uuid4().hex}{'.npy' if is_npy else '.img'}"
    try:
        path.write_bytes(data)
        images = read_image_list([path], channels, num_levels, size=size)
    except PixelarError as e:
        raise PixelarError(str(e).replace(str(path), what), param=e.params) from None
    except Exception as e:  # a decoder's own failure on a damaged file
        raise PixelarError(f"{what} could not be read ({e.__class__.__name__}); choose another file") from None
    finally:
        path.unlink(missing_ok=True)
    if len(images) > max_images:
        raise PixelarError(f"{what} holds {len(images)} images, more than the limit of {max_images}; send fewer")
    pixels = sum(int(image.shape[1]) * int(image.shape[2]) for image in images)
    if pixels > max_pixels:
        raise PixelarError(
            f"{what} holds {pixels} pixels, more than the limit of {max_pixels}; send fewer or smaller images"
        )
    return images


def hidden_mask(text: str, image_shape: tuple[int, int, int]) -> Tensor:
    """The known-sub-pixel mask [C, H, W] of a completion whose hole the page marked: ``text``
    holds one bit per pixel (1: hidden), row by row, packed most significant bit first into
    ceil(H·W / 8) bytes and written in URL-safe base64 (padding optional)."""
    C, H, W = image_shape
    size = math.ceil(H * W / 8)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PixelarError("hidden must be the hole's pixels as packed bits in URL-safe base64") from None
    if len(raw) != size:
        raise PixelarError(f"hidden holds {len(raw)} bytes, not the {size} of one bit per pixel of a {H}×{W} image")
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))[: H * W].reshape(H, W).astype(bool)
    if not bits.any():
        raise PixelarError("the hole is empty: mark the pixels to fill in")
    return torch.from_numpy(~bits)[None].expand(C, H, W).clone()
