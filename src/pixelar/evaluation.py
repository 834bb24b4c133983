"""Exact test likelihood over a whole dataset split."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from pixelar.distributed import Context, all_sum, shard_range
from pixelar.metrics import NLL

if TYPE_CHECKING:
    from pixelar.data.base import ImageDataset
    from pixelar.models.base import AutoregressiveModel


def evaluate(
    model: AutoregressiveModel,
    dataset: ImageDataset,
    batch_size: int = 256,
    progress: bool = False,
    ctx: Context | None = None,
) -> NLL:
    """Mean negative log-likelihood over every image of ``dataset`` (last partial batch included).

    The model runs in eval mode; labels are passed when the model is class-conditional. Under
    ``torchrun`` (``ctx`` from :func:`pixelar.distributed.init`) every rank scores its contiguous
    part of the images and the sums are reduced: each image counted exactly once.
    """
    dataset.check_compatible(model.image_shape, model.num_levels)
    if model.num_classes and dataset.labels is None:
        from pixelar.errors import PixelarError

        raise PixelarError(f"the model is class-conditional but dataset {dataset.name} has no labels")
    ctx = ctx or Context()
    total = 0.0
    first, stop = shard_range(len(dataset), ctx)
    labels = dataset.labels if model.num_classes else None
    with model.in_mode(training=False), torch.inference_mode():
        batches = range(first, stop, batch_size)
        for start in tqdm(batches, desc="evaluating", unit="batch", disable=not progress, leave=False):
            end = min(start + batch_size, stop)
            x = dataset.images[start:end].to(model.device)
            cond = None if labels is None else labels[start:end].to(model.device)
            total += float(-model.log_prob(x, cond).double().sum())
    total, count = all_sum([total, float(stop - first)], ctx)
    return NLL(total / count, model.image_shape, int(count))
