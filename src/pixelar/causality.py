"""Which sub-pixels each conditional depends on, measured by perturbation.

Shared by the tests (the autoregressive property, blind spots) and by tools that draw
receptive fields. Sub-pixels are numbered in generation order: (c, h, w) -> (h·W + w)·C + c.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


def generation_order(image_shape: tuple[int, int, int]) -> Tensor:
    """Generation index of every sub-pixel: long tensor [C, H, W]."""
    C, H, W = image_shape
    return torch.arange(C * H * W).reshape(H, W, C).permute(2, 0, 1).contiguous()


def dependency_matrix(
    model: AutoregressiveModel,
    x: Tensor,
    cond: Tensor | None = None,
    train_mode: bool = False,
    atol: float = 0.0,
    seed: int = 0,
) -> Tensor:
    """dep[i, j] = True when the conditional table of sub-pixel i changes if sub-pixel j changes.

    Indices are the model's generation indices (:meth:`AutoregressiveModel.generation_order`). ``x`` is one image [C, H, W]; every sub-pixel j is changed
    in turn to another value. In train mode (dropout active) the base and perturbed batches run
    with the same seed, so each image sees the same dropout masks in both.
    Returns a bool tensor [D, D] with D = C·H·W.
    """
    C, H, W = model.image_shape
    D = C * H * W
    K = model.num_levels
    order = model.generation_order().to(x.device)
    base = x.unsqueeze(0).repeat(D, 1, 1, 1).long()
    perturbed = base.clone()
    flat = perturbed.view(D, -1)
    pos = torch.empty(D, dtype=torch.long)
    pos[order.flatten().cpu()] = torch.arange(D)  # generation index -> flat (c, h, w) position
    rows = torch.arange(D)
    flat[rows, pos] = (
        flat[rows, pos] + 1 + torch.randint(0, K - 1, (D,), generator=torch.Generator().manual_seed(seed)).to(x.device)
    ) % K
    conds = None if cond is None else cond.reshape(1).expand(D)
    with model.in_mode(training=train_mode), torch.no_grad():
        torch.manual_seed(seed)
        a = model.conditionals(base, conds)
        torch.manual_seed(seed)
        b = model.conditionals(perturbed, conds)
    changed = ((a - b).abs() > atol).any(dim=2)  # [D(j), C, H, W]
    dep = torch.zeros(D, D, dtype=torch.bool, device=changed.device)
    dep[order.flatten(), :] = changed.flatten(1).T  # rows: generation index i of the conditional
    return dep.cpu()


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
