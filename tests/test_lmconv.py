"""The locally masked PixelCNN (pixelar.models.lmconv) in any order: the properties every model
has in raster order — causality, colour masks, exact normalisation, fast == naive sampling —
hold in every order; in raster order it is PixelCNN; order-agnostic training draws the orders."""

from __future__ import annotations

import itertools

import pytest
import torch

import pixelar
from helpers import tiny
from pixelar import PixelarError
from pixelar.causality import dependency_matrix, violations
from pixelar.layers.local import LocallyMaskedConv2d, LocalMask
from pixelar.orders import make_order
from pixelar.sampling import sample

ORDERS = ["raster", "snake", "column-br", "hilbert", "random-5", [5, 0, 8, 1, 7, 2, 6, 3, 4]]
IDS = ["raster", "snake", "column-br", "hilbert", "random", "custom"]


@pytest.mark.parametrize("order", ORDERS, ids=IDS)
@pytest.mark.parametrize("train_mode", [False, True], ids=["eval", "train"])
def test_causal_in_the_given_order(order, train_mode):
    """Changing sub-pixel j never changes a conditional before j in that order, and the
    conditionals do read their past (so the check has power)."""
    for shape, levels, classes in (((3, 3, 3), 4, 0), ((1, 3, 3), 2, 2)):
        model = tiny("lmconv", shape, levels, num_classes=classes)
        x = torch.randint(0, levels, shape, generator=torch.Generator().manual_seed(1))
        with model.in_order(order):
            dep = dependency_matrix(model, x, torch.tensor([1]) if classes else None, train_mode=train_mode)
            index = model.generation_order()
        assert torch.equal(index, make_order(order, 3, 3).generation_index(shape[0]))
        assert len(violations(dep)) == 0, violations(dep)[:5].tolist()
        assert dep.sum() > dep.shape[0]


@pytest.mark.parametrize("order", ["snake-tr", "hilbert"])
def test_colour_channels_are_masked_r_g_b_within_a_pixel_in_any_order(order):
    model = tiny("lmconv", (3, 3, 3), 4)
    dep = torch.zeros(27, 27, dtype=torch.bool)
    with model.in_order(order):
        for seed in range(3):
            x = torch.randint(0, 4, (3, 3, 3), generator=torch.Generator().manual_seed(seed))
            dep |= dependency_matrix(model, x, seed=seed)
        index = model.generation_order()
    for h, w in itertools.product(range(3), range(3)):
        r, g, b = (int(index[c, h, w]) for c in range(3))
        assert dep[g, r] and dep[b, r] and dep[b, g]
        assert not dep[r, g] and not dep[r, b] and not dep[g, b] and not dep[r, r]


@pytest.mark.parametrize("order", ORDERS, ids=IDS)
def test_every_order_is_normalised_over_all_images(order):
    model = tiny("lmconv", (1, 3, 3), 2, seed=2)
    bits = (torch.arange(2**9)[:, None] >> torch.arange(9)) & 1
    with torch.no_grad():
        logp = model.log_prob(bits.reshape(-1, 1, 3, 3), order=order)
    assert abs(torch.logsumexp(logp, 0).exp().item() - 1.0) < 1e-9
    colour = tiny("lmconv", (3, 1, 3), 2, seed=3, num_classes=2)
    images = ((torch.arange(2**9)[:, None] >> torch.arange(9)) & 1).reshape(-1, 3, 1, 3)
    row_order = order if order in ("raster", "random-5") else "raster-tr"  # 1×3 images: a 3-pixel order
    with torch.no_grad():
        logp = colour.log_prob(images, cond=torch.ones(len(images), dtype=torch.long), order=row_order)
    assert abs(torch.logsumexp(logp, 0).exp().item() - 1.0) < 1e-9


def test_orders_give_different_distributions_of_one_network():
    model = tiny("lmconv", (1, 3, 3), 2, seed=2)
    x = torch.randint(0, 2, (4, 1, 3, 3))
    assert not torch.allclose(model.log_prob(x, order="raster"), model.log_prob(x, order="snake"))


@pytest.mark.parametrize("order", ORDERS, ids=IDS)
def test_fast_sampling_equals_naive_in_every_order(order):
    model = tiny("lmconv", (3, 3, 3), 4, seed=11, num_classes=2)
    cond = torch.tensor([0, 1, 1])
    naive = model.sample(3, cond=cond, generator=5, method="naive", order=order)
    fast = model.sample(3, cond=cond, generator=5, method="fast", order=order)
    assert torch.equal(naive, fast)
    assert not torch.equal(fast, model.sample(3, cond=cond, generator=6, order=order))
    # completion: known sub-pixels anywhere, different in each image
    g = torch.Generator().manual_seed(4)
    x = torch.randint(0, 4, (3, 3, 3, 3), generator=g)
    known = torch.rand(3, 3, 3, 3, generator=g) < 0.5
    a = sample(model, 3, cond=cond, x=x, known=known, generator=2, method="naive", order=order)
    b = sample(model, 3, cond=cond, x=x, known=known, generator=2, method="fast", order=order)
    assert torch.equal(a, b) and torch.equal(a[known], x[known])


def test_sampling_in_an_order_follows_that_order():
    """The loop visits the pixels in the order: an observer sees pixel after pixel of it."""
    model = tiny("lmconv", (1, 3, 4), 2)
    seen = []
    sample(model, 2, generator=0, order="column-snake", observe=lambda x, c, front: seen.append(front.pixel))
    assert seen == make_order("column-snake", 3, 4).coordinates()


def test_raster_order_is_pixelcnn():
    """PixelCNN's weights in the locally masked model: the same conditionals in raster order
    (and the same dependencies), other ones in any other order."""
    pixelcnn = tiny("pixelcnn", (3, 4, 5), 4, seed=7, num_classes=2)
    lmconv = pixelar.create_model("lmconv", image_shape=(3, 4, 5), num_levels=4, num_classes=2).double().eval()
    lmconv.load_state_dict(pixelcnn.state_dict())
    x = torch.randint(0, 4, (3, 3, 4, 5))
    cond = torch.tensor([0, 1, 0])
    torch.testing.assert_close(lmconv(x, cond), pixelcnn(x, cond), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(lmconv(x, cond, order="snake"), pixelcnn(x, cond))
    one = x[0]
    assert torch.equal(dependency_matrix(lmconv, one, cond[:1]), dependency_matrix(pixelcnn, one, cond[:1]))


def test_one_order_per_image():
    model = tiny("lmconv", (1, 3, 3), 3)
    x = torch.randint(0, 3, (3, 1, 3, 3))
    orders = ["snake", "hilbert", "raster"]
    together = model.log_prob(x, order=orders)
    apart = torch.cat([model.log_prob(x[i : i + 1], order=o) for i, o in enumerate(orders)])
    torch.testing.assert_close(together, apart)
    perms = torch.stack([make_order(o, 3, 3).pixels for o in orders])
    torch.testing.assert_close(model.log_prob(x, order=perms), apart)
    with pytest.raises(PixelarError, match="one order per image: got 2 orders for 3 images"):
        model.log_prob(x, order=orders[:2])


def test_order_agnostic_training_draws_an_order_per_forward_pass():
    model = tiny("lmconv", (1, 3, 3), 2, orders=("snake", "hilbert")).train()
    assert model.default_order == "snake" and model.pixel_order().name == "snake"
    x = torch.randint(0, 2, (4, 1, 3, 3))
    by_order = {o: model.network(model.scale(x), None, make_order(o, 3, 3).ranks[None]) for o in ("snake", "hilbert")}
    drawn = set()
    for seed in range(12):
        torch.manual_seed(seed)
        params = model.network(model.scale(x), None)
        drawn |= {o for o, p in by_order.items() if torch.equal(params, p)}
    assert drawn == {"snake", "hilbert"}
    with model.in_order("raster"):  # an order set explicitly is not drawn
        torch.testing.assert_close(model.network(model.scale(x), None), model(x, order="raster"))
    torch.testing.assert_close(model.eval()(x), by_order["snake"])  # eval: the first order


def test_in_order_is_restored_and_checked_first():
    model = tiny("lmconv", (1, 3, 3), 2)
    with model.in_order("snake"):
        assert model.pixel_order().name == "snake"
    assert model.pixel_order().name == "raster"
    with pytest.raises(PixelarError, match="unknown order"), model.in_order("spiral"):
        pass
    assert model.pixel_order().name == "raster"


def test_the_orders_are_saved_with_the_model(tmp_path):
    model = tiny("lmconv", (1, 3, 3), 2, orders="snake,raster-br,random-2").float()
    assert model.config.orders == ("snake", "raster-br", "random-2")
    loaded = pixelar.load(model.save_pretrained(tmp_path / "m"))
    assert loaded.config.orders == model.config.orders and loaded.pixel_order().name == "snake"
    x = torch.randint(0, 2, (2, 1, 3, 3))
    torch.testing.assert_close(loaded.log_prob(x), model.log_prob(x))
    for bad, message in ((["zigzag"], "unknown order"), ([], "list of order names"), ("raster,", "empty")):
        with pytest.raises(PixelarError, match=message):
            pixelar.create_model("lmconv", image_shape=(1, 3, 3), num_levels=2, orders=bad)


@pytest.mark.parametrize("name", ["pixelcnn", "multiscale-pixelrnn"])
def test_raster_only_models_refuse_other_orders_in_one_line(name):
    model = tiny(name, (1, 4, 4), 2)
    x = torch.randint(0, 2, (2, 1, 4, 4))
    torch.testing.assert_close(model.log_prob(x, order="raster"), model.log_prob(x))
    for call in (
        lambda: model.log_prob(x, order="snake"),
        lambda: model.sample(1, order="hilbert"),
        lambda: model.in_order([1, 0, *range(2, 16)]).__enter__(),
    ):
        with pytest.raises(PixelarError, match="generates in raster order only") as info:
            call()
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("kernel", [3, 7])
def test_a_layer_with_few_masks_runs_as_ordinary_convolutions_and_computes_the_same(kernel):
    """Raster order has one mask per kernel size, the S-curves two (the image's edges read the
    padding, whatever the mask): the layer is then that many ordinary convolutions, the same
    function as masking the unfolded patches one position at a time."""
    torch.manual_seed(0)
    conv = LocallyMaskedConv2d(3, 6, kernel, "A", 3).double()
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    counts = {"raster": 1, "column-br": 1, "snake": 2, "column-snake-tr": 2}
    per_image = torch.stack([make_order(o, 5, 6).ranks for o in ("snake", "raster")])
    for ranks in [make_order(o, 5, 6).ranks[None] for o in [*counts, "hilbert"]] + [per_image]:
        mask = LocalMask.of(ranks, kernel)
        unfolded = conv(x, LocalMask(mask.taps))
        if mask.patterns is not None:
            torch.testing.assert_close(conv(x, mask), unfolded, rtol=1e-12, atol=1e-12)
    for name, count in counts.items():
        mask = LocalMask.of(make_order(name, 5, 6).ranks[None], kernel)
        assert mask.patterns is not None and len(mask.patterns) == count, name
        assert mask.where is not None and torch.equal(mask.where.sum(1), torch.ones(1, 5, 6))
    assert LocalMask.of(make_order("random-2", 5, 6).ranks[None], kernel).patterns is None


def test_the_codec_codes_in_the_models_order_and_a_file_decodes_in_its_own_order_only():
    model = tiny("lmconv", (1, 4, 4), 2, orders=("hilbert",)).float()
    x = torch.randint(0, 2, (2, 1, 4, 4))
    data = pixelar.encode(model, x)
    assert torch.equal(pixelar.decode(model, data), x)
    with model.in_order("snake"):
        snake = pixelar.encode(model, x)
        assert torch.equal(pixelar.decode(model, snake), x)
    assert len(snake) > 0 and snake != data
    with pytest.raises(PixelarError, match="model"):
        pixelar.decode(model, snake)
