"""Helpers the tests share: ``from helpers import tiny``. Fixtures and hooks live in conftest.py
(pytest puts tests/ on sys.path, see ``pythonpath`` in pyproject.toml)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

import pixelar

if TYPE_CHECKING:
    from pixelar.training import TrainConfig

# Every registered model family.
MODELS = pixelar.list_models()

# Hyperparameters of a tiny PixelCNN (the registry's small defaults are smaller still for some).
TINY = {"num_layers": 1, "hidden_channels": 4}


def randomize(model: torch.nn.Module, seed: int = 0, gain: float = 1.5) -> torch.nn.Module:
    """Redraw every weight as N(0, gain²/fan_in) (biases N(0, 0.1²)) so no connection is zero
    and the conditionals are neither uniform nor deterministic."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            std = gain / param[0].numel() ** 0.5 if param.dim() > 1 else 0.1
            param.copy_(torch.randn(param.shape, generator=generator, dtype=torch.float64).to(param.dtype) * std)
    return model


def tiny(name: str, image_shape=(3, 4, 4), num_levels=4, seed=0, gain=1.5, **kw) -> pixelar.models.AutoregressiveModel:
    """A float64 model with the registry's small defaults and randomized weights."""
    torch.manual_seed(seed)
    model = pixelar.create_model(name, image_shape=image_shape, num_levels=num_levels, **kw).double()
    return randomize(model, seed, gain).eval()


def tiny_train_config(**overrides: Any) -> TrainConfig:
    """A short training run of a :data:`TINY` PixelCNN on the binarized digits: 6 steps of 8
    images, a checkpoint every 3, no evaluation during training, no samples; ``overrides``
    replace any setting."""
    from pixelar.training import TrainConfig

    settings: dict[str, Any] = dict(
        model="pixelcnn",
        model_args=TINY,
        data="digits-binary",
        batch_size=8,
        steps=6,
        eval_every=0,
        eval_images=16,
        checkpoint_every=3,
        num_samples=0,
        log_every=1,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def compile_unavailable() -> str | None:
    """Why torch.compile cannot build on this machine's CPU (one line), or None when it can."""
    from pixelar.compiling import check_compile
    from pixelar.errors import PixelarError

    try:
        check_compile(torch.device("cpu"), "train without compile=True")
    except PixelarError as e:
        return str(e)
    return None
