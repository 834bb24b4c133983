"""Masked convolutions, and that the causality check catches the classic mask mistakes."""

from __future__ import annotations

import torch

from helpers import tiny
from pixelar.causality import dependency_matrix, violations
from pixelar.layers import MaskedConv2d, causal_mask, channel_groups


def test_channel_groups_are_contiguous_and_balanced():
    assert channel_groups(6, 3).tolist() == [0, 0, 1, 1, 2, 2]
    assert channel_groups(3, 3).tolist() == [0, 1, 2]
    assert channel_groups(4, 1).tolist() == [0, 0, 0, 0]
    assert torch.bincount(channel_groups(32, 3)).tolist() == [11, 11, 10]


def test_mask_a_and_b_at_the_centre():
    groups = torch.arange(3)
    a = causal_mask("A", groups, groups, (3, 3))
    b = causal_mask("B", groups, groups, (3, 3))
    # Rows above and the left neighbour are open, right neighbour and below are closed.
    assert a[:, :, 0].all() and a[:, :, 1, 0].all() and not a[:, :, 1, 2].any() and not a[:, :, 2].any()
    # Centre: A is strictly lower triangular in (out, in), B includes the diagonal.
    assert torch.equal(a[:, :, 1, 1], torch.tensor([[0, 0, 0], [1, 0, 0], [1, 1, 0]], dtype=torch.float))
    assert torch.equal(b[:, :, 1, 1], torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.float))


def test_masked_conv_output_ignores_future_inputs():
    conv = MaskedConv2d(1, 4, 5, "A", 1)
    x = torch.randn(1, 1, 6, 6)
    y = conv(x)
    x2 = x.clone()
    x2[0, 0, 3, 3:] = torch.randn(3)  # the centre and the right of (3, 3), and nothing earlier
    x2[0, 0, 4:] = torch.randn(2, 6)
    torch.testing.assert_close(conv(x2)[0, :, 3, 3], y[0, :, 3, 3])


def test_causality_check_catches_mask_b_in_the_first_layer():
    model = tiny("pixelcnn", (3, 3, 3), 4)
    groups = torch.arange(3)
    model.input_conv.mask = causal_mask(
        "B", groups, torch.arange(model.input_conv.out_channels) * 3 // model.input_conv.out_channels, (7, 7)
    )
    x = torch.randint(0, 4, (3, 3, 3))
    assert len(violations(dependency_matrix(model, x))) > 0


def test_causality_check_catches_batchnorm_leaking_in_train_mode():
    model = tiny("pixelcnn", (1, 4, 4), 2)
    model.input_conv = torch.nn.Sequential(
        model.input_conv, torch.nn.BatchNorm2d(model.input_conv.out_channels).double()
    )
    x = torch.randint(0, 2, (1, 4, 4))
    assert len(violations(dependency_matrix(model, x, train_mode=False))) == 0
    assert len(violations(dependency_matrix(model, x, train_mode=True))) > 0
