"""The fast samplers give exactly the naive sampler's images for the same random draws."""

from __future__ import annotations

import pytest
import torch

import pixelar
from conftest import MODELS, tiny
from pixelar.sampling import sample

FAST = [m for m in MODELS if pixelar.create_model(m, image_shape=(1, 4, 4), num_levels=2).has_fast_sampler]


def test_convolutional_models_have_fast_samplers():
    assert "pixelcnn" in FAST


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize(
    "shape,levels,classes", [((3, 5, 5), 4, 0), ((1, 7, 6), 2, 0), ((3, 4, 4), 256, 3), ((1, 5, 5), 3, 2)]
)
def test_fast_equals_naive_in_float64(name, shape, levels, classes):
    kw = {"num_classes": classes} if classes else {}
    model = tiny(name, shape, levels, seed=11, **kw)
    cond = torch.arange(6) % classes if classes else None
    naive = model.sample(6, cond=cond, generator=5, method="naive")
    fast = model.sample(6, cond=cond, generator=5, method="fast")
    assert torch.equal(naive, fast)
    # And the draws are not degenerate: different seeds give different images.
    assert not torch.equal(fast, model.sample(6, cond=cond, generator=6, method="fast"))


@pytest.mark.parametrize("name", FAST)
def test_fast_completion_equals_naive(name):
    model = tiny(name, (3, 5, 4), 4, seed=12)
    x = torch.randint(0, 4, (4, 3, 5, 4))
    known = torch.zeros(3, 5, 4, dtype=torch.bool)
    known[:, :2] = True
    known[:, 2, 0] = True
    known[0, 2, 1] = True  # R of the next pixel known, G and B unknown
    a = sample(model, 4, x=x, known=known, generator=1, method="naive")
    b = sample(model, 4, x=x, known=known, generator=1, method="fast")
    assert torch.equal(a, b) and torch.equal(a[:, :, :2], x[:, :, :2]) and torch.equal(a[:, 0, 2, 1], x[:, 0, 2, 1])


@pytest.mark.parametrize("name", FAST)
def test_fast_sampling_in_float32_matches_the_model(name):
    """Fast float32 samples are mostly identical to naive ones (probabilities differ by rounding)."""
    model = tiny(name, (3, 4, 4), 16, seed=13).float()
    naive = model.sample(32, generator=2, method="naive")
    fast = model.sample(32, generator=2, method="fast")
    assert (naive == fast).float().mean() > 0.9
