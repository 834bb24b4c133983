"""Image completion: keep the known sub-pixels of an image and sample the rest (the
occlusion-completion figure of the PixelRNN paper, Figure 1)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.plotting import save_image, tile, to_uint8
from pixelar.sampling import sample

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


def rows_mask(image_shape: tuple[int, int, int], keep_rows: int) -> Tensor:
    """Known-sub-pixel mask [C, H, W] keeping the top ``keep_rows`` rows."""
    C, H, W = image_shape
    if not 0 <= keep_rows <= H:
        raise PixelarError(f"--keep-rows must be between 0 and the image height {H}, got {keep_rows}")
    known = torch.zeros(C, H, W, dtype=torch.bool)
    known[:, :keep_rows] = True
    return known


def load_mask(path: str | Path, image_shape: tuple[int, int, int]) -> Tensor:
    """A mask image (white = known, black = to sample) as a known-sub-pixel mask [C, H, W]."""
    C, H, W = image_shape
    if not Path(path).is_file():
        raise PixelarError(f"{path} does not exist; pass a mask image (white = known, black = to sample)")
    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("L"))
    except (OSError, ValueError) as e:
        raise PixelarError(f"{path} is not a readable image ({e.__class__.__name__})") from None
    if arr.shape != (H, W):
        raise PixelarError(f"the mask {path} is {arr.shape[1]}×{arr.shape[0]} but the model expects {W}×{H}")
    return torch.from_numpy(arr > 127).expand(C, H, W).clone()


def known_after_unknown(known: Tensor) -> bool:
    """Whether some known sub-pixel ([C, H, W] or [N, C, H, W] mask) comes after an unknown one
    in generation order: it is kept, but the sub-pixels sampled before it do not depend on it."""
    flat = known.reshape(-1, *known.shape[-3:]).permute(0, 2, 3, 1).flatten(1)  # generation order
    after_unknown = (~flat).cumsum(1) > 0
    return bool((flat & after_unknown).any())


def complete(
    model: AutoregressiveModel,
    images: Tensor,
    known: Tensor,
    n: int = 4,
    cond: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    temperature: float = 1.0,
    method: str = "auto",
    progress: bool = False,
    batch_size: int | None = None,
) -> Tensor:
    """``n`` completions of each image: [N, n, C, H, W] (long); ``batch_size`` as in
    :func:`pixelar.sampling.sample`.

    ``known`` ([C, H, W] or [N, C, H, W], bool) marks the sub-pixels to keep; every other
    sub-pixel is sampled from the model given all earlier ones (known or sampled), so the
    completion is exact wherever the known sub-pixels precede the unknown ones in the
    ordering (e.g. the top rows).
    """
    N = images.shape[0]
    labels = None
    if cond is not None:
        labels = torch.as_tensor(cond).long().reshape(-1)
        labels = labels.expand(N) if labels.numel() == 1 else labels
    model.check_input(images, labels)
    known = known.bool()
    if known.shape not in (images.shape[1:], images.shape):
        raise PixelarError(f"the known mask has shape {tuple(known.shape)}, not {tuple(images.shape[1:])}")
    x = images.repeat_interleave(n, 0)
    mask = known.expand(images.shape).repeat_interleave(n, 0)
    out = sample(
        model,
        N * n,
        cond=None if labels is None else labels.repeat_interleave(n, 0),
        generator=generator,
        temperature=temperature,
        method=method,
        x=x,
        known=mask,
        progress=progress,
        batch_size=batch_size,
    )
    return out.reshape(N, n, *images.shape[1:])


def load_png(path: str | Path, model: AutoregressiveModel) -> Tensor:
    """A PNG (or any Pillow image) as an integer image [C, H, W] for ``model``, with clear errors."""
    C, H, W = model.image_shape
    K = model.num_levels
    if not Path(path).is_file():
        raise PixelarError(f"{path} does not exist; pass an image file")
    try:
        with Image.open(path) as img:
            bands = [b for b in img.getbands() if b != "A"]
            if img.mode == "P":
                bands = ["R", "G", "B"]
            if len(bands) != C:
                raise PixelarError(
                    f"{path} has {len(bands)} channel(s) but the model expects {C}; convert it "
                    f"({'to greyscale' if C == 1 else 'to RGB'}) first"
                )
            arr = np.asarray(img.convert("L" if C == 1 else "RGB"), dtype=np.int64)
    except (OSError, ValueError) as e:
        raise PixelarError(f"{path} is not a readable image ({e.__class__.__name__})") from None
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    if arr.shape[1:] != (H, W):
        raise PixelarError(f"{path} is {arr.shape[2]}×{arr.shape[1]} but the model expects {W}×{H}; resize it first")
    if arr.max() < K:
        return torch.from_numpy(arr)
    levels = np.rint(np.arange(K) * 255 / (K - 1)).astype(np.int64)
    index = np.searchsorted(levels, arr)
    if K < 256 and not np.array_equal(levels[np.clip(index, 0, K - 1)], arr):
        raise PixelarError(
            f"{path} has values other than the model's {K} levels ({', '.join(map(str, levels[:4]))}…); "
            "quantise it first (e.g. threshold at 128 for a binary model)"
        )
    return torch.from_numpy(np.clip(index, 0, K - 1))


def completion_grid(images: Tensor, known: Tensor, completions: Tensor, num_levels: int) -> Image.Image:
    """One row per image: the occluded input (unknown part grey), the completions, the original."""
    N, n = completions.shape[:2]
    originals = to_uint8(images, num_levels)
    occluded = originals.copy()
    mask = known.expand(images.shape).permute(0, 2, 3, 1).cpu().numpy()
    occluded[~mask] = 128
    comps = to_uint8(completions.reshape(N * n, *completions.shape[2:]), num_levels).reshape(N, n, *originals.shape[1:])
    panels = np.concatenate([occluded[:, None], comps, originals[:, None]], axis=1)
    return tile(panels.reshape(-1, *panels.shape[2:]), nrow=n + 2)


def save_completion_grid(images: Tensor, known: Tensor, completions: Tensor, num_levels: int, path: str | Path) -> Path:
    return save_image(completion_grid(images, known, completions, num_levels), path)
