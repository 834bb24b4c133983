"""Files written whole or not at all: model directories (config.json + model.safetensors) and
training checkpoints, written atomically and read without executing code from the file.
Turning a model directory back into a model is :func:`pixelar.loading.load`."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch

from pixelar.errors import PixelarError
from pixelar.pretrained import list_pretrained, pretrained_dir

FORMAT = "pixelar-model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MODEL_SUBDIR = "model"
# The files of a training run directory (see pixelar.training), named here so that loading a
# model can tell a run that has no saved model yet from a directory that is no run at all.
RUN_CONFIG_FILE = "train_config.json"
RUN_CHECKPOINT_FILE = "checkpoint.pt"


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    A path that cannot be written (a directory, a parent that is a file, no permission) is a
    :class:`PixelarError` naming it; errors raised by ``write`` itself pass through unchanged.
    """
    path = Path(path)
    if path.is_dir():
        raise PixelarError(f"cannot write {path}: it is a directory; pass a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise PixelarError(f"cannot write {path} ({e.strerror or e.__class__.__name__}); choose another path") from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise PixelarError(
                f"cannot write {path} ({e.strerror or e.__class__.__name__}); choose another path"
            ) from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


class Config(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class SavedModel(Protocol):
    """What a model directory records of a model: its family's name, its config, its weights."""

    @property
    def model_name(self) -> str: ...

    @property
    def config(self) -> Config: ...

    def state_dict(self) -> dict[str, Any]: ...


def model_to_dict(model: SavedModel) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model": model.model_name,
        "config": model.config.to_dict(),
    }


def save_pretrained(model: SavedModel, directory: str | Path) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (float weights as they are) to ``directory``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(state, tmp))
    atomic_write_text(directory / CONFIG_FILE, json.dumps(model_to_dict(model), indent=2) + "\n")
    return directory


def resolve_model_dir(path: str | Path) -> Path:
    """A model directory, a training run directory holding one in ``model/``, or the name of a
    model that ships with pixelar (:mod:`pixelar.pretrained`; a path that exists comes first)."""
    path = Path(path)
    if not path.exists():
        shipped = pretrained_dir(str(path))
        if shipped is not None:
            return shipped
        raise PixelarError(
            f"{path} does not exist; pass a run directory, a saved model directory or a pretrained model name "
            f"({', '.join(list_pretrained()) or 'none installed'})"
        )
    if (path / MODEL_SUBDIR / CONFIG_FILE).exists():
        return path / MODEL_SUBDIR
    if (path / CONFIG_FILE).exists():
        return path
    if (path / RUN_CONFIG_FILE).exists():
        if (path / RUN_CHECKPOINT_FILE).exists():
            raise PixelarError(
                f"{path} is a training run whose {MODEL_SUBDIR}/ is missing or incomplete (it was interrupted while "
                f"saving); continuing it with {_resume_call(path)} writes it again",
                param="resume_run",
            )
        raise PixelarError(
            f"{path} is a training run with no saved model yet (still before its first checkpoint, or interrupted "
            f"before it); wait for its first checkpoint, or continue it with {_resume_call(path)}",
            param="resume_run",
        )
    if not path.is_dir():
        raise PixelarError(f"{path} is a file; pass a run directory of 'pixelar train' or a saved model directory")
    raise PixelarError(
        f"{path} holds no {CONFIG_FILE}; pass a run directory of 'pixelar train' or a directory "
        "written by model.save_pretrained()"
    )


def _resume_call(run_dir: Path) -> str:
    """The call that continues the run in ``run_dir`` (a mention of ``resume_run``, see pixelar.errors)."""
    return f"pixelar.training.resume_run({str(run_dir)!r})"


def read_model_config(path: str | Path) -> tuple[str, dict[str, Any]]:
    """(model name, config dict) of a saved model, with clear errors for damaged files."""
    directory = resolve_model_dir(path)
    cfg_path = directory / CONFIG_FILE
    try:
        meta = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PixelarError(f"{cfg_path} is corrupt ({e.__class__.__name__}); save or train the model again") from None
    except OSError as e:
        raise PixelarError(f"cannot read {cfg_path} ({e.strerror or e.__class__.__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("model"), str):
        raise PixelarError(f"{cfg_path} is not a pixelar model config; save the model with save_pretrained()")
    version = meta.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or not isinstance(meta.get("config"), dict):
        raise PixelarError(f"{cfg_path} is corrupt (bad version or config); save or train the model again")
    if version > FORMAT_VERSION:
        raise PixelarError(f"{cfg_path} was written by a newer pixelar (format {version}); upgrade pixelar to load it")
    return meta["model"], dict(meta["config"])


def torch_save_atomic(obj: Any, path: str | Path) -> Path:
    """torch.save through a temporary file and a rename."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def torch_load_safe(path: str | Path) -> Any:
    """torch.load with ``weights_only=True`` (no code execution) and clear errors."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PixelarError(f"{path} is missing; start a new run instead (resume=False)", param="resume") from None
    except Exception as e:
        raise PixelarError(
            f"{path} is corrupt or truncated ({e.__class__.__name__}); delete it and train again, or resume from a copy"
        ) from None
