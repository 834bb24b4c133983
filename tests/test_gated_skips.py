"""The Gated PixelCNN with skip connections to the head (``skips=True``): causal, normalised,
its fast sampler exact, and a different function from the paper's variant."""

from __future__ import annotations

import itertools

import torch

from helpers import tiny
from pixelar.causality import dependency_matrix, violations


def test_skips_are_causal_with_colour_masks():
    model = tiny("gated-pixelcnn", (3, 4, 4), 4, skips=True, num_classes=2)
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


def test_skips_all_small_images_sum_to_one():
    model = tiny("gated-pixelcnn", (3, 2, 2), 2, skips=True)
    bits = (torch.arange(2**12)[:, None] >> torch.arange(12)) & 1
    with torch.no_grad():
        logp = model.log_prob(bits.reshape(-1, 3, 2, 2))
    assert abs(torch.logsumexp(logp, 0).exp().item() - 1.0) < 1e-9


def test_skips_fast_equals_naive_and_the_head_reads_the_skips():
    model = tiny("gated-pixelcnn", (3, 5, 6), 4, seed=3, skips=True, num_classes=3)
    cond = torch.arange(4) % 3
    fast = model.sample(4, cond=cond, generator=2, method="fast")
    assert torch.equal(fast, model.sample(4, cond=cond, generator=2, method="naive"))
    # the skip convolutions change the conditionals (so the sampler's use of them is tested)
    with torch.no_grad():
        before = model.log_prob(fast, cond)
        model.layers[0].skip.weight.mul_(2.0)
        assert not torch.allclose(before, model.log_prob(fast, cond))
