"""Input complexity: the length in bits of each image's lossless code, by a generic compressor
(PNG, JPEG XL) or by pixelar's own codec with a model; the correction of Serrà et al. (ICLR 2020,
"Input Complexity and Out-of-Distribution Detection with Likelihood-based Generative Models",
Section 3) subtracts it from the model's code length."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from pixelar.errors import PixelarError
from pixelar.evaluation import log_probs
from pixelar.imageio import to_8bit
from pixelar.models.base import AutoregressiveModel

COMPLEXITIES = {
    "png": "PNG at compression level 9 (Pillow; 1-bit PNG for 2-level images)",
    "jxl": "lossless JPEG XL at effort 9 (imagecodecs; pip install 'pixelar[ood]')",
    "model": (
        "pixelar's codec with a model (complexity_model: any image size, the images' channels and levels): "
        "each image's ideal code length, its NLL in bits (pixelar.encode's payload, less the file's overhead)"
    ),
}


def _png(image: np.ndarray, num_levels: int) -> int:
    pixels = image[..., 0] if image.shape[-1] == 1 else image
    picture = Image.fromarray(pixels)
    if num_levels == 2:
        picture = picture.convert("1")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=9)
    return buffer.tell()


def _jxl_encoder() -> Callable[[np.ndarray, int], int]:
    try:
        import imagecodecs
    except ImportError:
        raise PixelarError(
            "complexity jxl needs imagecodecs: pip install 'pixelar[ood]', or use png", param="complexity"
        ) from None
    if not imagecodecs.JPEGXL.available:
        raise PixelarError("this imagecodecs build has no JPEG XL; use png", param="complexity")

    def encode(image: np.ndarray, num_levels: int) -> int:
        pixels = image[..., 0] if image.shape[-1] == 1 else image
        return len(imagecodecs.jpegxl_encode(np.ascontiguousarray(pixels), lossless=True, effort=9))

    return encode


def complexity_bits(
    images: Tensor,
    num_levels: int,
    method: str,
    model: AutoregressiveModel | None = None,
    progress: bool = False,
) -> Tensor:
    """The code length in bits of each image [N] (float64) by ``method`` (a key of
    :data:`COMPLEXITIES`): ``images`` [N, C, H, W] hold level indices in [0, num_levels);
    ``model`` is the codec's model for method "model" (of the images' channels and levels)."""
    if method not in COMPLEXITIES:
        raise PixelarError(
            f"unknown complexity {method!r}; choose one of: {', '.join(COMPLEXITIES)}", param="complexity"
        )
    if method == "model":
        return _codec_bits(images, num_levels, model, progress)
    if model is not None:
        raise PixelarError(f"complexity {method} uses no model: drop complexity_model", param="complexity_model")
    length = _png if method == "png" else _jxl_encoder()
    pixels = to_8bit(images, num_levels)
    sizes = [length(image, num_levels) for image in tqdm(pixels, desc=method, disable=not progress, leave=False)]
    return torch.tensor(sizes, dtype=torch.float64) * 8


def _codec_bits(images: Tensor, num_levels: int, model: AutoregressiveModel | None, progress: bool) -> Tensor:
    """Each image's ideal code length in pixelar's codec with ``model``: its NLL in bits, the size
    of :func:`pixelar.encode`'s payload (a file adds its header, checks and padding; a class-
    conditional model codes under the marginal over its classes)."""
    if model is None:
        raise PixelarError(
            "complexity model needs the codec's model: pass complexity_model (a pretrained name or run)",
            param="complexity_model",
        )
    channels, height, width = images.shape[1:]
    if model.image_shape[0] != channels or model.num_levels != num_levels:
        raise PixelarError(
            f"the complexity model codes {model.image_shape[0]}-channel images of {model.num_levels} levels, these "
            f"have {channels} channel(s) of {num_levels}: pass a complexity model of their channels and levels",
            param="complexity_model",
        )
    with model.at_size(height, width):  # the codec codes any size with the weights unchanged
        return -log_probs(model, images, progress=progress) / math.log(2)
