"""CIFAR-10 from its python pickle batches, read without executing code from the file."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

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


def safe_extract(tar: tarfile.TarFile, directory: Path) -> None:
    """Extract the regular files and directories of ``tar`` under ``directory``, on every Python.

    Every member is checked before anything is written: a path that is absolute or has a
    ``..`` component, and any member that is not a regular file or a directory (symbolic and
    hard links, devices, FIFOs), is refused with a :class:`PixelarError`. Files are written with
    the usual permissions, never the archive's modes or owners. (``extractall(filter="data")``
    does much the same but needs Python >= 3.10.12 / 3.11.4.)
    """
    archive = os.fsdecode(tar.name or "the archive")
    members = tar.getmembers()
    for m in members:
        name = PurePosixPath(m.name)
        if name.is_absolute() or m.name.startswith(("/", "\\")) or ".." in name.parts or ":" in m.name:
            raise PixelarError(f"{archive} holds a file outside its folder ({m.name!r}); refusing to unpack it")
        if not (m.isfile() or m.isdir()):
            raise PixelarError(
                f"{archive} holds {m.name!r}, which is not a plain file or folder (a link or device); "
                "refusing to unpack it"
            )
    root = directory.resolve()
    root.mkdir(parents=True, exist_ok=True)
    for m in members:
        target = (root / m.name).resolve()
        if target != root and root not in target.parents:  # e.g. through a symbolic link already on disk
            raise PixelarError(f"{archive} holds a file outside its folder ({m.name!r}); refusing to unpack it")
        if m.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(m)
        if source is None:
            raise tarfile.TarError(f"cannot read {m.name}")
        tmp = target.with_name(f".{target.name}.part")
        with source, open(tmp, "wb") as out:
            shutil.copyfileobj(source, out)
        os.replace(tmp, target)


def load_cifar10(directory: Path, split: str, download: bool = True) -> ImageDataset:
    """CIFAR-10, 8-bit RGB: train 50,000 / test 10,000 images [N, 3, 32, 32] with labels."""
    if split not in SPLITS:
        raise PixelarError(f"cifar10 has splits train and test, not {split!r}")
    batch_dir = directory / BATCH_DIR
    if not all((batch_dir / name).exists() for name in SPLITS[split]):
        archive = fetch(CIFAR10, directory, download)
        try:
            with tarfile.open(archive) as tar:
                safe_extract(tar, directory)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise PixelarError(f"{archive} is corrupt ({e}); delete it and download it again") from None
    parts = [read_batch(batch_dir / name) for name in SPLITS[split]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), 256, f"cifar10/{split}", num_classes=10)
