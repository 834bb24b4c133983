"""Any folder of images: each centre-cropped to a square and resized to a chosen size, or cut
into tiles of that size; 8-bit, or quantised to fewer levels (2: black and white)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from pixelar.data.base import ImageDataset
from pixelar.errors import PixelarError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pbm", ".pgm", ".ppm", ".pnm"}


def load_image(path: str | Path, size: int | None, channels: int) -> np.ndarray:
    """One image -> uint8 [channels, size, size] (centre crop + resize; no resize if size is None)."""
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            if size is not None:
                width, height = img.size
                side = min(width, height)
                left, top = (width - side) // 2, (height - side) // 2
                img = img.crop((left, top, left + side, top + side))
                if side != size:
                    img = img.resize((size, size), Image.Resampling.LANCZOS)
            arr = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise PixelarError(f"{path} is not a readable image ({e.__class__.__name__}); remove it or fix it") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def image_tiles(image: np.ndarray, size: int, path: str | Path) -> np.ndarray:
    """An image [C, H, W] cut into its non-overlapping size×size tiles [T, C, size, size], row by
    row from the top-left corner; the rows and columns left over at the bottom and right edges
    (fewer than ``size``) are dropped. An image smaller than one tile is an error naming ``path``."""
    channels, height, width = image.shape
    rows, cols = height // size, width // size
    if rows == 0 or cols == 0:
        raise PixelarError(
            f"{path} is {width}×{height} pixels, smaller than one {size}×{size} tile: "
            f"lower image_size to at most {min(width, height)}, or remove the image",
            param="image_size",
        )
    grid = image[:, : rows * size, : cols * size].reshape(channels, rows, size, cols, size)
    return np.ascontiguousarray(grid.transpose(1, 3, 0, 2, 4).reshape(rows * cols, channels, size, size))


def quantise(images: np.ndarray, levels: int) -> np.ndarray:
    """8-bit intensities v -> the index of the nearest of ``levels`` evenly spaced levels,
    floor(v·(K−1)/255 + 1/2): K = 2 thresholds at 128 (0…127 -> 0, 128…255 -> 1); K = 256 keeps v."""
    if levels == 256:
        return images
    return ((images.astype(np.int64) * (levels - 1) * 2 + 255) // 510).astype(np.uint8)


def folder_classes(directory: Path, files: list[Path]) -> list[str] | None:
    """The class names of a folder dataset: the names of the sub-folders that hold its images,
    sorted; None when some image lies directly in ``directory`` (then it has no labels)."""
    if any(path.parent == directory for path in files):
        return None
    return sorted({path.parent.name for path in files})


def load_folder(
    directory: Path,
    size: int,
    channels: int = 3,
    split: str = "train",
    tiles: bool = False,
    levels: int = 256,
) -> ImageDataset:
    """All images under ``directory``; labels from sub-folder names when every image has one.

    Each image gives one example, centre-cropped to a square and resized to ``size``; with
    ``tiles`` it gives instead every non-overlapping ``size``×``size`` tile of it, unresized (see
    :func:`image_tiles`). ``levels`` K (2…256) quantises the 8-bit images to K levels (see
    :func:`quantise`; 2: black and white, thresholded at 128).

    ``split`` "train" or "test" picks a fixed 90% / 10% split of the *images* (every tenth
    image, in sorted path order, is test), so with tiles the test tiles come from images no
    training tile comes from. With fewer than 10 images there is no split: "train" and "test"
    both hold every image (the test NLL is then measured on training data), as does "all".
    Classes are numbered from the sub-folders of *all* the images, before the split, so every
    split gives a class the same label even when a class has no image in that split; a tile
    has the label of its image.
    """
    if channels not in (1, 3):
        raise PixelarError(f"channels must be 1 or 3, got {channels}", param="channels")
    if not isinstance(size, int) or size < 1:
        raise PixelarError(f"the image size must be a positive integer, got {size}")
    if not isinstance(levels, int) or isinstance(levels, bool) or not 2 <= levels <= 256:
        raise PixelarError(f"levels must be an integer from 2 to 256, got {levels!r}", param="levels")
    if not directory.is_dir():
        raise PixelarError(f"{directory} is not a directory of images")
    if split not in ("train", "test", "all"):
        raise PixelarError(f"a folder dataset has splits train, test and all, not {split!r}")
    files = sorted(path for path in directory.rglob("*") if path.suffix.lower() in EXTENSIONS and path.is_file())
    if not files:
        raise PixelarError(f"no images ({', '.join(sorted(EXTENSIONS))}) found under {directory}")
    classes = folder_classes(directory, files)  # from every image, not from one split's
    if split != "all" and len(files) >= 10:
        files = [path for position, path in enumerate(files) if (position % 10 == 9) == (split == "test")]
    if tiles:
        parts = [image_tiles(load_image(path, None, channels), size, path) for path in files]
    else:
        parts = [load_image(path, size, channels)[None] for path in files]
    images = torch.from_numpy(quantise(np.concatenate(parts), levels))
    labels = None
    if classes is not None:
        label_of = {name: label for label, name in enumerate(classes)}
        per_image = [label_of[path.parent.name] for path in files]
        labels = torch.tensor(per_image, dtype=torch.long).repeat_interleave(torch.tensor([len(p) for p in parts]))
    name = f"folder:{directory}/{split}" + (f" ({size}×{size} tiles)" if tiles else "")
    return ImageDataset(images, labels, levels, name, len(classes) if classes else 0)
