"""IDX files (the format of MNIST and Fashion-MNIST), gzipped or not, verified by the SHA-256 of
their uncompressed content: a copy counts whichever way it was compressed, and wherever it came from."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pixelar.data.download import RemoteFile, fetch
from pixelar.errors import PixelarError

_IDX_DTYPES: dict[int, npt.DTypeLike] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

AGAIN = "delete it and download it again"


def read_idx(path: str | Path, sha256: str | None = None, fix: str = AGAIN) -> np.ndarray:
    """Read an IDX file (gzip-compressed if its name ends in ``.gz``) into an array of its
    declared shape; with ``sha256``, refuse it unless its uncompressed content has that SHA-256.
    ``fix`` ends the message of the error: what to do about a damaged file."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise PixelarError(f"{path} is truncated or not a readable IDX file ({e}); {fix}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise PixelarError(f"{path} is not an IDX file (bad magic number); {fix}")
    ndim = raw[3]
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise PixelarError(f"{path} is truncated (its header ends early); {fix}")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise PixelarError(
            f"{path} is truncated or corrupt ({len(raw) - offset} data bytes, {expected} expected); {fix}"
        )
    if sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != sha256:
            raise PixelarError(
                f"{path} is not the expected file (the SHA-256 of its uncompressed content is {actual[:16]}…, "
                f"not {sha256[:16]}…); {fix}"
            )
    return np.frombuffer(raw, dtype, offset=offset).reshape(dims)


def load_idx_file(remote: RemoteFile, directory: Path, download: bool = True) -> np.ndarray:
    """The verified array of ``remote`` (a gzipped IDX file whose ``sha256`` is that of its
    uncompressed content) from ``directory``, where the file counts uncompressed or gzipped;
    downloaded (gzipped, verified) when neither is there and ``download`` allows."""
    remote = replace(remote, elsewhere=remote.elsewhere or make_data(directory.parent))
    gzipped = directory / remote.filename
    plain = gzipped.with_suffix("") if gzipped.suffix == ".gz" else gzipped
    path = next((p for p in (plain, gzipped) if p.exists()), None)
    if path is None:
        path = fetch(remote, directory, download)  # or the error: missing, offline, no network
    return read_idx(path, remote.sha256, f"delete it and download {remote.url} again{remote.elsewhere}")


def make_data(root: Path) -> str:
    """The end of a message about a missing or damaged file: how `make data` gets it into data dir ``root``."""
    return f", or run `make data PIXELAR_DATA_DIR={root}` in a pixelar checkout"


__all__ = ["load_idx_file", "read_idx"]
