"""Likelihoods over several orders (pixelar.evaluation): the ensemble is the exact likelihood of
the mixture of the orders — it sums to one — and evaluate_orders reports it with each order's."""

from __future__ import annotations

import pytest
import torch

from helpers import tiny
from pixelar import PixelarError
from pixelar.data.base import ImageDataset
from pixelar.evaluation import S_CURVES, ensemble_log_prob, ensemble_orders, evaluate, evaluate_orders


def test_the_ensemble_of_orders_is_normalised():
    model = tiny("lmconv", (1, 3, 3), 2, seed=4)
    images = ((torch.arange(2**9)[:, None] >> torch.arange(9)) & 1).reshape(-1, 1, 3, 3)
    with torch.no_grad():
        logp = ensemble_log_prob(model, images, ["raster", "snake-br", "hilbert"])
    assert abs(torch.logsumexp(logp, 0).exp().item() - 1.0) < 1e-9


def test_evaluate_orders_gives_each_order_and_their_mixture():
    model = tiny("lmconv", (1, 4, 4), 2, seed=5, orders=("snake", "raster"))
    images = torch.randint(0, 2, (7, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    data = ImageDataset(images.to(torch.uint8), None, 2, "random")
    orders = ensemble_orders(model, 3)
    assert orders == ["snake", "raster", S_CURVES[1]]
    result = evaluate_orders(model, data, orders, batch_size=3)
    assert result.orders == orders and result.ensemble.count == 7
    with model.in_order("raster"):
        assert result.per_order[1].nats_per_image == pytest.approx(evaluate(model, data).nats_per_image, rel=1e-12)
    with torch.no_grad():
        mixture = ensemble_log_prob(model, images, orders)
        per_order = torch.stack([model.log_prob(images, order=o) for o in orders])
    assert result.ensemble.nats_per_image == pytest.approx(-float(mixture.mean()), rel=1e-12)
    # the mixture's log-likelihood is never below the mean of the orders' (Jensen), nor below the worst
    assert (mixture >= per_order.mean(0) - 1e-12).all() and (mixture >= per_order.min(0).values).all()
    assert set(result.as_dict()["orders"]) == set(orders)


def test_ensemble_orders_start_with_the_models_own_and_never_repeat():
    model = tiny("lmconv", (1, 4, 4), 2, orders=("hilbert", "snake"))
    names = ensemble_orders(model, 30)
    assert names[:3] == ["hilbert", "snake", "snake-br"] and len(set(names)) == 30
    assert names[-1].startswith("random-")
    assert ensemble_orders(tiny("pixelcnn", (1, 4, 4), 2), 1) == ["raster"]
    with pytest.raises(PixelarError, match="needs a model that generates in any order"):
        ensemble_orders(tiny("pixelcnn", (1, 4, 4), 2), 2)
    with pytest.raises(PixelarError, match="at least one order"):
        ensemble_orders(model, 0)
    assert len(S_CURVES) == 8
