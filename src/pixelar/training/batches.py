"""What each training step sees: its images, in a seeded order that is a pure function of
(seed, step), this process's part of them, and the seed of its random numbers."""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor

from pixelar import distributed
from pixelar.data import ImageDataset


def epoch_permutation(num_images: int, seed: int, epoch: int) -> torch.Tensor:
    """The seeded order of the training images in ``epoch``."""
    return torch.randperm(num_images, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def batch_indices(num_images: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """Indices of the training images of ``step``: a fresh seeded permutation every epoch."""
    per_epoch = max(1, num_images // batch_size)
    epoch, batch = divmod(step, per_epoch)
    return epoch_permutation(num_images, seed, epoch)[batch * batch_size : (batch + 1) * batch_size]


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """The seed of the random numbers (dropout) that process ``rank`` draws at ``step``: a pure
    function of the three, so a resumed run, on any number of processes, draws what an
    uninterrupted one would."""
    digest = hashlib.blake2b(f"{seed}/{step}/{rank}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class StepBatches(torch.utils.data.Dataset[tuple[Tensor, Tensor | None]]):
    """Item ``step``: this process's part of the images (and labels) of that training step;
    read by a :class:`torch.utils.data.DataLoader` (workers, prefetch, pinned memory).

    The images are those of the step's epoch (:meth:`pixelar.data.ImageDataset.epoch_images`):
    a dynamically binarized dataset is drawn afresh every epoch, from the seed and the epoch."""

    def __init__(self, data: ImageDataset, batch_size: int, seed: int, ctx: distributed.Context, labels: bool) -> None:
        self.data = data
        self.labels = data.labels if labels else None
        self.batch_size, self.seed, self.ctx = batch_size, seed, ctx
        self._epoch: tuple[int, Tensor, Tensor] | None = None  # (epoch, permutation, images)

    def __len__(self) -> int:
        return 2**62  # any step; the sampler says which

    def _drawn(self, step: int) -> tuple[int, Tensor, Tensor]:
        """(batch within the epoch, the epoch's permutation, the epoch's images) of ``step``,
        each epoch's drawn once."""
        per_epoch = max(1, len(self.data) // self.batch_size)
        epoch, batch = divmod(step, per_epoch)
        if self._epoch is None or self._epoch[0] != epoch:
            order = epoch_permutation(len(self.data), self.seed, epoch)
            self._epoch = (epoch, order, self.data.epoch_images(self.seed, epoch))
        return batch, self._epoch[1], self._epoch[2]

    def indices(self, step: int) -> Tensor:
        """This process's part of ``batch_indices(len(images), batch_size, seed, step)``, in
        ascending order (reads of a memory-mapped file in file order; the loss is a sum)."""
        batch, order, _ = self._drawn(step)
        part = order[batch * self.batch_size : (batch + 1) * self.batch_size]
        return distributed.shard(part, self.ctx).sort().values

    def __getitem__(self, step: int) -> tuple[Tensor, Tensor | None]:
        idx = self.indices(step)
        images = self._drawn(step)[2]
        return images[idx], None if self.labels is None else self.labels[idx]
