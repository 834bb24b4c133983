"""Completion that uses every known pixel: a model that generates in any order completes in an
order with the known pixels first, so its completions are exact draws from p(unknown | known)
and hidden_log_prob is that conditional exactly; a raster model can only use the known pixels
before the hidden ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from helpers import tiny
from pixelar import PixelarError
from pixelar.completion import complete, completion_order, hidden_log_prob, known_after_unknown
from pixelar.orders import known_first, make_order


def masks_3x3() -> dict[str, torch.Tensor]:
    """The masks where raster order fails (known pixels after hidden ones), [1, 3, 3]."""
    bottom, left, hole = (torch.ones(1, 3, 3, dtype=torch.bool) for _ in range(3))
    bottom[:, :1] = False  # the bottom two rows known
    left[:, :, 1:] = False  # the left column known
    hole[:, 1, 1] = False  # a centre hole
    scattered = torch.tensor([[[True, False, True], [False, True, False], [True, False, False]]])
    return {"bottom": bottom, "left": left, "hole": hole, "scattered": scattered}


def every_filling(image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """``image`` [1, H, W] with its hidden pixels set every possible binary way: [2^h, 1, H, W]."""
    hidden = int((~known).sum())
    fills = (torch.arange(2**hidden)[:, None] >> torch.arange(hidden)) & 1
    images = image.repeat(2**hidden, 1, 1, 1)
    images[:, ~known] = fills
    return images


@pytest.mark.parametrize("mask", list(masks_3x3()))
def test_the_known_first_conditional_is_normalised_and_reads_every_known_pixel(mask):
    known = masks_3x3()[mask]
    model = tiny("lmconv", (1, 3, 3), 2, seed=2, orders=("snake",))
    order = completion_order(model, known)
    assert not known_after_unknown(known, model.pixel_order(order).generation_index(1))
    image = torch.randint(0, 2, (1, 3, 3), generator=torch.Generator().manual_seed(0))
    logp = hidden_log_prob(model, every_filling(image, known), known)
    assert abs(logp.logsumexp(0).exp().item() - 1.0) < 1e-9
    for h, w in zip(*torch.nonzero(known[0], as_tuple=True)):  # each known pixel changes the conditional
        other = image.clone()
        other[0, h, w] = 1 - other[0, h, w]
        changed = hidden_log_prob(model, every_filling(other, known), known)
        assert not torch.allclose(changed, logp), (int(h), int(w))


def test_a_raster_model_completes_the_top_from_p_top_alone():
    model = tiny("pixelcnn", (1, 3, 3), 2, seed=2)
    known = masks_3x3()["bottom"]
    assert known_after_unknown(known) and completion_order(model, known) is None
    image = torch.randint(0, 2, (1, 3, 3), generator=torch.Generator().manual_seed(0))
    other = image.clone()
    other[0, 2] = 1 - other[0, 2]
    a, b = (hidden_log_prob(model, every_filling(x, known), known) for x in (image, other))
    torch.testing.assert_close(a, b)  # the known bottom never enters


def test_known_first_completions_are_exact_draws_of_the_conditional():
    model = tiny("lmconv", (1, 2, 3), 2, seed=3, gain=1.5, orders=("hilbert",), num_layers=2, hidden_channels=8)
    known = torch.tensor([[[False, True, False], [True, True, False]]])
    image = torch.tensor([[[0, 1, 0], [0, 1, 0]]])
    out = complete(model, image[None], known, n=8000, generator=1)[0]
    assert torch.equal(out[:, known], image[known].expand(8000, -1))
    hidden = out[:, ~known]  # [n, 3]: a code for each filling
    codes = (hidden * 2 ** torch.arange(3)).sum(1)
    probs = hidden_log_prob(model, every_filling(image, known), known).exp().numpy()
    counts = np.bincount(codes.numpy(), minlength=8)
    assert chisquare(counts, probs * 8000 / probs.sum()).pvalue > 1e-3
    other = hidden_log_prob(model, every_filling(1 - image, known), known).exp().numpy()
    assert chisquare(counts, other * 8000 / other.sum()).pvalue < 1e-6  # the test has power


def test_a_training_order_that_visits_the_known_pixels_first_is_preferred():
    """Where one of the orders a model was trained over takes the known pixels first already, the
    completion runs in it (an order the model learnt), not in its own with them moved first."""
    model = tiny("lmconv", (1, 4, 4), 2, seed=4, orders=("snake", "column", "snake-br"))
    bottom, left, hole = (torch.zeros(1, 4, 4, dtype=torch.bool) for _ in range(3))
    bottom[:, 2:] = True
    left[:, :, :1] = True
    hole[:] = True
    hole[:, 1:3, 1:3] = False
    assert completion_order(model, bottom).name == "snake-br"
    assert completion_order(model, left).name == "column"
    assert completion_order(model, ~bottom).name == "snake"  # its own comes first where it will do
    assert completion_order(model, hole).name == "known-first snake"  # none will: its own, known pixels first
    with model.in_order("hilbert"):  # an order set by the caller is kept, the known pixels moved first
        assert completion_order(model, bottom).name == "known-first hilbert"
    x = torch.randint(0, 2, (3, 1, 4, 4), generator=torch.Generator().manual_seed(1))
    expected = (model.log_prob(x, reduction="none", order="snake-br") * ~bottom).flatten(1).sum(1)
    torch.testing.assert_close(hidden_log_prob(model, x, bottom).to(expected.dtype), expected)
    assert known_first(make_order("column", 4, 4), left[0]).name == "column"  # already first: itself


def test_known_first_order_and_fast_sampling():
    base = make_order("snake", 3, 3)
    known = torch.tensor([[False, True, False], [True, False, True], [False, False, True]])
    order = known_first(base, known)
    assert order.ranks[known].sort().values.tolist() == [0, 1, 2, 3]
    assert order.pixels[:4].tolist() == [p for p in base.pixels.tolist() if known.flatten()[p]]
    with pytest.raises(PixelarError, match="mask"):
        known_first(base, known[:2])
    model = tiny("lmconv", (3, 3, 3), 4, seed=5)
    x = torch.randint(0, 4, (2, 3, 3, 3))
    mask = known.expand(3, 3, 3)
    a = complete(model, x, mask, n=2, generator=3, method="naive")
    assert torch.equal(a, complete(model, x, mask, n=2, generator=3, method="fast"))


def test_a_mask_per_image_completes_each_in_its_own_order():
    model = tiny("lmconv", (1, 3, 3), 2, seed=6)
    masks = torch.stack(list(masks_3x3().values()))
    x = torch.randint(0, 2, (4, 1, 3, 3))
    out = complete(model, x, masks, n=3, generator=0)
    assert out.shape == (4, 3, 1, 3, 3)
    for image, completions, known in zip(x, out, masks):
        assert torch.equal(completions[:, known], image[known].expand(3, -1))
    one = hidden_log_prob(model, x, masks)
    apart = torch.cat([hidden_log_prob(model, x[i : i + 1], masks[i]) for i in range(4)])
    torch.testing.assert_close(one, apart)
    with pytest.raises(PixelarError, match="one mask for every image"):
        complete(model, x, masks, n=1, observe=lambda *_: None)
