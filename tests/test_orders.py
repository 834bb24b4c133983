"""Orders as data (pixelar.orders): every built-in order is a permutation of the pixels, the
curves are what their names say, and anything else is refused in one line."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from pixelar import PixelarError
from pixelar.orders import ORDER_NAMES, PixelOrder, generation_order, make_order


@pytest.mark.parametrize("size", [(1, 1), (3, 4), (5, 2), (7, 7), (8, 8)])
def test_every_named_order_is_a_permutation_with_its_inverse(size):
    H, W = size
    for name in ORDER_NAMES:
        order = make_order(name, H, W)
        assert sorted(order.pixels.tolist()) == list(range(H * W)), name
        flat = order.ranks.flatten()
        assert torch.equal(flat[order.pixels], torch.arange(H * W))


def test_the_curves_are_what_their_names_say():
    assert make_order("raster", 2, 3).ranks.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert make_order("snake", 3, 3).ranks.tolist() == [[0, 1, 2], [5, 4, 3], [6, 7, 8]]
    assert make_order("column", 2, 3).ranks.tolist() == [[0, 2, 4], [1, 3, 5]]
    assert make_order("column-snake", 2, 3).ranks.tolist() == [[0, 3, 4], [1, 2, 5]]
    assert make_order("raster-br", 2, 3).ranks.tolist() == [[5, 4, 3], [2, 1, 0]]
    assert make_order("snake-tr", 2, 3).ranks.tolist() == [[2, 1, 0], [3, 4, 5]]
    assert make_order("raster-bl", 2, 2).ranks.tolist() == [[2, 3], [0, 1]]
    assert make_order("raster", 4, 4).is_raster and make_order("raster-tl", 4, 4).name == "raster"
    assert not make_order("snake", 4, 4).is_raster and make_order("snake", 1, 4).is_raster  # one row: the same


def test_hilbert_steps_to_a_neighbour_on_power_of_two_squares_and_covers_any_grid():
    for side in (2, 4, 16):
        coords = make_order("hilbert", side, side).coordinates()
        assert coords[0] == (0, 0) and coords[-1] == (0, side - 1)
        assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in itertools.pairwise(coords))
    # any H×W: the enclosing 8×8 curve restricted to the grid, so the first 2×2 block comes first
    assert make_order("hilbert", 5, 3).ranks[:2, :2].flatten().sort().values.tolist() == [0, 1, 2, 3]


def test_random_orders_are_seeded():
    a, b, c = (make_order(name, 4, 5) for name in ("random-3", "random-3", "random-4"))
    assert torch.equal(a.pixels, b.pixels) and not torch.equal(a.pixels, c.pixels)
    assert make_order("random", 4, 5).same_as(make_order("random-0", 4, 5))


def test_custom_orders_from_any_permutation():
    perm = [3, 1, 0, 2]
    for spec in (perm, np.array(perm), torch.tensor(perm, dtype=torch.int32)):
        order = make_order(spec, 2, 2)
        assert order.name == "custom" and order.pixels.tolist() == perm
        assert order.ranks.tolist() == [[2, 1], [3, 0]]
    assert make_order(order, 2, 2) is order
    idx = generation_order((3, 2, 2), perm)
    assert idx[:, 1, 1].tolist() == [0, 1, 2] and idx[:, 0, 0].tolist() == [6, 7, 8]
    assert torch.equal(generation_order((3, 2, 5)), torch.arange(30).reshape(2, 5, 3).permute(2, 0, 1))


@pytest.mark.parametrize(
    "spec,message",
    [
        ("zigzag", "unknown order 'zigzag'"),
        ("snake-xy", "unknown order"),
        ([0, 1, 2], "each of the 4 pixels once"),
        ([[0, 1], [2, 3]], "each of the 4 pixels once"),
        ([0, 1, 1, 2], "pixel 1 appears twice and pixel 3 never"),
        ([0, 1, 2, 4], r"lie in \[0, 4\), got 4"),
        ([0.0, 1.0, 2.0, 3.0], "integers"),
        (["a", "b"], "integers"),
        ([[0, 1], [2]], "permutation"),
        (make_order("snake", 3, 3), "for 3×3 images, not 2×2"),
    ],
)
def test_bad_orders_are_refused_in_one_line(spec, message):
    with pytest.raises(PixelarError, match=message) as info:
        make_order(spec, 2, 2)
    assert "\n" not in str(info.value)


def test_an_order_says_what_it_is():
    assert repr(make_order("hilbert", 4, 6)) == "PixelOrder('hilbert', 4×6)"
    assert isinstance(make_order(" Snake ", 2, 2), PixelOrder) and make_order(" Snake ", 2, 2).name == "snake"
