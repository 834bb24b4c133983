"""CIFAR-10 from its python pickle batches, read without executing code from the file."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from pixelar.data.base import ImageDataset
from pixelar.data.download import RemoteFile, fetch
from pixelar.errors import PixelarError

CIFAR10 = RemoteFile(
    "cifar-10-python.tar.gz",
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
)
BATCH_DIR = "cifar-10-batches-py"
SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays: a crafted file cannot run code."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch -> (images uint8 [N, 3, 32, 32], labels int64 [N])."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            batch = _SafeUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except FileNotFoundError:
        raise PixelarError(f"{path} is missing; delete {path.parent} and download CIFAR-10 again") from None
    except Exception as e:
        raise PixelarError(f"{path} is not a CIFAR-10 batch ({e.__class__.__name__}); download it again") from None
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise PixelarError(f"{path} is not a CIFAR-10 batch (data {data.shape}); download it again")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(directory: Path, split: str, download: bool = True) -> ImageDataset:
    """CIFAR-10, 8-bit RGB: train 50,000 / test 10,000 images [N, 3, 32, 32] with labels."""
    if split not in SPLITS:
        raise PixelarError(f"cifar10 has splits train and test, not {split!r}")
    batch_dir = directory / BATCH_DIR
    if not all((batch_dir / name).exists() for name in SPLITS[split]):
        archive = fetch(CIFAR10, directory, download)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(directory, filter="data")
        except (tarfile.TarError, EOFError, OSError) as e:
            raise PixelarError(f"{archive} is corrupt ({e}); delete it and download it again") from None
    parts = [read_batch(batch_dir / name) for name in SPLITS[split]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), 256, f"cifar10/{split}", num_classes=10)
