"""One registry for every model family: names, config dataclasses and construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pixelar.errors import PixelarError
from pixelar.models import FAMILIES, AutoregressiveModel
from pixelar.models.config import ModelConfig

__all__ = ["ModelConfig", "ModelEntry", "create_model", "get_entry", "list_models", "make_config", "register_model"]


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: type[AutoregressiveModel]
    config_cls: type[ModelConfig]


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str) -> Callable[[type[AutoregressiveModel]], type[AutoregressiveModel]]:
    """Class decorator: register a model family of your own under ``name`` (its ``Config``
    attribute is used); the built-in families (:data:`pixelar.models.FAMILIES`) are registered
    under their ``model_name`` when this module is imported."""

    def wrap(cls: type[AutoregressiveModel]) -> type[AutoregressiveModel]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, cls, cls.Config)
        cls.model_name = name
        return cls

    return wrap


for _family in FAMILIES:
    register_model(_family.model_name)(_family)


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
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
