"""The shared pieces of incremental evaluation agree with the full layers they stand for."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixelar.incremental import Front, IncrementalConv, Pointwise, conv_matrix, wavefronts
from pixelar.layers import MaskedConv2d


@pytest.mark.parametrize("kernel", [(1, 1), (2, 3), (3, 3), (1, 4)])
def test_conv_matrix_is_the_convolution_on_its_window(kernel):
    """A convolution's output at one position = its flattened input window (rows, taps, channels
    last) times conv_matrix(weight)."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(5, 3, *kernel, generator=generator, dtype=torch.float64)
    window = torch.randn(2, 3, *kernel, generator=generator, dtype=torch.float64)
    expected = F.conv2d(window, weight)[:, :, 0, 0]
    flat = window.permute(0, 2, 3, 1).reshape(2, -1)
    torch.testing.assert_close(flat @ conv_matrix(weight), expected)


def test_pointwise_restrict_is_a_prefix_of_the_full_map():
    conv = MaskedConv2d(6, 9, 1, "B", 3).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    full = Pointwise.of(conv)(x)
    part = Pointwise.of(conv).restrict(4, 6)(x[:, :4])
    # inputs 4, 5 (colour group 2) do not reach outputs 0..5 (groups 0, 1) through a mask-B 1×1
    torch.testing.assert_close(part, full[:, :6])


@pytest.mark.parametrize("kernel,mask", [(7, "A"), (3, "B"), ((1, 3), "B")])
def test_incremental_conv_equals_the_masked_convolution_everywhere(kernel, mask):
    """Written pixel by pixel in raster order, context + centre tap at every pixel equals the
    full masked convolution's output there."""
    torch.manual_seed(0)
    conv = MaskedConv2d(3, 6, kernel, mask, 3).double()
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    expected = conv(x)
    inc = IncrementalConv(conv, 2, 5, 6)
    for front in wavefronts(5, 6, 6):
        row, col = front.pixel
        value = x[:, :, row, col]
        out = inc.output(front, value)
        inc.write(front, value)
        torch.testing.assert_close(out, expected[:, :, row, col])


def test_front_flat_reads_a_wavefront_as_one_strided_slice():
    grid = torch.arange(5 * 6).reshape(5, 6)
    for front in wavefronts(5, 6, 2):
        pixels = grid.flatten()[front.flat(6)]
        expected = [grid[front.h0 + i, front.w0 - i * front.dw] for i in range(front.count)]
        assert pixels.tolist() == [int(p) for p in expected]
        assert all(w + 2 * h == front.t for h, w in (divmod(int(p), 6) for p in pixels))
    assert Front(0, 0, 0).pixel == (0, 0)
