"""The Gated PixelCNN's variants — skip connections to the head (``skips=True``), a residual
vertical stack (``vertical_residual=True``), a taller vertical kernel (``vertical_rows``): causal, normalised, their fast sampler exact, and
each a different function from the paper's."""

from __future__ import annotations

import itertools

import pytest
import torch

from helpers import tiny
from pixelar.causality import dependency_matrix, violations

VARIANTS = [
    {"skips": True},
    {"vertical_residual": True},
    {"skips": True, "vertical_residual": True},
    {"vertical_rows": 2},
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_are_causal_with_colour_masks(variant):
    model = tiny("gated-pixelcnn", (3, 4, 4), 4, num_classes=2, **variant)
    x = torch.randint(0, 4, (3, 4, 4), generator=torch.Generator().manual_seed(1))
    for train_mode in (False, True):
        dep = dependency_matrix(model, x, torch.tensor([1]), train_mode=train_mode)
        assert len(violations(dep)) == 0
        assert dep.sum() > dep.shape[0]  # the model reads its context (the check has power)
    order = model.generation_order()
    dep = torch.zeros(48, 48, dtype=torch.bool)
    for seed in range(3):  # a union over inputs, so no connection hides behind a saturated unit
        image = torch.randint(0, 4, (3, 4, 4), generator=torch.Generator().manual_seed(seed))
        dep |= dependency_matrix(model, image, torch.tensor([seed % 2]), seed=seed)
    for h, w in itertools.product(range(4), range(4)):
        r, g, b = (int(order[c, h, w]) for c in range(3))
        assert dep[g, r] and dep[b, r] and dep[b, g]


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_all_small_images_sum_to_one(variant):
    model = tiny("gated-pixelcnn", (3, 2, 2), 2, **variant)
    bits = (torch.arange(2**12)[:, None] >> torch.arange(12)) & 1
    with torch.no_grad():
        logp = model.log_prob(bits.reshape(-1, 3, 2, 2))
    assert abs(torch.logsumexp(logp, 0).exp().item() - 1.0) < 1e-9


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_fast_equals_naive_and_differ_from_the_paper(variant):
    model = tiny("gated-pixelcnn", (3, 5, 6), 4, seed=3, num_classes=3, **variant)
    cond = torch.arange(4) % 3
    fast = model.sample(4, cond=cond, generator=2, method="fast")
    assert torch.equal(fast, model.sample(4, cond=cond, generator=2, method="naive"))
    # the variant changes the conditionals (so the sampler's handling of it is tested)
    paper = tiny("gated-pixelcnn", (3, 5, 6), 4, seed=3, num_classes=3)
    mine = paper.state_dict()
    shared = {k: v for k, v in model.state_dict().items() if k in mine and v.shape == mine[k].shape}
    paper.load_state_dict(shared, strict=False)
    with torch.no_grad():
        assert not torch.allclose(paper.log_prob(fast, cond), model.log_prob(fast, cond))


def test_vertical_rows_widen_the_view_upwards():
    """Row r's horizontal stack reads the vertical stack of row r − 1, which after the 7-wide
    first layer (3 rows above) and one gated layer reaches row r − 6 with two rows above per
    layer, row r − 5 with the paper's one: a change six rows up moves row r's conditionals
    only with two."""
    x = torch.randint(0, 2, (1, 1, 8, 5), generator=torch.Generator().manual_seed(0))
    y = x.clone()
    y[0, 0, 0, 2] = 1 - y[0, 0, 0, 2]  # six rows above (6, 2)
    for rows, sees in ((None, False), (2, True)):
        model = tiny("gated-pixelcnn", (1, 8, 5), 2, num_layers=1, vertical_rows=rows)
        with torch.no_grad():
            changed = not torch.allclose(model.conditionals(x)[0, :, :, 6, 2], model.conditionals(y)[0, :, :, 6, 2])
        assert changed == sees
