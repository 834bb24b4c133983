"""Downsampled ImageNet through its memory-mapped cache: small batches in the official npz format
(each image a 3·S·S row, R plane then G then B; labels 1..1000), written here with numpy."""

from __future__ import annotations

import json
import os
import tracemalloc
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pixelar.data import get_dataset
from pixelar.data import imagenet as imagenet_mod
from pixelar.data.imagenet import cache_folders, load_imagenet, read_npz_batch
from pixelar.errors import PixelarError


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch) -> Path:
    """cache_dir() (where a cache goes when the data directory is read-only) inside tmp_path."""
    path = tmp_path / "user-cache"
    monkeypatch.setenv("PIXELAR_DATA_DIR", str(path))
    return path


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "imagenet"
    (path / "Imagenet32_train_npz").mkdir(parents=True)
    return path


def write_batch(path: Path, count: int, size: int = 32, seed: int = 0, compressed: bool = False, **kw) -> np.ndarray:
    """A batch of ``count`` random images as the official files hold them; returns the rows."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 256, (count, 3 * size * size), dtype=np.uint8)
    labels = rng.integers(1, 1001, count)
    (np.savez_compressed if compressed else np.savez)(
        path, data=kw.get("data", rows), labels=labels, mean=np.zeros(3 * size * size)
    )
    return rows


def expected(paths: list[Path], size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The images [N, 3, S, S] and 0-based labels the batches hold, read directly."""
    images, labels = [], []
    for path in paths:
        with np.load(path) as f:
            images.append(np.asarray(f["data"]).reshape(-1, 3, size, size))
            labels.append(np.asarray(f["labels"]) - 1)
    return np.concatenate(images), np.concatenate(labels)


def train_batches(data: Path, counts: tuple[int, ...], size: int = 32, **kw) -> list[Path]:
    paths = [data / "Imagenet32_train_npz" / f"train_data_batch_{i + 1}.npz" for i in range(len(counts))]
    for i, (path, count) in enumerate(zip(paths, counts)):
        write_batch(path, count, size, seed=i, **kw)
    return paths


def cache_files(folder: Path, stem: str = "imagenet32-train") -> list[Path]:
    return [folder / f"{stem}-images.npy", folder / f"{stem}-labels.npy", folder / f"{stem}.json"]


def mtimes(paths: list[Path]) -> list[int]:
    return [path.stat().st_mtime_ns for path in paths]


@pytest.mark.parametrize(("size", "compressed"), [(32, False), (32, True), (64, False)])
def test_images_and_labels_are_the_npz_contents(tmp_path, size, compressed):
    data = tmp_path / f"Imagenet{size}"
    data.mkdir()
    paths = [data / f"train_data_batch_{i}.npz" for i in (1, 2, 10)]  # 10 sorts after 2
    for i, path in enumerate(paths):
        write_batch(path, 5 + i, size, seed=i, compressed=compressed)
    write_batch(data / "val_data.npz", 4, size, seed=9, compressed=compressed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's about non-writable arrays
        train = get_dataset(f"imagenet{size}", "train", data_dir=data)
        test = get_dataset(f"imagenet{size}", "test", data_dir=data)
    for ds, files in ((train, paths), (test, [data / "val_data.npz"])):
        images, labels = expected(files, size)
        assert ds.images.shape == (len(images), 3, size, size) and ds.images.dtype.is_floating_point is False
        assert np.array_equal(ds.images.numpy(), images) and np.array_equal(ds.labels.numpy(), labels)
        assert ds.num_levels == 256 and ds.num_classes == 1000
    assert train.name == f"imagenet{size}/train" and test.name == f"imagenet{size}/test"
    assert all(path.exists() for path in cache_files(data / "pixelar-cache", f"imagenet{size}-train"))


def test_images_tensor_maps_the_cache_file_copy_on_write(data):
    train_batches(data, (6, 7))
    ds = load_imagenet(data, "train", 32)
    images_file = cache_files(data / "pixelar-cache")[0]
    maps = Path("/proc/self/maps")
    if maps.exists():  # the tensor's data lie in a mapping of the cache file, not in allocated memory
        pointer = ds.images.data_ptr()
        spans = [line.split()[0] for line in maps.read_text().splitlines() if line.endswith(str(images_file.resolve()))]
        assert any(int(a, 16) <= pointer < int(b, 16) for a, b in (span.split("-") for span in spans)), spans
    before = images_file.read_bytes()
    ds.images[0] = 0  # writable, but the writes stay in this process
    ds.images[3:5].add_(1)
    assert images_file.read_bytes() == before
    again = load_imagenet(data, "train", 32)
    assert np.array_equal(again.images.numpy(), expected(sorted(data.rglob("*.npz")))[0])


def test_a_second_load_reuses_the_cache(data, monkeypatch):
    paths = train_batches(data, (6, 7))
    load_imagenet(data, "train", 32)
    files = cache_files(data / "pixelar-cache")
    stamps = mtimes(files)
    manifest = json.loads(files[2].read_text())
    assert [s["path"] for s in manifest["sources"]] == [p.relative_to(data).as_posix() for p in paths]
    assert manifest["images"] == 13 and manifest["size"] == 32 and manifest["split"] == "train"

    def fail(*args, **kwargs):
        raise AssertionError("the cache was built again")

    monkeypatch.setattr(imagenet_mod, "_build_cache", fail)
    ds = load_imagenet(data, "train", 32)
    assert mtimes(files) == stamps and len(ds) == 13
    assert np.array_equal(ds.images.numpy(), expected(paths)[0])


def test_a_changed_batch_rebuilds_the_cache(data):
    paths = train_batches(data, (6, 7))
    load_imagenet(data, "train", 32)
    write_batch(paths[1], 9, seed=42)  # new contents and size
    os.utime(paths[1], ns=(10**18, 10**18))
    ds = load_imagenet(data, "train", 32)
    images, labels = expected(paths)
    assert len(ds) == 15 and np.array_equal(ds.images.numpy(), images) and np.array_equal(ds.labels.numpy(), labels)
    # a batch added (or removed) also rebuilds it
    paths.append(data / "Imagenet32_train_npz" / "train_data_batch_3.npz")
    write_batch(paths[2], 2, seed=7)
    assert np.array_equal(load_imagenet(data, "train", 32).images.numpy(), expected(paths)[0])
    paths[0].unlink()
    assert np.array_equal(load_imagenet(data, "train", 32).images.numpy(), expected(paths[1:])[0])


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def scramble_header(path: Path) -> None:  # same size, unreadable
    raw = bytearray(path.read_bytes())
    raw[:16] = b"not an npy file!"
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    ("which", "damage"),
    [
        (0, truncate),
        (1, truncate),
        (0, scramble_header),
        (1, Path.unlink),
        (2, lambda path: path.write_text("{not json")),
        (2, lambda path: path.write_text("[]")),
    ],
)
def test_a_damaged_cache_is_rebuilt(data, which, damage):
    paths = train_batches(data, (6, 7))
    load_imagenet(data, "train", 32)
    damage(cache_files(data / "pixelar-cache")[which])
    ds = load_imagenet(data, "train", 32)
    images, labels = expected(paths)
    assert np.array_equal(ds.images.numpy(), images) and np.array_equal(ds.labels.numpy(), labels)
    assert json.loads(cache_files(data / "pixelar-cache")[2].read_text())["images"] == 13


def test_conversion_peak_memory_is_bounded_by_a_batch(data):
    """Four batches of 3,000 images (9.2 MB each): the conversion's peak traced allocation stays
    under 1.5 batches, where concatenating them in memory needs the whole dataset (and more). It
    copies the rows a chunk at a time, so it stays under a few chunks whatever the batches' size."""
    count, row = 3000, 3 * 32 * 32
    paths = train_batches(data, (count,) * 4)
    batch_bytes = count * row
    tracemalloc.start()
    try:
        read_npz_batch(paths[0], 32)  # numpy reports its arrays to tracemalloc: one batch is seen
        one_batch = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        ds = load_imagenet(data, "train", 32)
        conversion = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert one_batch >= batch_bytes
    assert conversion < 1.5 * batch_bytes, f"peak {conversion / 1e6:.1f} MB, a batch is {batch_bytes / 1e6:.1f} MB"
    assert conversion < 4 * imagenet_mod.CHUNK_BYTES < batch_bytes / 2
    assert len(ds) == 4 * count and np.array_equal(ds.images[5000:5010].numpy(), expected(paths)[0][5000:5010])


def test_batches_of_another_dtype_or_layout_are_converted_too(data):
    """Data stored as int64, or in Fortran order, go through read_npz_batch: same images."""
    directory = data / "Imagenet32_train_npz"
    rows_a = write_batch(directory / "train_data_batch_1.npz", 5, seed=1)
    write_batch(directory / "train_data_batch_1.npz", 5, seed=1, data=rows_a.astype(np.int64))
    rows_b = write_batch(directory / "train_data_batch_2.npz", 4, seed=2)
    write_batch(directory / "train_data_batch_2.npz", 4, seed=2, data=np.asfortranarray(rows_b))
    ds = load_imagenet(data, "train", 32)
    assert np.array_equal(ds.images.numpy(), np.concatenate([rows_a, rows_b]).reshape(-1, 3, 32, 32))
    assert ds.labels.numpy().tolist() == expected(sorted(directory.glob("*.npz")))[1].tolist()


def test_an_unwritable_data_directory_caches_in_the_user_cache(data, user_cache, monkeypatch):
    paths = train_batches(data, (6, 7))
    inside, outside = cache_folders(data, 32)
    assert inside == data / "pixelar-cache" and outside.parent == user_cache / "imagenet32-cache"
    writable = imagenet_mod._writable
    monkeypatch.setattr(imagenet_mod, "_writable", lambda folder: folder != inside and writable(folder))
    ds = load_imagenet(data, "train", 32)
    assert not inside.exists() and all(path.exists() for path in cache_files(outside))
    assert np.array_equal(ds.images.numpy(), expected(paths)[0])
    stamps = mtimes(cache_files(outside))
    load_imagenet(data, "train", 32)
    assert mtimes(cache_files(outside)) == stamps
    # another data directory gets another folder
    assert cache_folders(data.parent / "other", 32)[1] != outside


def test_a_valid_cache_in_a_read_only_data_directory_is_used(data, monkeypatch):
    train_batches(data, (6, 7))
    load_imagenet(data, "train", 32)
    monkeypatch.setattr(imagenet_mod, "_writable", lambda folder: False)
    assert len(load_imagenet(data, "train", 32)) == 13  # no error: nothing needs writing
    truncate(cache_files(data / "pixelar-cache")[0])
    with pytest.raises(PixelarError, match=r"cannot write the imagenet32 cache in .*pixelar-cache nor in .*PIXELAR"):
        load_imagenet(data, "train", 32)


def test_an_interrupted_conversion_leaves_no_cache(data, monkeypatch):
    paths = train_batches(data, (6, 7))
    copy = imagenet_mod._copy_batch

    def interrupted(path, *args):
        if path == paths[1]:
            raise KeyboardInterrupt
        return copy(path, *args)

    monkeypatch.setattr(imagenet_mod, "_copy_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_imagenet(data, "train", 32)
    assert list((data / "pixelar-cache").iterdir()) == []  # no manifest, no temporary files
    monkeypatch.setattr(imagenet_mod, "_copy_batch", copy)
    assert np.array_equal(load_imagenet(data, "train", 32).images.numpy(), expected(paths)[0])


def test_not_enough_disk_space_is_one_line(data, monkeypatch):
    train_batches(data, (6,))
    monkeypatch.setattr(
        imagenet_mod.shutil, "disk_usage", lambda path: SimpleNamespace(total=10**12, used=10**12, free=0)
    )
    with pytest.raises(PixelarError, match=r"caching imagenet32-train needs .* GB in .* free space there"):
        load_imagenet(data, "train", 32)


def test_damaged_or_wrong_batches_are_one_line_errors(data):
    paths = train_batches(data, (6, 7))
    truncate(paths[1])
    with pytest.raises(PixelarError, match=r"train_data_batch_2\.npz is not an ImageNet npz batch .*download it again"):
        load_imagenet(data, "train", 32)
    write_batch(paths[1], 7, size=64)
    with pytest.raises(PixelarError, match=r"not 32×32 RGB images; use imagenet32 with the Imagenet32 files"):
        load_imagenet(data, "train", 32)
    assert not (data / "pixelar-cache" / "imagenet32-train.json").exists()
