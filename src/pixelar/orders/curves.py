"""The built-in pixel orders as curves over an H×W grid, each a permutation of the H·W pixels
(``pixels[t] = h·W + w``, the pixel visited t-th).

The raster scan and the S-curve ("snake", boustrophedon: every other row right to left) of
Jain, Abbeel & Pathak, "Locally Masked Convolution for Autoregressive Models" (UAI 2020; their
code's generation orders), in each of the symmetries they train over (started from another
corner, or transposed: column by column), the Hilbert curve, and seeded random permutations.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Where a curve starts: the corner its first pixel lies in (top-left is the curve itself).
CORNERS = ("tl", "tr", "bl", "br")


def raster(height: int, width: int) -> Tensor:
    """Row by row from the top, each row left to right: pixel t is (t // W, t % W)."""
    return torch.arange(height * width)


def snake(height: int, width: int) -> Tensor:
    """Row by row from the top; even rows left to right, odd rows right to left (the S-curve)."""
    grid = torch.arange(height * width).reshape(height, width)
    grid[1::2] = grid[1::2].flip(1)
    return grid.flatten()


def transposed(curve: Tensor, height: int, width: int) -> Tensor:
    """A curve made for a W×H grid, drawn on the H×W grid with rows and columns swapped: the
    raster curve becomes column by column (each column top to bottom)."""
    rows, cols = curve // height, curve % height  # (row, col) in the W×H grid
    return cols * width + rows


def from_corner(curve: Tensor, height: int, width: int, corner: str) -> Tensor:
    """The curve mirrored so that it starts at ``corner`` (:data:`CORNERS`) instead of the
    top-left one: "tr" mirrors the columns, "bl" the rows, "br" both."""
    rows, cols = curve // width, curve % width
    if corner in ("bl", "br"):
        rows = height - 1 - rows
    if corner in ("tr", "br"):
        cols = width - 1 - cols
    return rows * width + cols


def hilbert_index(rows: Tensor, cols: Tensor, side: int) -> Tensor:
    """The distance along the Hilbert curve of a side×side grid (side a power of two) of each
    pixel (rows, cols): the curve starts at the top-left pixel and ends at the top-right one.

    The usual bit-by-bit reading of the coordinates: at each scale s the quadrant (whose
    distance offset is s²·{0, 1, 2, 3}) and the rotation of the quarter-curve inside it;
    vectorised over every pixel at once."""
    x, y = cols.clone(), rows.clone()
    distance = torch.zeros_like(x)
    s = side // 2
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        distance += s * s * ((3 * rx.long()) ^ ry.long())
        flip = ~ry & rx  # the lower-left quadrants turn: mirror, then swap the axes
        x = torch.where(flip, s - 1 - (x & (s - 1)), x)
        y = torch.where(flip, s - 1 - (y & (s - 1)), y)
        swap = ~ry
        x, y = torch.where(swap, y, x), torch.where(swap, x, y)
        s //= 2
    return distance


def hilbert(height: int, width: int) -> Tensor:
    """The Hilbert curve of the smallest power-of-two square that holds the grid, restricted to
    the grid's pixels (in the curve's order); on a 2ⁿ×2ⁿ image, the Hilbert curve itself, each
    pixel next to the one before it."""
    side = 1
    while side < max(height, width):
        side *= 2
    flat = torch.arange(height * width)
    distance = hilbert_index(flat // width, flat % width, side)
    return flat[distance.argsort()]


def random(height: int, width: int, seed: int) -> Tensor:
    """A uniformly random permutation of the pixels, drawn from ``seed``."""
    return torch.randperm(height * width, generator=torch.Generator().manual_seed(seed))
