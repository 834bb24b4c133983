"""Shared fixtures: tiny models of every registered family, with weights that make every
dependency visible."""

from __future__ import annotations

import pytest
import torch

import pixelar

# Extra hyperparameters per model for the "deep enough" checks; the defaults must already be small.
MODELS = pixelar.list_models()


def randomize(model: torch.nn.Module, seed: int = 0, gain: float = 1.5) -> torch.nn.Module:
    """Redraw every weight as N(0, gain²/fan_in) (biases N(0, 0.1²)) so no connection is zero
    and the conditionals are neither uniform nor deterministic."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            std = gain / p[0].numel() ** 0.5 if p.dim() > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) * std)
    return model


def tiny(name: str, image_shape=(3, 4, 4), num_levels=4, seed=0, gain=1.5, **kw) -> pixelar.models.AutoregressiveModel:
    """A float64 model with the registry's small defaults and randomized weights."""
    torch.manual_seed(seed)
    model = pixelar.create_model(name, image_shape=image_shape, num_levels=num_levels, **kw).double()
    return randomize(model, seed, gain).eval()


@pytest.fixture(params=MODELS)
def model_name(request: pytest.FixtureRequest) -> str:
    return request.param
