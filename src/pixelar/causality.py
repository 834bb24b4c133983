"""Which sub-pixels each conditional depends on, measured by perturbation.

Shared by the tests (the autoregressive property, blind spots) and by tools that draw
receptive fields. Sub-pixels are numbered in generation order: (c, h, w) -> (h·W + w)·C + c.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


def perturbation_effects(
    model: AutoregressiveModel,
    x: Tensor,
    cond: Tensor | None = None,
    train_mode: bool = False,
    seed: int = 0,
    targets: Tensor | None = None,
    batch_size: int | None = None,
    progress: bool = False,
) -> Tensor:
    """effect[i, j] >= 0: how much the conditional table of sub-pixel i changes when sub-pixel j
    changes — the largest |Δ log p| over its K levels (0: no dependence; NaN differences, from
    levels of probability 0 on both sides, count as no change).

    Indices are the model's generation indices (:meth:`AutoregressiveModel.generation_order`).
    ``x`` is one image [C, H, W]; every sub-pixel j is changed in turn to another value (drawn
    from ``seed``). In train mode (dropout active) the base and perturbed batches run with the
    same seed, so each image sees the same dropout masks in both. ``targets`` (generation
    indices) keeps only those conditionals' rows; ``batch_size`` runs the D perturbed images
    that many at a time (memory), ``progress`` shows a bar over the batches.
    Returns a float64 tensor [D, D] (or [len(targets), D]) on the CPU, D = C·H·W.
    """
    C, H, W = model.image_shape
    D = C * H * W
    K = model.num_levels
    order = model.generation_order().to(x.device)
    flat_x = x.reshape(-1).long()
    pos = torch.empty(D, dtype=torch.long)
    pos[order.flatten().cpu()] = torch.arange(D)  # generation index -> flat (c, h, w) position
    shift = 1 + torch.randint(0, K - 1, (D,), generator=torch.Generator().manual_seed(seed))
    values = (flat_x[pos.to(x.device)] + shift.to(x.device)) % K  # the new value of each perturbed sub-pixel
    rows = order.flatten() if targets is None else pos.to(x.device)[targets.to(x.device).long()]
    effects = torch.zeros(len(rows), D, dtype=torch.float64)
    step = D if batch_size is None else max(1, batch_size)
    starts = range(0, D, step)
    with model.in_mode(training=train_mode), torch.no_grad():
        for start in tqdm(starts, desc="perturbing", unit="batch", disable=not progress, leave=False):
            js = torch.arange(start, min(D, start + step))
            base = flat_x.unsqueeze(0).repeat(len(js), 1)
            perturbed = base.clone()
            perturbed[torch.arange(len(js)), pos[js].to(x.device)] = values[js.to(x.device)]
            conds = None if cond is None else cond.reshape(1).expand(len(js))
            torch.manual_seed(seed)
            a = model.conditionals(base.view(-1, C, H, W), conds)
            torch.manual_seed(seed)
            b = model.conditionals(perturbed.view(-1, C, H, W), conds)
            change = (a - b).abs().nan_to_num(nan=0.0).amax(dim=2).flatten(1)  # [len(js), D] by flat position
            if targets is None:
                effects[:, js] = change.T.double().cpu()  # rows by flat position, reordered below
            else:
                effects[:, js] = change[:, rows].T.double().cpu()
    if targets is None:  # rows: generation index i of the conditional
        by_index = torch.empty_like(effects)
        by_index[order.flatten().cpu()] = effects
        return by_index
    return effects


def dependency_matrix(
    model: AutoregressiveModel,
    x: Tensor,
    cond: Tensor | None = None,
    train_mode: bool = False,
    atol: float = 0.0,
    seed: int = 0,
    batch_size: int | None = None,
) -> Tensor:
    """dep[i, j] = True when the conditional table of sub-pixel i changes if sub-pixel j changes
    (by more than ``atol``): :func:`perturbation_effects` thresholded.

    Indices are the model's generation indices (:meth:`AutoregressiveModel.generation_order`).
    ``x`` is one image [C, H, W]; every sub-pixel j is changed in turn to another value. In
    train mode (dropout active) the base and perturbed batches run with the same seed, so each
    image sees the same dropout masks in both. Returns a bool tensor [D, D] with D = C·H·W.
    """
    return perturbation_effects(model, x, cond, train_mode, seed, batch_size=batch_size) > atol


def violations(dep: Tensor) -> Tensor:
    """Pairs (i, j) with j >= i where conditional i depends on sub-pixel j: [n, 2]."""
    return torch.triu(dep).nonzero()


def missing_context(dep: Tensor) -> Tensor:
    """Pairs (i, j) with j < i where conditional i does not depend on sub-pixel j: [n, 2]."""
    return torch.tril(~dep, diagonal=-1).nonzero()


def schedule_violations(dep: Tensor, order: Tensor, steps: Tensor) -> Tensor:
    """Pairs (i, j) where conditional i depends on sub-pixel j but a sampling schedule does not
    generate j in an earlier step than i: [n, 2] (generation indices).

    ``order`` and ``steps`` [C, H, W] give each sub-pixel's generation index and its step in the
    schedule (e.g. :func:`pixelar.sampling.step_index`).
    """
    step_of = torch.empty(order.numel(), dtype=torch.long)
    step_of[order.flatten().cpu()] = steps.flatten().cpu()
    not_before = step_of[None, :] >= step_of[:, None]  # [i, j]: j's step is not before i's
    return (dep & not_before).nonzero()
