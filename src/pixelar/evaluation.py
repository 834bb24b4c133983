"""Exact test likelihood over a whole dataset split: in the model's order (:func:`evaluate`),
and in several orders at once with their ensemble (:func:`evaluate_orders`).

One network that generates in any order defines one distribution p_k per order k; their
uniform mixture p(x) = (1/K) Σ_k p_k(x) is a distribution too (each p_k sums to one), so its
likelihood — the log-mean-exp of the K log-likelihoods — is exact, and by Jensen never worse
than the mean of theirs. Jain, Abbeel & Pathak (UAI 2020) report 2.89 bits/dim on CIFAR-10
(unconditional) for such an ensemble of orders of one locally masked PixelCNN++.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pixelar.distributed import Context, all_sum, shard_range
from pixelar.errors import PixelarError
from pixelar.metrics import NLL
from pixelar.orders import ORDER_NAMES, OrderSpec

if TYPE_CHECKING:
    from pixelar.data.base import ImageDataset
    from pixelar.models.base import AutoregressiveModel

# The eight S-curves (the snake from each corner, by rows and by columns): the paper's ensemble.
S_CURVES = tuple(f"{curve}{corner}" for curve in ("snake", "column-snake") for corner in ("", "-br", "-tr", "-bl"))


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
    (nll,) = _nll_sums(model, dataset, lambda x, cond: model.log_prob(x, cond)[None], 1, batch_size, progress, ctx)
    return nll


def log_probs(
    model: AutoregressiveModel,
    images: Tensor,
    cond: Tensor | None = None,
    batch_size: int = 256,
    progress: bool = False,
) -> Tensor:
    """The exact log-likelihood in nats of each image [N] (float64) of ``images`` [N, C, H, W],
    the model in eval mode. ``cond``: the labels of a class-conditional model; without them a
    class-conditional model gives the marginal log p(x) = log (1/K) Σ_y p(x | y) over its K
    classes (uniform, K times the work)."""
    if batch_size < 1:
        raise PixelarError(f"batch_size must be >= 1, got {batch_size}", param="batch_size")
    classes = model.num_classes if cond is None else 0
    model.check_input(images, cond if not classes else torch.zeros(len(images), dtype=torch.long))
    out = torch.empty(len(images), dtype=torch.float64)
    with model.in_mode(training=False), torch.inference_mode():
        starts = range(0, len(images), batch_size)
        for start in tqdm(starts, desc="scoring", unit="batch", disable=not progress, leave=False):
            x = images[start : start + batch_size].to(model.device)
            if classes:
                each = [model.log_prob(x, torch.full((len(x),), y, device=x.device)) for y in range(classes)]
                logp = torch.stack(each).double().logsumexp(0) - math.log(classes)
            else:
                logp = model.log_prob(x, None if cond is None else cond[start : start + batch_size].to(model.device))
            out[start : start + len(x)] = logp.double().cpu()
    return out


@dataclass(frozen=True)
class OrderEnsemble:
    """The NLL of one network in each of ``orders`` (``per_order``) and of their uniform mixture
    (``ensemble``), over the same images."""

    orders: list[str]
    per_order: list[NLL]
    ensemble: NLL

    def as_dict(self) -> dict[str, object]:
        return {
            "orders": {name: nll.as_dict() for name, nll in zip(self.orders, self.per_order)},
            "ensemble": self.ensemble.as_dict(),
        }


def ensemble_orders(model: AutoregressiveModel, count: int) -> list[str]:
    """``count`` distinct order names for an ensemble: the model's default order, then the
    other orders it was trained over, the eight S-curves (:data:`S_CURVES`), the other named
    orders, and random-1, random-2, … as needed. A raster-only model has one."""
    if count < 1:
        raise PixelarError(f"an ensemble needs at least one order, got {count}")
    if count > 1 and not model.any_order:
        raise PixelarError(
            f"an ensemble of {count} orders needs a model that generates in any order (lmconv); "
            f"{model.model_name} generates in raster order only"
        )
    trained = getattr(model.config, "orders", ())
    names = list(dict.fromkeys([model.default_order, *trained, *S_CURVES, *ORDER_NAMES[:-1]]))
    seed = 1
    while len(names) < count:
        names += [f"random-{seed}"] if f"random-{seed}" not in names else []
        seed += 1
    return names[:count]


def ensemble_log_prob(
    model: AutoregressiveModel, x: Tensor, orders: Sequence[OrderSpec], cond: Tensor | None = None
) -> Tensor:
    """log (1/K) Σ_k p_k(x) [B] in nats: the exact log-likelihood of the uniform mixture of the
    model in each of the K ``orders``."""
    logp = torch.stack([model.log_prob(x, cond, order=order) for order in orders])
    return logp.logsumexp(0) - math.log(len(orders))


def evaluate_orders(
    model: AutoregressiveModel,
    dataset: ImageDataset,
    orders: Sequence[str],
    batch_size: int = 256,
    progress: bool = False,
    ctx: Context | None = None,
) -> OrderEnsemble:
    """:func:`evaluate` in each of ``orders`` (names; see :func:`ensemble_orders`), and the NLL
    of their ensemble: the mixture's exact log-likelihood, log-mean-exp over the orders."""
    for order in orders:
        model.pixel_order(order)  # every order checked before any work

    def score(x: Tensor, cond: Tensor | None) -> Tensor:
        logp = torch.stack([model.log_prob(x, cond, order=order) for order in orders])
        return torch.cat([logp, (logp.logsumexp(0) - math.log(len(orders)))[None]])

    *per_order, ensemble = _nll_sums(model, dataset, score, len(orders) + 1, batch_size, progress, ctx)
    return OrderEnsemble(list(orders), per_order, ensemble)


def _nll_sums(
    model: AutoregressiveModel,
    dataset: ImageDataset,
    score: Callable[[Tensor, Tensor | None], Tensor],
    rows: int,
    batch_size: int,
    progress: bool,
    ctx: Context | None,
) -> list[NLL]:
    """The mean of each of the ``rows`` log-likelihoods ``score(x, cond)`` gives [rows, B], as
    NLLs over every image of the split (every rank its part, reduced)."""
    dataset.check_compatible(model.image_shape, model.num_levels)
    if model.num_classes and dataset.labels is None:
        raise PixelarError(f"the model is class-conditional but dataset {dataset.name} has no labels")
    ctx = ctx or Context()
    totals = [0.0] * rows
    first, stop = shard_range(len(dataset), ctx)
    labels = dataset.labels if model.num_classes else None
    with model.in_mode(training=False), torch.inference_mode():
        batches = range(first, stop, batch_size)
        for start in tqdm(batches, desc="evaluating", unit="batch", disable=not progress, leave=False):
            end = min(start + batch_size, stop)
            x = dataset.images[start:end].to(model.device)
            cond = None if labels is None else labels[start:end].to(model.device)
            sums = (-score(x, cond).double().sum(1)).tolist()
            totals = [total + value for total, value in zip(totals, sums)]
    *totals, count = all_sum([*totals, float(stop - first)], ctx)
    return [NLL(total / count, model.image_shape, int(count)) for total in totals]
