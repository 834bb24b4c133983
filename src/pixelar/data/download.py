"""The download cache: where files go, SHA-256 verification and atomic writes."""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from pixelar.checkpoint import atomic_write
from pixelar.errors import PixelarError

ENV_VAR = "PIXELAR_DATA_DIR"
OFFLINE_VAR = "PIXELAR_OFFLINE"


def cache_dir(root: str | Path | None = None) -> Path:
    """The data directory: ``root`` if given, else $PIXELAR_DATA_DIR, else the user cache dir."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("pixelar")) / "data"


@dataclass(frozen=True)
class RemoteFile:
    """A file of a standard dataset: where it lives online and its SHA-256 (None if unpublished).

    With ``gunzipped`` the SHA-256 is that of the file's uncompressed content, so that a copy
    compressed elsewhere (other gzip headers) still counts. ``elsewhere`` ends the messages
    about a missing file with another way to get it.
    """

    filename: str
    url: str
    sha256: str | None
    gunzipped: bool = False
    elsewhere: str = ""


def sha256_of(path: str | Path, gunzip: bool = False) -> str:
    """The SHA-256 of the file at ``path``, or with ``gunzip`` of its uncompressed content."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") if gunzip else open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise PixelarError(
            f"{path} is a truncated or corrupt gzip file ({e}); delete it and download it again"
        ) from None
    return digest.hexdigest()


def verify(path: Path, expected: str | None, gunzip: bool = False) -> None:
    """A :class:`PixelarError` unless the file (``gunzip``: its uncompressed content) has SHA-256 ``expected``."""
    if expected is None:
        return
    actual = sha256_of(path, gunzip)
    if actual != expected:
        content = "'s uncompressed content" if gunzip else ""
        raise PixelarError(
            f"{path}{content} has SHA-256 {actual[:16]}… but {expected[:16]}… was expected; "
            "delete it and download it again"
        )


def fetch(remote: RemoteFile, directory: Path, download: bool = True) -> Path:
    """Return the verified local copy of ``remote`` in ``directory``, downloading it if needed
    (never when ``download`` is False or $PIXELAR_OFFLINE is set).

    The download goes to a temporary file that is renamed into place only once complete and
    verified, so an interrupted download never leaves a partial file under the real name.
    """
    path = directory / remote.filename
    if path.exists():
        verify(path, remote.sha256, remote.gunzipped)
        return path
    if not download or os.environ.get(OFFLINE_VAR, "") not in ("", "0"):
        raise PixelarError(f"{path} is missing; download {remote.url} and put it there{remote.elsewhere}")
    try:
        atomic_write(path, lambda tmp: _download(remote, tmp))
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise PixelarError(
            f"could not download {remote.url} ({reason}); with no network, download it elsewhere "
            f"and put it at {path} (or set ${ENV_VAR} or data_dir){remote.elsewhere}",
            param="data_dir",
        ) from None
    return path


def _download(remote: RemoteFile, tmp: str) -> None:
    with urllib.request.urlopen(remote.url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with (
            open(tmp, "wb") as out,
            tqdm(total=total, unit="B", unit_scale=True, desc=remote.filename, leave=False) as bar,
        ):
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                bar.update(len(chunk))
    verify(Path(tmp), remote.sha256, remote.gunzipped)
