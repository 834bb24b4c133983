"""One registry for every model family: names, config dataclasses and construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pixelar.errors import PixelarError

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


@dataclasses.dataclass
class ModelConfig:
    """Hyperparameters shared by every model; each family subclasses it with its own fields.

    Attributes:
        image_shape: (C, H, W) of the images the model describes.
        num_levels: K, the number of values a sub-pixel takes (256 for 8-bit, 2 for binary).
        num_classes: number of class labels for a class-conditional model; 0 for unconditional.
    """

    image_shape: tuple[int, int, int] = (1, 28, 28)
    num_levels: int = 256
    num_classes: int = 0

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.image_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise PixelarError(
                f"image_shape must be (channels, height, width) of positive sizes, got {self.image_shape}"
            )
        self.image_shape = (shape[0], shape[1], shape[2])
        if self.num_levels < 2:
            raise PixelarError(f"num_levels must be at least 2, got {self.num_levels}")
        if self.num_classes < 0:
            raise PixelarError(f"num_classes must be >= 0, got {self.num_classes}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_shape"] = list(self.image_shape)
        return d


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: type[AutoregressiveModel]
    config_cls: type[ModelConfig]


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str) -> Callable[[type[AutoregressiveModel]], type[AutoregressiveModel]]:
    """Class decorator: register a model family under ``name`` (its ``Config`` attribute is used)."""

    def wrap(cls: type[AutoregressiveModel]) -> type[AutoregressiveModel]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, cls, cls.Config)
        cls.model_name = name
        return cls

    return wrap


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise PixelarError(f"unknown model {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def make_config(name: str, **kwargs: Any) -> ModelConfig:
    """Build the config dataclass of model ``name``, rejecting unknown hyperparameters clearly."""
    entry = get_entry(name)
    fields = {f.name for f in dataclasses.fields(entry.config_cls)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise PixelarError(
            f"model {name!r} has no hyperparameter {', '.join(unknown)}; valid ones are: {', '.join(sorted(fields))}"
        )
    if "image_shape" in kwargs:
        kwargs["image_shape"] = tuple(kwargs["image_shape"])
    return entry.config_cls(**kwargs)


def create_model(
    name: str,
    image_shape: tuple[int, int, int] = (1, 28, 28),
    num_levels: int = 256,
    **hyperparameters: Any,
) -> AutoregressiveModel:
    """Create a registered model with fresh weights.

    Args:
        name: one of :func:`list_models`.
        image_shape: (C, H, W) of the images.
        num_levels: K values per sub-pixel.
        **hyperparameters: fields of the model's config dataclass (``num_layers``,
            ``hidden_channels``, ``num_classes``, ...).
    """
    config = make_config(name, image_shape=image_shape, num_levels=num_levels, **hyperparameters)
    return get_entry(name).cls(config)


def _ensure_loaded() -> None:
    # Importing the models package registers every family.
    import pixelar.models  # noqa: F401
