"""The models a web app serves: one run or saved model, or every one in a directory, each
loaded on first use and used by one request at a time."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelar.checkpoint import CONFIG_FILE, read_model_config, resolve_model_dir
from pixelar.data.base import ImageDataset
from pixelar.errors import PixelarError
from pixelar.loading import load
from pixelar.models.base import AutoregressiveModel
from pixelar.orders import ORDER_NAMES
from pixelar.registry import ModelConfig, get_entry
from pixelar.training_config import is_run_dir

BUSY_SECONDS = 10.0  # how long a request waits for a model another request is using (a worker thread each)


class ModelBusyError(PixelarError):
    """A model another request held for longer than a request waits (HTTP 503); ``retry_after``:
    the whole seconds after which to try again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Entry:
    """One servable model: where it lives and, once loaded, the model and its lock."""

    name: str
    path: Path
    model: AutoregressiveModel | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    examples: ImageDataset | None = None  # its run's test images, once shown


class Catalog:
    """The models under ``paths`` by name (see :func:`find_models`), loaded lazily on ``device``."""

    def __init__(
        self,
        paths: str | Path | list[str | Path] | dict[str, str | Path],
        device: str = "cpu",
        busy_seconds: float = BUSY_SECONDS,
    ) -> None:
        """``busy_seconds``: how long a request waits for a model another request is using."""
        self.device = device
        self.busy_seconds = busy_seconds
        self.entries = {name: Entry(name, path) for name, path in find_models(paths).items()}

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    def entry(self, name: str | None) -> Entry:
        """The entry called ``name`` (the first model when None and only one is served)."""
        if name is None or name == "":
            if len(self.entries) == 1:
                return next(iter(self.entries.values()))
            raise PixelarError(f"choose a model: one of {', '.join(self.entries)}", param="model")
        if name not in self.entries:
            raise PixelarError(
                f"no model called {name!r} is served; choose one of {', '.join(self.entries)}", param="model"
            )
        return self.entries[name]

    def claim(self, name: str | None) -> Claim:
        """The model called ``name``, held for this caller alone from now until the returned
        claim's block ends (:class:`Claim`); :class:`ModelBusyError` when another request holds it
        for longer than ``busy_seconds``."""
        entry = self.entry(name)
        if not entry.lock.acquire(timeout=self.busy_seconds):
            wait = max(1, math.ceil(self.busy_seconds))
            raise ModelBusyError(
                f"the model {entry.name!r} is busy with another request; try again in {wait} s", retry_after=wait
            )
        return Claim(entry, self.device)

    @contextmanager
    def use(self, name: str | None) -> Iterator[AutoregressiveModel]:
        """The model called ``name``, loaded if needed, held by this caller alone for the block."""
        with self.claim(name) as model:
            yield model

    def describe(self, name: str) -> dict[str, Any]:
        """What the page shows about a model before it is used (read from its config, not loaded):
        its shape, levels, classes and the orders it generates in (``orders``: raster alone for a
        raster-only model; else the orders it was trained over, its default first, then every
        named order)."""
        entry = self.entry(name)
        model_name, config = read_model_config(entry.path)
        defaults = ModelConfig()
        any_order = get_entry(model_name).cls.any_order
        trained = [str(order) for order in config.get("orders", [])]
        return {
            "name": entry.name,
            "model": model_name,
            "image_shape": [int(s) for s in config.get("image_shape", defaults.image_shape)],
            "num_levels": int(config.get("num_levels", defaults.num_levels)),
            "num_classes": int(config.get("num_classes", defaults.num_classes)),
            "any_order": any_order,
            "orders": list(dict.fromkeys([*trained, *ORDER_NAMES])) if any_order else ["raster"],
        }


class Claim:
    """A model held for one caller: ``with claim as model:`` loads it if needed and gives it
    back when the block ends (in any thread)."""

    def __init__(self, entry: Entry, device: str) -> None:
        self.entry, self.device = entry, device

    def __enter__(self) -> AutoregressiveModel:
        try:
            if self.entry.model is None:
                self.entry.model = load(self.entry.path, device=self.device)
        except BaseException:
            self.entry.lock.release()
            raise
        return self.entry.model

    def __exit__(self, *exc: object) -> None:
        self.entry.lock.release()


def find_models(paths: str | Path | list[str | Path] | dict[str, str | Path]) -> dict[str, Path]:
    """Servable models by display name: a run directory or saved model is served as itself
    (named after its directory); a directory of them serves each one found up to two levels
    down (named by its path inside that directory). A dict gives the names itself."""
    if isinstance(paths, dict):
        return {str(name): Path(path) for name, path in paths.items()}
    found: dict[str, Path] = {}
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(path)
        if _servable(path):
            found[_unique(path.resolve().name or str(path), found)] = path
            continue
        if not path.is_dir() or is_run_dir(path) or (path / CONFIG_FILE).exists():
            resolve_model_dir(path)  # raises its clear error: a missing path, a file, a run with no model yet
        inside = sorted(
            {d for d in path.glob("*") if _servable(d)} | {d for d in path.glob("*/*") if _servable(d)}, key=str
        )
        inside = [d for d in inside if not any(p in inside for p in d.parents)]  # a run, not also its model/
        if not inside:
            raise PixelarError(
                f"{path} holds no training run or saved model (nor do its subdirectories); pass a run directory, "
                "a saved model directory, or a directory of them"
            )
        for d in inside:
            found[_unique(d.relative_to(path).as_posix(), found)] = d
    return found


def _servable(path: Path) -> bool:
    """Whether ``path`` holds a model to load (a saved model, or a run that has saved one)."""
    try:
        resolve_model_dir(path)
    except PixelarError:
        return False
    return True


def _unique(name: str, taken: dict[str, Path]) -> str:
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name} ({k})", k + 1
    return candidate
