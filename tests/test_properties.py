"""The properties every registered model must have: causality (eval and train mode), exact
normalisation, sampling that follows the model, and the public API's shapes and dtypes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

import pixelar
from helpers import tiny
from pixelar.causality import dependency_matrix, violations


@pytest.mark.parametrize("train_mode", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("conditional", [False, True], ids=["uncond", "cond"])
@pytest.mark.parametrize("shape,levels", [((3, 4, 4), 4), ((1, 5, 5), 2)], ids=["rgb", "binary"])
def test_causality(model_name, train_mode, conditional, shape, levels):
    kw = {"num_classes": 3} if conditional else {}
    model = tiny(model_name, shape, levels, **kw)
    x = torch.randint(0, levels, shape, generator=torch.Generator().manual_seed(1))
    cond = torch.tensor([2]) if conditional else None
    dep = dependency_matrix(model, x, cond, train_mode=train_mode)
    bad = violations(dep)
    assert len(bad) == 0, f"conditional i depends on a later or equal sub-pixel j: {bad[:5].tolist()}"
    # The test itself can fail: the model does use its context.
    assert dep.sum() > dep.shape[0]


def test_colour_channel_masks(model_name):
    """Within a pixel, G sees R, B sees R and G, and R sees neither (PixelRNN Section 3.4)."""
    model = tiny(model_name, (3, 3, 3), 4)
    dep = torch.zeros(27, 27, dtype=torch.bool)
    for seed in range(3):  # a union over inputs, so no connection hides behind a saturated unit
        x = torch.randint(0, 4, (3, 3, 3), generator=torch.Generator().manual_seed(seed))
        dep |= dependency_matrix(model, x, seed=seed)
    order = model.generation_order()
    for h, w in itertools.product(range(3), range(3)):
        r, g, b = (int(order[c, h, w]) for c in range(3))
        assert dep[g, r], f"G at ({h},{w}) does not see R of its own pixel"
        assert dep[b, r] and dep[b, g], f"B at ({h},{w}) does not see R and G of its own pixel"
        assert not dep[r, g] and not dep[r, b] and not dep[g, b]
        assert not dep[r, r] and not dep[g, g] and not dep[b, b]


def test_conditionals_normalised(model_name):
    for shape, levels in [((3, 4, 4), 4), ((1, 4, 4), 2), ((3, 3, 3), 256)]:
        model = tiny(model_name, shape, levels)
        x = torch.randint(0, levels, (2, *shape))
        table = model.conditionals(x)
        assert table.shape == (2, shape[0], levels, *shape[1:])
        torch.testing.assert_close(table.logsumexp(2), torch.zeros(2, *shape, dtype=torch.float64))
        # log_prob reads the same table.
        picked = table.gather(2, x.unsqueeze(2)).squeeze(2)
        torch.testing.assert_close(model.log_prob(x, reduction="none"), picked)


def test_all_binary_4x4_images_sum_to_one(model_name):
    model = tiny(model_name, (1, 4, 4), 2)
    bits = (torch.arange(2**16)[:, None] >> torch.arange(16)) & 1
    images = bits.reshape(-1, 1, 4, 4)
    with torch.no_grad():
        logp = torch.cat([model.log_prob(chunk) for chunk in images.split(8192)])
    total = torch.logsumexp(logp, 0).exp().item()
    assert abs(total - 1.0) < 1e-9, total


def test_all_small_colour_images_sum_to_one(model_name):
    model = tiny(model_name, (3, 2, 2), 2, num_classes=2)
    bits = (torch.arange(2**12)[:, None] >> torch.arange(12)) & 1
    images = bits.reshape(-1, 3, 2, 2)
    for label in range(2):
        with torch.no_grad():
            logp = model.log_prob(images, cond=torch.full((len(images),), label))
        assert abs(torch.logsumexp(logp, 0).exp().item() - 1.0) < 1e-9


def _all_images(shape, levels):
    D = int(np.prod(shape))
    codes = torch.arange(levels**D)
    return torch.stack([(codes // levels**i) % levels for i in range(D)], 1).reshape(-1, *shape)


def _chi_square(samples: torch.Tensor, probs: np.ndarray, levels: int) -> float:
    """p-value of the sample counts against exact probabilities, cells with expected < 5 pooled."""
    n = len(samples)
    D = samples[0].numel()
    idx = (samples.reshape(n, -1) * levels ** torch.arange(D)).sum(1).numpy()
    counts = np.bincount(idx, minlength=len(probs))
    assert counts.sum() == n
    expected = probs.astype(np.float64) * n
    small = expected < 5
    obs, exp = counts[~small], expected[~small]
    if small.any():
        obs, exp = np.append(obs, counts[small].sum()), np.append(exp, expected[small].sum())
    return chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


def _exact_probs(model, shape, levels, cond=None):
    images = _all_images(shape, levels)
    c = None if cond is None else torch.full((len(images),), cond)
    with torch.no_grad():
        return model.log_prob(images, c).exp().numpy()


def test_sampling_matches_exact_probabilities(model_name):
    """Samples of the default (fast where available) sampler follow the exact probabilities;
    the naive sampler gives the same images (tests/test_fast_sampling.py)."""
    model = tiny(model_name, (3, 2, 1), 2, seed=3, gain=2.5).float()  # float32: the user's dtype, and fast
    probs = _exact_probs(model, (3, 2, 1), 2)
    assert abs(probs.sum() - 1) < 1e-5
    assert _chi_square(model.sample(10_000, generator=123), probs, 2) > 1e-3


def test_conditional_sampling_matches_and_labels_matter(model_name):
    model = tiny(model_name, (1, 2, 2), 3, num_classes=2, seed=4, gain=2.5).float()
    probs = _exact_probs(model, (1, 2, 2), 3, cond=1)
    assert _chi_square(model.sample(10_000, cond=1, generator=123), probs, 3) > 1e-3
    x = torch.randint(0, 3, (4, 1, 2, 2))
    a = model.log_prob(x, cond=torch.zeros(4, dtype=torch.long))
    b = model.log_prob(x, cond=torch.ones(4, dtype=torch.long))
    assert not torch.allclose(a, b), "the label does not change the distribution"


def test_sampling_is_wrong_for_a_different_model_so_the_check_has_power(model_name):
    """The chi-square check must reject samples of one model against another's probabilities."""
    a = tiny(model_name, (3, 2, 1), 2, seed=3, gain=2.5).float()
    b = tiny(model_name, (3, 2, 1), 2, seed=5, gain=2.5).float()
    assert _chi_square(b.sample(10_000, generator=1), _exact_probs(a, (3, 2, 1), 2), 2) < 1e-6


def test_api_shapes_dtypes_and_float32(model_name):
    for shape, levels in [((3, 4, 4), 4), ((1, 4, 4), 2)]:
        model = pixelar.create_model(model_name, image_shape=shape, num_levels=levels)
        x = torch.randint(0, levels, (2, *shape), dtype=torch.uint8)
        lp = model.log_prob(x)
        assert lp.shape == (2,) and lp.dtype == torch.float32 and torch.isfinite(lp).all() and (lp < 0).all()
        assert model.log_prob(x, reduction="none").shape == (2, *shape)
        s = model.sample(2, generator=0)
        assert s.shape == (2, *shape) and s.dtype == torch.long and 0 <= s.min() and s.max() < levels
        lp64 = model.double().log_prob(x)
        assert lp64.dtype == torch.float64
        torch.testing.assert_close(lp64.float(), lp, rtol=1e-4, atol=1e-4)


def test_sampling_is_reproducible_and_temperature_sharpens(model_name):
    model = tiny(model_name, (1, 3, 3), 4, seed=6)
    a = model.sample(8, generator=7)
    b = model.sample(8, generator=7)
    assert torch.equal(a, b)
    cold = model.sample(100, generator=1, temperature=0.3)
    hot = model.sample(100, generator=1, temperature=3.0)
    assert model.log_prob(cold).mean() > model.log_prob(hot).mean()


def test_sampling_builds_no_autograd_graph(model_name):
    model = pixelar.create_model(model_name, image_shape=(1, 3, 3), num_levels=2)
    s = model.sample(2, generator=0)
    assert not s.requires_grad and s.grad_fn is None


def test_completion_keeps_known_pixels(model_name):
    from pixelar.sampling import sample

    model = tiny(model_name, (1, 4, 4), 4, seed=8)
    x = torch.randint(0, 4, (3, 1, 4, 4))
    known = torch.zeros(1, 4, 4, dtype=torch.bool)
    known[:, :2] = True
    out = sample(model, 3, x=x, known=known, generator=0)
    assert torch.equal(out[:, :, :2], x[:, :, :2])
