"""Downsampled ImageNet 32×32 and 64×64 (Chrabaszcz et al. 2017) from the official ``.npz``
batches, which need a login to download: the user supplies the directory.

The 1.28 M training images (3.9 GB at 32×32, 15.7 GB at 64×64) are not held in memory. On the
first use of a split its batches are copied, a few MB at a time, into a cache of two ``.npy``
files, images uint8 [N, 3, S, S] and labels int64 [N] (0-based), and a JSON manifest naming
the batches with their sizes and modification times. A load memory-maps the two files (copy on
write: the tensor is writable, writes stay in the process), so ``images[idx]`` reads only the
images indexed. The manifest is checked against the batches first: a cache whose batches
changed, or whose files are missing, truncated or unreadable, is written again.

Where the cache lives: ``pixelar-cache/`` inside the data directory, when a valid cache is
there or the folder can be written; else ``imagenet{S}-cache/<hash of the data directory>/``
under :func:`pixelar.data.download.cache_dir` ($PIXELAR_DATA_DIR, else the user cache dir). So
a read-only data directory works, and a cache someone prepared inside it is used as it is.

The cache files are written under temporary names and renamed into place, the manifest last
(and the old one removed first), so an interrupted conversion never leaves a cache that looks
complete. The data are written with plain writes into files laid out by ``open_memmap``, not
through a writable memory map: a full disk is then an error, not a SIGBUS, and the pages
written do not stay in the converting process's memory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from numpy.lib.format import open_memmap
from tqdm.auto import tqdm

from pixelar.checkpoint import atomic_write, atomic_write_text
from pixelar.data.base import ImageDataset
from pixelar.data.download import ENV_VAR, cache_dir
from pixelar.errors import PixelarError

PATTERNS = {"train": "train_data_batch_*.npz", "test": "val_data.npz"}
CACHE_SUBDIR = "pixelar-cache"  # the cache's folder inside the data directory
CACHE_FORMAT = "pixelar-imagenet-cache"
CACHE_VERSION = 1  # bump when what the cache files hold changes
CHUNK_BYTES = 1 << 20  # what the conversion copies at a time
# what reading a damaged or foreign npz file raises
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


def read_npz_batch(path: str | Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch -> (images uint8 [N, 3, size, size], labels int64 [N], 0-based)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            data = np.asarray(f["data"], dtype=np.uint8)
            labels = np.asarray(f["labels"], dtype=np.int64)
    except Exception as e:
        raise _not_a_batch(path, e) from None
    if data.ndim != 2 or data.shape[1] != 3 * size * size or labels.shape != (data.shape[0],):
        raise _wrong_shape(path, data.shape, size)
    return data.reshape(-1, 3, size, size), _zero_based(labels)


def load_imagenet(directory: Path, split: str, size: int) -> ImageDataset:
    """ImageNet size×size from the npz batches found (recursively) under ``directory``, read
    through the memory-mapped cache (module docstring), which the first use builds."""
    directory = Path(directory)
    if split not in PATTERNS:
        raise PixelarError(f"imagenet{size} has splits train and test (the official validation set), not {split!r}")
    files = sorted(directory.rglob(PATTERNS[split]), key=lambda path: (len(path.name), path.name))
    if not files:
        raise PixelarError(
            f"no {PATTERNS[split]} under {directory}; download Imagenet{size} (image-net.org, login needed), "
            f"unpack it there, or pass data_dir=DIR where they are",
            param="data_dir",
        )
    images, labels = cached_arrays(directory, split, size, files)
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), 256, f"imagenet{size}/{split}", 1000)


# -- the cache --------------------------------------------------------------------------------
def cache_folders(directory: Path, size: int) -> tuple[Path, Path]:
    """Where the cache of the batches under ``directory`` may live: inside it, else in the
    user cache (a folder per data directory)."""
    key = hashlib.sha256(str(Path(directory).resolve()).encode()).hexdigest()[:16]
    return Path(directory) / CACHE_SUBDIR, cache_dir() / f"imagenet{size}-cache" / key


def cached_arrays(directory: Path, split: str, size: int, files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """The memory-mapped (images, labels) of the batches ``files`` under ``directory``: from a
    valid cache, else from one written now."""
    stem = f"imagenet{size}-{split}"
    sources = _sources(directory, files)
    folders = cache_folders(directory, size)
    for place in folders:
        arrays = _open_cache(place, stem, size, sources)
        if arrays is not None:
            return arrays
    folder = next((place for place in folders if _writable(place)), None)
    if folder is None:
        raise PixelarError(
            f"cannot write the imagenet{size} cache in {folders[0]} nor in {folders[1]}; make one of them "
            f"writable or set ${ENV_VAR} to a writable directory"
        )
    _build_cache(folder, stem, size, split, directory, files, sources)
    arrays = _open_cache(folder, stem, size, sources)
    if arrays is None:
        raise PixelarError(f"the imagenet{size} cache just written in {folder} does not read back; delete it and retry")
    return arrays


def _sources(directory: Path, files: list[Path]) -> list[dict[str, Any]]:
    """What the manifest records of each batch: its path under ``directory``, size and mtime."""
    out = []
    for path in files:
        stat = path.stat()
        out.append(
            {"path": path.relative_to(directory).as_posix(), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        )
    return out


def _paths(folder: Path, stem: str) -> tuple[Path, Path, Path]:
    """The images, labels and manifest files of a cache."""
    return folder / f"{stem}-images.npy", folder / f"{stem}-labels.npy", folder / f"{stem}.json"


def _open_cache(
    folder: Path, stem: str, size: int, sources: list[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The memory-mapped arrays of the cache in ``folder`` if its manifest matches ``sources``
    and its files are whole; else None (missing, stale, truncated, damaged)."""
    images_path, labels_path, manifest_path = _paths(folder, stem)
    try:
        manifest = json.loads(manifest_path.read_text())
        expected = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "size": size, "sources": sources}
        if any(manifest.get(key) != value for key, value in expected.items()):
            return None
        count = manifest["images"]
        for path, key in ((images_path, "images_bytes"), (labels_path, "labels_bytes")):
            if path.stat().st_size != manifest[key]:
                return None
        # "c": copy on write, so the tensor is writable (torch warns on read-only arrays)
        images = np.load(images_path, mmap_mode="c", allow_pickle=False)
        labels = np.load(labels_path, mmap_mode="c", allow_pickle=False)
    except Exception:  # any failure to read the cache means writing it again
        return None
    if images.shape != (count, 3, size, size) or images.dtype != np.uint8:
        return None
    if labels.shape != (count,) or labels.dtype != np.int64:
        return None
    return images, labels


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def _build_cache(
    folder: Path, stem: str, size: int, split: str, directory: Path, files: list[Path], sources: list[dict[str, Any]]
) -> None:
    """Convert the batches ``files`` into the cache in ``folder``: the old cache removed first,
    the manifest written last."""
    images_path, labels_path, manifest_path = _paths(folder, stem)
    rows = [_batch_rows(path, size) for path in files]
    count = sum(rows)
    if count == 0:
        raise PixelarError(f"the {PATTERNS[split]} files under {directory} hold no images; download them again")
    for path in (manifest_path, images_path, labels_path):  # the manifest first: no cache looks valid meanwhile
        path.unlink(missing_ok=True)
    need = count * (3 * size * size + 8) + (1 << 16)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise PixelarError(
            f"caching {stem} needs {need / 1e9:.1f} GB in {folder} but {free / 1e9:.1f} GB are free; free space there"
        )
    try:
        atomic_write(
            labels_path,
            lambda labels_tmp: atomic_write(
                images_path, lambda images_tmp: _convert(files, rows, size, images_tmp, labels_tmp, stem)
            ),
        )
    except OSError as e:
        raise PixelarError(
            f"cannot write the cache in {folder} ({e.strerror or e.__class__.__name__}); free space there or make it "
            f"writable"
        ) from None
    manifest = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "size": size,
        "split": split,
        "images": count,
        "images_bytes": images_path.stat().st_size,
        "labels_bytes": labels_path.stat().st_size,
        "directory": str(Path(directory).resolve()),
        "sources": sources,
    }
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1) + "\n")


def _convert(files: list[Path], rows: list[int], size: int, images_tmp: str, labels_tmp: str, stem: str) -> None:
    """Write the batches' images and labels, one after another, into the two ``.npy`` files."""
    count = sum(rows)
    offsets = []
    for tmp, dtype, shape in ((images_tmp, np.uint8, (count, 3, size, size)), (labels_tmp, np.int64, (count,))):
        layout = open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)  # the header, and the file's size
        offsets.append(layout.offset)
        del layout
    with (
        open(images_tmp, "r+b") as images_out,
        open(labels_tmp, "r+b") as labels_out,
        tqdm(total=count, unit="img", unit_scale=True, desc=f"caching {stem}", leave=False) as bar,
    ):
        images_out.seek(offsets[0])
        labels_out.seek(offsets[1])
        for path, n in zip(files, rows):
            labels = _copy_batch(path, size, n, images_out, bar)
            labels_out.write(np.ascontiguousarray(labels, dtype=np.int64).tobytes())


def _copy_batch(path: Path, size: int, rows: int, out: IO[bytes], bar: Any) -> np.ndarray:
    """Append the ``rows`` images of one batch to ``out``, CHUNK_BYTES at a time; its labels."""
    row_bytes = 3 * size * size
    try:
        with zipfile.ZipFile(path) as archive:
            with archive.open("data.npy") as member:
                shape, fortran, dtype = _npy_header(member)
                if shape != (rows, row_bytes):
                    raise PixelarError(f"{path} changed while it was being cached; load the dataset again")
                streamed = not fortran and dtype == np.uint8
                if streamed:  # the rows are the images' bytes, in order: copy them as they are
                    per_chunk = max(1, CHUNK_BYTES // row_bytes)
                    for start in range(0, rows, per_chunk):
                        want = min(per_chunk, rows - start) * row_bytes
                        chunk = member.read(want)
                        if len(chunk) != want:
                            raise EOFError("the data end early")
                        out.write(chunk)
                        bar.update(want // row_bytes)
            with archive.open("labels.npy") as member:
                labels = np.lib.format.read_array(member, allow_pickle=False)
    except _READ_ERRORS as e:
        raise _not_a_batch(path, e) from None
    if not streamed:  # another dtype or layout: the whole batch through numpy
        images, labels = read_npz_batch(path, size)
        if len(images) != rows:
            raise PixelarError(f"{path} changed while it was being cached; load the dataset again")
        out.write(np.ascontiguousarray(images).data)
        bar.update(rows)
        return labels
    if labels.shape != (rows,):
        raise _wrong_shape(path, shape, size)
    return _zero_based(np.asarray(labels, dtype=np.int64))


def _batch_rows(path: Path, size: int) -> int:
    """The number of images in a batch, from its header alone (checking they are size×size)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("data.npy") as member:
            shape, _, _ = _npy_header(member)
    except _READ_ERRORS as e:
        raise _not_a_batch(path, e) from None
    if len(shape) != 2 or shape[1] != 3 * size * size:
        raise _wrong_shape(path, shape, size)
    return int(shape[0])


def _npy_header(member: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran order, dtype) of the ``.npy`` file being read from ``member``."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(member)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(member)
    raise ValueError(f"npy format version {version}")


def _zero_based(labels: np.ndarray) -> np.ndarray:
    """The official labels run from 1 to 1000."""
    return labels - labels.min(initial=1)


def _not_a_batch(path: Path, error: BaseException) -> PixelarError:
    return PixelarError(f"{path} is not an ImageNet npz batch ({error.__class__.__name__}); download it again")


def _wrong_shape(path: Path, shape: tuple[int, ...], size: int) -> PixelarError:
    return PixelarError(
        f"{path} holds {tuple(shape)} data, not {size}×{size} RGB images; "
        f"use imagenet{size} with the Imagenet{size} files"
    )


__all__ = ["CACHE_SUBDIR", "PATTERNS", "cache_folders", "cached_arrays", "load_imagenet", "read_npz_batch"]
