"""Receptive fields: the plain PixelCNN has the blind spot of stacked masked convolutions;
the models that promise the whole context depend on every earlier sub-pixel."""

from __future__ import annotations

import pytest
import torch

from helpers import tiny
from pixelar.causality import dependency_matrix, missing_context, violations
from pixelar.orders import generation_order

FULL_CONTEXT = {"gated-pixelcnn": {"num_layers": 5}, "diagonal-bilstm": {"num_layers": 2}}


def union_dependencies(model, shape, levels, draws: int = 3):
    dep = None
    for seed in range(draws):
        x = torch.randint(0, levels, shape, generator=torch.Generator().manual_seed(seed))
        d = dependency_matrix(model, x, seed=seed)
        dep = d if dep is None else dep | d
    return dep


def test_plain_pixelcnn_has_a_blind_spot():
    shape = (1, 8, 8)
    model = tiny("pixelcnn", shape, 4, num_layers=8)
    dep = union_dependencies(model, shape, 4)
    assert len(violations(dep)) == 0
    order = generation_order(shape)
    # The conditional of pixel (1, 0) never sees the far right of the row above.
    assert not dep[order[0, 1, 0], order[0, 0, 7]]
    assert len(missing_context(dep)) > 0


@pytest.mark.parametrize("name", sorted(FULL_CONTEXT))
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 5, 6)])
def test_no_blind_spot(name, shape):
    model = tiny(name, shape, 4, **FULL_CONTEXT[name])
    dep = union_dependencies(model, shape, 4)
    assert len(violations(dep)) == 0
    missing = missing_context(dep)
    assert len(missing) == 0, f"conditional i ignores earlier sub-pixel j: {missing[:8].tolist()}"


def test_row_lstm_field_is_the_triangle_above():
    """Row LSTM (Section 3.1): the state-to-state convolution widens the field by one column per
    row up, so a pixel far up and to the right is out of reach (the paper's triangle)."""
    shape = (1, 8, 8)
    model = tiny("row-lstm", shape, 4, num_layers=2)
    dep = union_dependencies(model, shape, 4)
    order = generation_order(shape)
    assert len(violations(dep)) == 0
    assert dep[order[0, 7, 0], order[0, 0, 0]]  # straight up, seven rows away: inside
    assert not dep[order[0, 1, 0], order[0, 0, 7]]  # one row up, seven columns right: outside


def test_skew_unskew_round_trip():
    from pixelar.layers.recurrent import skew, unskew

    x = torch.randn(2, 3, 4, 5)
    s = skew(x)
    assert s.shape == (2, 3, 4, 8)
    assert torch.equal(s[:, :, 2, 2:7], x[:, :, 2])
    assert torch.equal(unskew(s, 5), x)
