"""MNIST in its IDX files (256 levels) and the fixed binarization of Larochelle & Murray
(2011) in ``.amat`` files, the one the published binarized-MNIST numbers use."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from pixelar.data.base import ImageDataset
from pixelar.data.download import RemoteFile, fetch
from pixelar.errors import PixelarError

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_FILES = {
    "train-images": RemoteFile(
        "train-images-idx3-ubyte.gz",
        MNIST_URL + "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    "train-labels": RemoteFile(
        "train-labels-idx1-ubyte.gz",
        MNIST_URL + "train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    "test-images": RemoteFile(
        "t10k-images-idx3-ubyte.gz",
        MNIST_URL + "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    "test-labels": RemoteFile(
        "t10k-labels-idx1-ubyte.gz",
        MNIST_URL + "t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaaeb9cc2e3b3e8f4e",
    ),
}

BINARIZED_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
# No SHA-256 is published for these files; they are checked by parsing (shape and 0/1 values).
BINARIZED_FILES = {
    split: RemoteFile(f"binarized_mnist_{split}.amat", BINARIZED_URL + f"binarized_mnist_{split}.amat", None)
    for split in ("train", "valid", "test")
}
BINARIZED_SIZES = {"train": 50_000, "valid": 10_000, "test": 10_000}

_IDX_DTYPES: dict[int, npt.DTypeLike] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into an array of its declared shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise PixelarError(f"{path} is not a readable IDX file ({e}); delete it and download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise PixelarError(f"{path} is not an IDX file (bad magic number); delete it and download it again")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise PixelarError(
            f"{path} is truncated or corrupt ({len(raw) - offset} data bytes, {expected} expected); "
            "delete it and download it again"
        )
    return np.frombuffer(raw, dtype, offset=offset).reshape(dims)


def load_mnist(directory: Path, split: str, download: bool = True) -> ImageDataset:
    """MNIST, 8-bit: train 60,000 / test 10,000 images [N, 1, 28, 28] with labels."""
    if split not in ("train", "test"):
        raise PixelarError(f"mnist has splits train and test, not {split!r}")
    images = read_idx(fetch(MNIST_FILES[f"{split}-images"], directory, download))
    labels = read_idx(fetch(MNIST_FILES[f"{split}-labels"], directory, download))
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise PixelarError(f"MNIST files in {directory} have inconsistent shapes; download them again")
    return ImageDataset(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        256,
        f"mnist/{split}",
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
