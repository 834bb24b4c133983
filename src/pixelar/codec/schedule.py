"""The decoder's work and what bounds it: the work of each coding step, the budget a payload
buys, and the intermediate checks of a large chunk (format 5; see :mod:`pixelar.codec.format`).

Work is counted in *units* of about a microsecond of one CPU thread (measured on the family's
small models: ``benchmarks/soak_codec_small.py``): a step costs its stepper's step units plus
its rows' (sub-pixels') units (:func:`costs`). What a fast step costs depends on the model: its
family declares it (:attr:`~pixelar.models.base.AutoregressiveModel.step_work`, from 512 units a
step for a PixelCNN to 2,048 and 128 a row for a PixelCNN++), and a row costs a unit more per
:data:`LEVELS_PER_UNIT` levels (its probabilities). Encoder and decoder count the same steps
with the same model, so they agree exactly.

* The budget: decoding a payload of b bytes may take at most ``FREE + RATE·b`` units
  (:func:`budget`). The decoder refuses a file whose sub-pixels alone exceed it (before any
  model work, :func:`least_work`) and stops once its work passes it; the encoder appends zero
  bytes (which the decoder reads anyway) to a payload too short for its work (:func:`padding`).
  So a file of a few bytes never buys more than about FREE + RATE·b units, whatever it declares:
  under 64 bytes, well under a second for every family.
* The intermediate checks (format 5): in a chunk of at least :data:`LARGE` sub-pixels, after the
  step whose work first reaches E, 2E, 4E, … units, where E = C·W·(n·row units + step units) is
  the work of one row of the chunk's n images coded a step per sub-pixel, one 16-bit check of
  everything coded in the chunk so far — a corrupted stream is noticed after about one row's
  work, or twice the work before the damage.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel

STEP = 256  # units a naive step costs besides its rows
LEVELS_PER_UNIT = 64  # a fast stepper's row costs a unit more per this many levels (its probabilities)
NAIVE_PIXEL = 2  # the naive stepper's row costs this many units per pixel of its image (a full pass)
PORTABLE_ROW, PORTABLE_STEP = 8, 1024  # units of a row and of a step of the integer network
FREE = 2**17  # units of work any file may take
RATE = 2**12  # units of work each payload byte buys
LARGE = 2**16  # sub-pixels of a chunk from which it carries intermediate checks (format 5)
FIRST_CHECKED = 5  # the first format with intermediate checks


def fast_work(model: AutoregressiveModel) -> tuple[int, int]:
    """(units per row, units per step) of the model's fast stepper: its family's
    :attr:`~pixelar.models.base.AutoregressiveModel.step_work`, each row ⌈K / LEVELS_PER_UNIT⌉
    units more for the probabilities of its K levels."""
    row, step = model.step_work
    return row + -(-model.num_levels // LEVELS_PER_UNIT), step


def costs(method: str, size: tuple[int, int], fast: tuple[int, int]) -> tuple[int, int]:
    """(units per row, units per step) of coding images of this size with ``method``: ``fast``
    (:func:`fast_work`) for the model's fast stepper; (NAIVE_PIXEL·H·W, STEP) for the naive
    one, which runs the network over the whole image for every step; (PORTABLE_ROW,
    PORTABLE_STEP) for the integer network."""
    height, width = size
    if method == "naive":
        return NAIVE_PIXEL * height * width, STEP
    if method == "portable":
        return PORTABLE_ROW, PORTABLE_STEP
    return fast


def least_work(sizes: list[tuple[int, int]], channels: int, method: str, fast: tuple[int, int]) -> int:
    """The fewest units decoding these images can take: their sub-pixels' rows (the steps add more)."""
    return sum(channels * h * w * costs(method, (h, w), fast)[0] for h, w in sizes)


def budget(payload_bytes: int) -> int:
    """The most units of work decoding a payload of this many bytes may take."""
    return FREE + RATE * payload_bytes


def padding(work: int, payload_bytes: int) -> int:
    """The zero bytes to append to a payload so that it carries ``work`` units."""
    return max(0, -(-(work - FREE) // RATE) - payload_bytes)


class ChunkWork:
    """The work of coding one chunk, step by step, and its intermediate checks.

    ``step(symbols)`` adds a step's work (and its symbols to the running digest) and returns
    the check symbols now due (none for a chunk without intermediate checks)."""

    def __init__(
        self,
        version: int,
        count: int,
        shape: tuple[int, int, int],
        method: str,
        fast: tuple[int, int],
        prefix: bytes,
        labels: list[int] | None,
    ) -> None:
        """``count`` images of ``shape`` (C, H, W) coded by ``method`` (``fast``: the model's
        :attr:`~pixelar.models.base.AutoregressiveModel.step_work`) in a file of format
        ``version``; ``prefix`` is the header bytes and the model's full fingerprint."""
        channels, height, width = shape
        self.weight, self.step_cost = costs(method, (height, width), fast)
        self.work = 0
        self.checked = version >= FIRST_CHECKED and count * channels * height * width >= LARGE
        self.next = channels * width * (count * self.weight + self.step_cost)  # E: see the module docstring
        self.index = 0
        self.digest = hashlib.sha256(prefix)
        if labels is not None:
            self.digest.update(np.asarray(labels, dtype="<u4").tobytes())

    def step(self, symbols: np.ndarray) -> list[int]:
        """Count a step that coded ``symbols`` (in the coder's order); the checks now due."""
        self.work += len(symbols) * self.weight + self.step_cost
        if not self.checked:
            return []
        self.digest.update(np.asarray(symbols, dtype="<i8").tobytes())
        due = []
        while self.next <= self.work:
            check = self.digest.copy()
            check.update(self.index.to_bytes(4, "little"))
            due.append(int.from_bytes(check.digest()[:2], "little"))
            self.index += 1
            self.next *= 2
        return due
