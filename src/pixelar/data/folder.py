"""Any folder of images, centre-cropped to a square and resized to a chosen size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from pixelar.data.base import ImageDataset
from pixelar.errors import PixelarError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


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


def folder_classes(directory: Path, files: list[Path]) -> list[str] | None:
    """The class names of a folder dataset: the names of the sub-folders that hold its images,
    sorted; None when some image lies directly in ``directory`` (then it has no labels)."""
    if any(path.parent == directory for path in files):
        return None
    return sorted({path.parent.name for path in files})


def load_folder(directory: Path, size: int, channels: int = 3, split: str = "train") -> ImageDataset:
    """All images under ``directory``; labels from sub-folder names when every image has one.

    ``split`` "train" or "test" picks a fixed 90% / 10% split (every tenth image is test).
    Classes are numbered from the sub-folders of *all* the images, before the split, so every
    split gives a class the same label even when a class has no image in that split.
    """
    if channels not in (1, 3):
        raise PixelarError(f"channels must be 1 or 3, got {channels}", param="channels")
    if not isinstance(size, int) or size < 1:
        raise PixelarError(f"the image size must be a positive integer, got {size}")
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
    images = torch.from_numpy(np.stack([load_image(path, size, channels) for path in files]))
    labels = None
    if classes is not None:
        label_of = {name: label for label, name in enumerate(classes)}
        labels = torch.tensor([label_of[path.parent.name] for path in files], dtype=torch.long)
    return ImageDataset(images, labels, 256, f"folder:{directory}/{split}", len(classes) if classes else 0)
