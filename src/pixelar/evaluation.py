"""Exact test likelihood over a whole dataset split."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from pixelar.metrics import NLL

if TYPE_CHECKING:
    from pixelar.data.base import ImageDataset
    from pixelar.models.base import AutoregressiveModel


def evaluate(
    model: AutoregressiveModel,
    dataset: ImageDataset,
    batch_size: int = 256,
    progress: bool = False,
) -> NLL:
    """Mean negative log-likelihood over every image of ``dataset`` (last partial batch included).

    The model runs in eval mode; labels are passed when the model is class-conditional.
    """
    dataset.check_compatible(model.image_shape, model.num_levels)
    if model.num_classes and dataset.labels is None:
        from pixelar.errors import PixelarError

        raise PixelarError(f"the model is class-conditional but dataset {dataset.name} has no labels")
    total = 0.0
    count = len(dataset)
    labels = dataset.labels if model.num_classes else None
    with model.in_mode(training=False), torch.inference_mode():
        batches = range(0, count, batch_size)
        for start in tqdm(batches, desc="evaluating", unit="batch", disable=not progress, leave=False):
            x = dataset.images[start : start + batch_size].to(model.device)
            cond = None if labels is None else labels[start : start + batch_size].to(model.device)
            total += float(-model.log_prob(x, cond).double().sum())
    return NLL(total / count, model.image_shape, count)
